"""Seeded demo data (deterministic, varied enough to route) and an org that survives a restart."""

from __future__ import annotations

from collections import Counter

from leadsync.connectors.salesforce.sandbox import SalesforceSandbox


def _leads(org) -> list[dict]:
    table = org.store.tables["Lead"]
    return [table.record(row) for row in range(table.size)]


def test_the_same_seed_gives_the_same_org():
    with SalesforceSandbox() as first, SalesforceSandbox() as second:
        first.clock.freeze("2026-11-23T12:00:00Z")
        second.clock.freeze("2026-11-23T18:00:00Z")  # same day
        first.seed(leads=300, seed=5)
        second.seed(leads=300, seed=5)

        assert _leads(first) == _leads(second)
        assert first.count("CampaignMember") == second.count("CampaignMember")


def test_another_seed_gives_other_leads():
    with SalesforceSandbox() as first, SalesforceSandbox() as second:
        first.seed(leads=50, seed=1)
        second.seed(leads=50, seed=2)

        assert [r["Email"] for r in _leads(first)] != [r["Email"] for r in _leads(second)]


def test_seeded_leads_give_routing_something_to_chew_on(seeded):
    leads = _leads(seeded)

    countries = Counter(r["Country"] for r in leads)
    assert set(countries) >= {"US", "CA", "GB", "DE", "FR"}
    assert all(r["State"] for r in leads if r["Country"] in ("US", "CA"))
    assert all(r["PostalCode"] and r["City"] and r["Email"] and r["Company"] for r in leads)
    assert len({r["Industry"] for r in leads}) > 10
    employees = [r["NumberOfEmployees"] for r in leads]
    assert min(employees) < 10 and max(employees) > 10_000
    assert all(r["Id"].startswith("00Q") and r["SystemModstamp"] >= r["CreatedDate"] for r in leads)
    assert all(r["CreatedDate"] < seeded.clock.now_wire() for r in leads)


def test_some_people_are_in_two_campaigns(seeded, seeded_sf):
    members = seeded_sf.query_all("SELECT LeadId, CampaignId, Lead.Email FROM CampaignMember")["records"]
    campaigns_by_email: dict[str, set] = {}
    for member in members:
        campaigns_by_email.setdefault(member["Lead"]["Email"].lower(), set()).add(member["CampaignId"])

    assert sum(1 for c in campaigns_by_email.values() if len(c) > 1) > 10
    duplicates = Counter(r["Email"] for r in _leads(seeded))
    assert any(n > 1 for n in duplicates.values())  # the same person arriving twice, as two leads


def test_records_survive_a_restart(tmp_path):
    data = tmp_path / "org"
    with SalesforceSandbox(data_dir=data) as org:
        org.seed(leads=200)
        sf = org.connect()
        lead = sf.Lead.create({"LastName": "Persisted", "Company": "Acme", "LeadSync_Lead_Key__c": "p-1"})["id"]
        sf.Lead.delete(org.store.tables["Lead"].get(0, "Id"))
        before = _leads(org)

    with SalesforceSandbox(data_dir=data) as again:
        sf = again.connect()
        assert _leads(again) == before
        assert sf.Lead.get_by_custom_id("LeadSync_Lead_Key__c", "p-1")["Id"] == lead
        assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 200
        new_id = sf.Lead.create({"LastName": "Next", "Company": "Acme"})["id"]
        assert new_id not in {r["Id"] for r in before}  # id counters were saved too
        assert again.count("User") == 5
