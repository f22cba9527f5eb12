"""Channel conflict, hand-computed: the same buyer arriving from two sources, again from one, or registered
by a partner, goes to the partner already working it (`same_partner`) or to review (`review`); the
decision and the earlier lead are in `explain`. DuckDB and Postgres stores."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from leadsync.assign import route_new_leads
from leadsync.config import load_source
from leadsync.config.partners import ConflictPolicy
from leadsync.config.schema import PartnersConfig
from leadsync.lifecycle import tables as lt
from leadsync.routing.explain import explain
from leadsync.store import LeadStore, tables

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PARTNERS = [{"id": p, "name": n, "countries": ["US"]} for p, n in (("a", "Alpha"), ("b", "Bravo"), ("c", "Charlie"))]
COUNTRY = {"name": "country", "rules": [{"field": "country", "op": "in", "partner_attribute": "countries"}]}


def partners(conflict: dict | None = None) -> PartnersConfig:
    return PartnersConfig.model_validate({"partners": PARTNERS, "routing": {
        "rule_groups": [COUNTRY], **({"conflict": conflict} if conflict else {})}})


@pytest.fixture
def sources():
    demo = load_source(REPO / "mappings/sources/sftp_demo.yaml")
    return demo, demo.model_copy(update={"name": "fairs"})


def put(store: LeadStore, source: str, batch: str, records: list[tuple[str, str]], at: datetime) -> list[str]:
    """Leads (email, company) from the US, received at `at`."""
    frame = pd.DataFrame(records, columns=["email", "company"])
    n = len(frame)
    frame["lead_id"] = [f"{source}-{batch}-{i:07d}" for i in range(n)]
    frame["source"], frame["batch_id"], frame["row_number"] = source, batch, range(1, n + 1)
    frame["lead_key"], frame["country"] = frame["lead_id"], "US"
    frame["received_at"] = frame["updated_at"] = at
    with store.begin() as conn:
        store.insert_frame(conn, tables.leads, frame)
    return frame["lead_id"].tolist()


def decisions(store: LeadStore, ids: list[str]) -> list[list]:
    with store.begin() as conn:
        a = tables.assignments
        frame = store.read_frame(conn, sa.select(a.c.lead_id, a.c.status, a.c.partner_id, a.c.step)
                                 .where(a.c.lead_id.in_(ids))).set_index("lead_id")
    return frame.loc[ids, ["status", "partner_id", "step"]].values.tolist()


def test_same_buyer_from_a_second_source_goes_to_the_partner_working_it(store_url, sources):
    demo, fairs = sources
    store = LeadStore(store_url)
    cfg = partners({"match": ["email"], "within_days": 30, "action": "same_partner"})
    first = put(store, "sftp_demo", "b0", [("ann@acme.example", "Acme"), ("bob@initech.example", "Initech")], T0)
    route_new_leads(demo, cfg, store, T0)
    assert decisions(store, first) == [["routed", "a", "rule_group"], ["routed", "b", "rule_group"]]

    later = T0 + timedelta(days=3)
    second = put(store, "fairs", "f0", [(" ANN@acme.example", "Acme Corp"), ("carl@acme.example", "Acme"),
                                        ("bob@initech.example", "Initech")], later)
    route_new_leads(fairs, cfg, store, later)
    # Ann (email matched, case and spaces ignored) → Alpha; Carl is another person → round robin (the
    # source's own cycle, slot 1: Alpha); Bob → Bravo
    assert decisions(store, second) == [["routed", "a", "conflict"], ["routed", "a", "rule_group"],
                                        ["routed", "b", "conflict"]]
    text = explain(store, second[0])
    assert "decided by: channel conflict" in text
    assert f"earlier lead {first[0]} (source 'sftp_demo', received 2026-11-02), held by Alpha" in text
    assert "partner already working this buyer (1): a" in text


def test_again_from_the_same_source_outside_the_window_routes_as_usual(store_url, sources):
    demo, _ = sources
    store = LeadStore(store_url)
    cfg = partners({"match": ["email"], "within_days": 30, "action": "same_partner"})
    put(store, "sftp_demo", "b0", [("ann@acme.example", "Acme")], T0)
    route_new_leads(demo, cfg, store, T0)  # → a
    inside = put(store, "sftp_demo", "b1", [("ann@acme.example", "Acme")], T0 + timedelta(days=30))
    route_new_leads(demo, cfg, store, T0 + timedelta(days=30))
    outside = put(store, "sftp_demo", "b2", [("ann@acme.example", "Acme")], T0 + timedelta(days=61))
    route_new_leads(demo, cfg, store, T0 + timedelta(days=61))
    # day 30: the day-0 lead is exactly 30 days back → Alpha; day 61: the day-30 lead is 31 days back and
    # the day-0 one older still → round robin (slot 2: Bravo)
    assert decisions(store, inside + outside) == [["routed", "a", "conflict"], ["routed", "b", "rule_group"]]


def test_review_names_both_leads_when_the_organisation_matches(store_url, sources):
    demo, fairs = sources
    store = LeadStore(store_url)
    cfg = partners({"match": ["domain", "company"], "within_days": 14, "action": "review"})
    (first,) = put(store, "sftp_demo", "b0", [("ann@Acme.example", "Acme  Corp")], T0)
    route_new_leads(demo, cfg, store, T0)
    second = put(store, "fairs", "f0", [("zoe@acme.example", "acme corp"), ("zoe@acme.example", "Acme Labs")],
                 T0 + timedelta(days=1))
    route_new_leads(fairs, cfg, store, T0 + timedelta(days=1))
    # same domain and company (case, spacing ignored) → review; same domain, another company → round robin
    assert decisions(store, second) == [["needs_review", None, "conflict"], ["routed", "a", "rule_group"]]
    text = explain(store, second[0])
    assert "channel conflict: same email domain and company as earlier lead" in text
    assert f"review by hand (this lead and {first})" in text


def test_companies_match_whatever_their_case_in_any_alphabet(store_url, sources):
    """Company names are compared lower-cased in the store's engine: 'MÜLLER GMBH' and 'Müller GmbH' are one
    buyer on Postgres as on DuckDB (the names keep the database's collation: under "C", Postgres's lower()
    folds ASCII letters only)."""
    demo, fairs = sources
    store = LeadStore(store_url)
    cfg = partners({"match": ["domain", "company"], "within_days": 14, "action": "review"})
    put(store, "sftp_demo", "b0", [("ann@mueller.example", "MÜLLER GMBH"), ("bo@ecole.example", "ÉCOLE NORD")], T0)
    route_new_leads(demo, cfg, store, T0)
    second = put(store, "fairs", "f0", [("zoe@mueller.example", "Müller GmbH"), ("li@ecole.example", "école nord")],
                 T0 + timedelta(days=1))
    route_new_leads(fairs, cfg, store, T0 + timedelta(days=1))
    assert [d[0] for d in decisions(store, second)] == ["needs_review", "needs_review"]


def test_a_partner_registration_claims_the_buyer(store_url, sources):
    demo, _ = sources
    store = LeadStore(store_url)
    cfg = partners({"match": ["email"], "within_days": 30, "action": "same_partner"})
    with store.begin() as conn:
        store.insert_frame(conn, lt.partner_registrations, pd.DataFrame([
            {"registration_id": "c:R-1", "partner_id": "c", "reference": "R-1", "email": "dana@globex.example",
             "company": "Globex", "fields": "{}", "decision": "registered", "matched_by": "partner:any",
             "reason": "matched", "decided_at": T0},
            {"registration_id": "b:R-2", "partner_id": "b", "reference": "R-2", "email": "eve@hooli.example",
             "company": "Hooli", "fields": "{}", "decision": "not_matched", "matched_by": None,
             "reason": "no rule", "decided_at": T0}]))
    ids = put(store, "sftp_demo", "b0", [("dana@globex.example", "Globex"), ("eve@hooli.example", "Hooli")],
              T0 + timedelta(days=2))
    route_new_leads(demo, cfg, store, T0 + timedelta(days=2))
    # Dana was registered by Charlie → Charlie; Eve's registration was not accepted → round robin (Alpha)
    assert decisions(store, ids) == [["routed", "c", "conflict"], ["routed", "a", "rule_group"]]
    assert "registration c:R-1 by Charlie (2026-11-02)" in explain(store, ids[0])


def test_a_source_policy_overrides_the_global_one_and_allow_checks_nothing(store_url, sources):
    demo, _ = sources
    store = LeadStore(store_url)
    cfg = partners({"match": ["email"], "within_days": 30, "action": "same_partner"})
    put(store, "sftp_demo", "b0", [("ann@acme.example", "Acme")], T0)
    route_new_leads(demo, cfg, store, T0)  # → a
    allowing = demo.model_copy(update={"conflict": ConflictPolicy(match=["email"], within_days=30, action="allow")})
    ids = put(store, "sftp_demo", "b1", [("ann@acme.example", "Acme")], T0 + timedelta(days=1))
    route_new_leads(allowing, cfg, store, T0 + timedelta(days=1))
    assert decisions(store, ids) == [["routed", "b", "rule_group"]]  # the next turn, not Alpha


def test_a_match_other_than_email_or_domain_and_company_is_refused():
    with pytest.raises(ValueError, match=r"write \[email\] \(the same person\) or \[domain, company\]"):
        ConflictPolicy(match=["company"], within_days=3, action="review")


def test_the_same_buyer_twice_in_one_batch_follows_the_first_lead(store_url, sources):
    demo, _ = sources
    store = LeadStore(store_url)
    cfg = partners({"match": ["email"], "within_days": 30, "action": "same_partner"})
    ids = put(store, "sftp_demo", "b0", [("ann@acme.example", "Acme"), ("bob@initech.example", "Initech"),
                                         ("Ann@Acme.example ", "Acme"), ("cy@hooli.example", "Hooli")], T0)
    old = put(store, "sftp_demo", "b1", [("dee@globex.example", "Globex")], T0 - timedelta(days=40))
    again = put(store, "sftp_demo", "b2", [("dee@globex.example", "Globex")], T0)
    route_new_leads(demo, cfg, store, T0)
    # arrival order: Dee (40 days ago) → a; then Ann → b, Bob → c, Ann again → b (her first lead's partner,
    # no round-robin turn taken), Cy → a, Dee again → b (her first lead is 40 days older: outside the window)
    got = decisions(store, old + ids + again)
    assert got == [["routed", "a", "rule_group"], ["routed", "b", "rule_group"], ["routed", "c", "rule_group"],
                   ["routed", "b", "conflict"], ["routed", "a", "rule_group"], ["routed", "b", "rule_group"]]
    assert f"same email as lead {ids[0]} in the same batch, routed to Bravo: sent to Bravo" in explain(store, ids[2])


def test_review_holds_the_second_lead_of_a_batch_naming_both(duckdb_url, sources):
    demo, _ = sources
    store = LeadStore(duckdb_url)
    cfg = partners({"match": ["domain", "company"], "within_days": 7, "action": "review"})
    ids = put(store, "sftp_demo", "b0", [("ann@acme.example", "Acme Corp"), ("zed@ACME.example", "acme  corp")], T0)
    route_new_leads(demo, cfg, store, T0)
    assert decisions(store, ids) == [["routed", "a", "rule_group"], ["needs_review", None, "conflict"]]
    assert f"review by hand (this lead and {ids[0]})" in explain(store, ids[1])
