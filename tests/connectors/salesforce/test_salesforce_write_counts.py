"""The org counts the writes it serves per (object, record, field): a write counts once, the same write replayed
counts twice, whatever the path (REST sObject, Collections, Bulk API 2.0 ingest); a rolled-back or refused write
counts nothing, and what a user does in the org itself (the helpers a test or the demo's partners call) is not a
served write. A partner's CRM org is this same sandbox, so the soak reads Maple's writes the same way."""

from __future__ import annotations


def test_a_rest_update_counts_once_and_its_replay_twice(org, sf, make_leads):
    [lead] = make_leads(1)
    sf.Lead.update(lead, {"Status": "Working - Contacted", "Title": "CTO"})
    assert org.write_counts("Lead") == {("Lead", lead, "Status"): 1, ("Lead", lead, "Title"): 1}
    sf.Lead.update(lead, {"Status": "Working - Contacted"})  # a replay: same value, still a write
    assert org.write_counts("Lead")[("Lead", lead, "Status")] == 2
    assert org.write_counts("Lead")[("Lead", lead, "Title")] == 1


def test_a_rest_create_counts_each_field_the_client_set(org, sf):
    made = sf.Lead.create({"LastName": "Ng", "Company": "Acme", "Email": "ng@acme.example"})
    counts = org.write_counts()
    assert counts == {("Lead", made["id"], name): 1 for name in ("LastName", "Company", "Email")}


def test_collections_count_per_record_and_a_refused_record_counts_nothing(org, sf, make_leads):
    first, second = make_leads(2)
    org.faults.reject_records(emails=["lead1@acme.example"], times=1)
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Lead"}, "id": i, "Status": "Working - Contacted"}
                                            for i in (first, second)]}
    results = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert [r["success"] for r in results] == [True, False]
    assert org.write_counts("Lead") == {("Lead", first, "Status"): 1}
    sf.restful("composite/sobjects", method="PATCH", json=body)  # the batch replayed: both land now
    assert org.write_counts("Lead") == {("Lead", first, "Status"): 2, ("Lead", second, "Status"): 1}


def test_an_all_or_none_request_that_fails_takes_its_counts_back(org, sf, make_leads):
    first, second = make_leads(2)
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "id": first, "Status": "Working - Contacted"},
        {"attributes": {"type": "Lead"}, "id": second, "Email": "not an address"}]})
    assert not any(r["success"] for r in results)
    assert org.write_counts() == {}


def test_a_bulk_ingest_job_counts_each_row_and_a_second_job_again(org, sf, make_leads):
    ids = make_leads(3)
    rows = [{"Id": i, "Rating": "Hot"} for i in ids]
    sf.bulk2.Lead.update(records=rows)
    assert org.write_counts("Lead") == {("Lead", i, "Rating"): 1 for i in ids}
    sf.bulk2.Lead.update(records=rows[:1])
    assert org.write_counts("Lead")[("Lead", ids[0], "Rating")] == 2


def test_what_a_user_does_in_the_org_is_not_a_served_write(org, make_leads):
    [lead] = make_leads(1)  # created in-process, as seeding does
    org.update("Lead", lead, {"Status": "Working - Contacted"})  # a rep at work (the demo's partners)
    assert org.write_counts() == {}
