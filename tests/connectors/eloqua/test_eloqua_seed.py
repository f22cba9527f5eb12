"""Generated data: deterministic for a seed, varied, consistent across contacts, campaigns and activities."""

import time
from datetime import UTC, datetime

import pyarrow.compute as pc

from leadsync.connectors.eloqua.sandbox.clock import SandboxClock
from leadsync.connectors.eloqua.sandbox.state import EloquaState

NOW = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)


def seeded(n: int, seed: int = 7) -> EloquaState:
    state = EloquaState(SandboxClock(NOW, frozen=True), "Site", [], {})
    state.seed(n, seed)
    return state


def test_the_same_seed_gives_the_same_data():
    a, b, c = seeded(2000), seeded(2000), seeded(2000, seed=8)
    assert a.contacts.table.equals(b.contacts.table)
    assert a.activities.equals(b.activities) and a.campaigns == b.campaigns
    assert not a.contacts.table.equals(c.contacts.table)


def test_contacts_are_varied_and_complete():
    table = seeded(5000).contacts.table
    assert table.column("id").to_pylist() == list(range(1, 5001))
    assert pc.count_distinct(table.column("C_EmailAddress")).as_py() == 5000
    assert set(pc.unique(table.column("C_Country")).to_pylist()) == {"US", "CA", "GB", "DE", "FR"}  # ISO codes
    assert pc.count_distinct(table.column("C_State_Prov")).as_py() > 15
    assert pc.count_distinct(table.column("C_Industry1")).as_py() == 10
    assert pc.count_distinct(table.column("C_Company_Size1")).as_py() == 5
    for name in ("C_FirstName", "C_LastName", "C_Company", "C_City", "C_Zip_Postal", "C_Title", "C_BusPhone"):
        assert table.column(name).null_count == 0, name
    rows = table.to_pylist()
    us = [r for r in rows if r["C_Country"] == "US"]
    assert all(len(r["C_Zip_Postal"]) == 5 and len(r["C_State_Prov"]) == 2 for r in us)
    # the supplier's custom fields: the lead type follows the company size, products are a `;`-joined list
    size_type = {(r["C_Company_Size1"], r["C_Lead_Type1"]) for r in rows}
    assert size_type == {("1-49", "SMB"), ("50-249", "SMB"), ("250-999", "Mid-Market"),
                         ("1000-4999", "Enterprise"), ("5000+", "Enterprise")}
    products = {p for r in rows for p in r["C_Product_Interest1"].split(";")}
    assert products == {"Firewall", "Endpoint", "Cloud Backup", "SD-WAN", "Email Security"}
    assert any(";" in r["C_Product_Interest1"] for r in rows)
    assert all(r["C_DateCreated"] <= r["C_DateModified"] <= NOW.replace(tzinfo=None) for r in rows)
    assert rows[0]["ContactIDExt"] == "CLSYN000000000001"


def test_activities_and_responses_point_at_real_contacts_and_campaigns():
    state = seeded(1000)
    campaign_ids = {c["id"] for c in state.campaigns}
    activities = state.activities.to_pylist()
    assert len(activities) > 1000
    assert {a["type"] for a in activities} >= {"EmailOpen", "EmailClickthrough", "FormSubmit", "WebVisit",
                                               "EmailSend", "Bounceback", "Subscribe", "Unsubscribe"}
    assert all(1 <= a["contact_id"] <= 1000 for a in activities)
    assert all(a["campaign_id"] in campaign_ids for a in activities if a["type"] != "WebVisit")
    assert state.campaign_responses.num_rows > 0


def test_three_hundred_thousand_contacts_seed_in_seconds():
    started = time.perf_counter()
    state = seeded(300_000)
    assert len(state.contacts) == 300_000
    assert time.perf_counter() - started < 10
