"""The instance counts the writes it serves per (object, record, field): a Sync Leads call counts each field once
per lead it wrote, the same call replayed counts twice; a skipped record counts nothing; list adds, program
member changes and Lead Database objects are counted the same way. Seeding is not a served write."""

from __future__ import annotations

from leadsync.connectors.marketo.sandbox.programs import CHANNEL_STATUSES


def test_sync_leads_counts_each_field_once_and_a_replay_twice(client, sandbox):
    leads = [{"email": sandbox.leads.row(3)["email"], "leadsyncPartner": "Maple"}]
    [result] = client.execute("create_update_leads", leads=leads, action="createOrUpdate", lookupField="email")
    assert result == {"id": 3, "status": "updated"}
    assert sandbox.write_counts("lead") == {("lead", "3", "email"): 1, ("lead", "3", "leadsyncPartner"): 1}
    client.execute("create_update_leads", leads=leads, action="createOrUpdate", lookupField="email")
    assert sandbox.write_counts("lead") == {("lead", "3", "email"): 2, ("lead", "3", "leadsyncPartner"): 2}


def test_a_skipped_record_counts_nothing_and_a_created_one_counts_its_fields(client, sandbox):
    sandbox.faults.bad_record(2, "1003", "Invalid value for leadsyncPartner")
    results = client.execute("create_update_leads", action="createOrUpdate", lookupField="email", leads=[
        {"email": sandbox.leads.row(2)["email"], "leadsyncPartner": "Maple"},
        {"email": "new@example.com", "firstName": "Ada"}])
    assert results[0]["status"] == "skipped" and results[1]["status"] == "created"
    new = str(results[1]["id"])
    assert sandbox.write_counts() == {("lead", new, "email"): 1, ("lead", new, "firstName"): 1}


def test_list_adds_program_members_and_objects_are_counted_per_record(client, sandbox, wire):
    [newsletter, *_] = client.execute("get_multiple_lists")
    client.execute("add_leads_to_list", listId=newsletter["id"], id=[2, 999999])  # 999999: skipped, not found
    client.execute("add_leads_to_list", listId=newsletter["id"], id=[2])
    program = wire.get("/rest/asset/v1/programs.json")["result"][0]
    status = CHANNEL_STATUSES[program["channel"]][-1]
    for _ in range(2):  # the same status twice: two writes
        wire.post(f"/rest/v1/programs/{program['id']}/members/status.json",
                  {"statusName": status, "input": [{"leadId": 4}]})
    [opportunity] = wire.post("/rest/v1/opportunities.json",
                              {"input": [{"externalOpportunityId": "K-1", "name": "Kept"}]})["result"]
    counts = sandbox.write_counts()
    assert counts[("staticListMember", f"{newsletter['id']}:2", "member")] == 2
    assert not any(k[1].endswith(":999999") for k in counts)
    assert counts[("programMember", f"{program['id']}:4", "progressionStatus")] == 2
    guid = opportunity["marketoGUID"]
    assert counts[("opportunity", guid, "externalOpportunityId")] == 1 and counts[("opportunity", guid, "name")] == 1
