"""What leadsync writes back besides lead fields: opportunities linked to leads through roles, partner
marketing events as custom activities, and assignments as a custom object, via marketorestpython."""

from datetime import timedelta

from leadsync.connectors.marketo.sandbox.clock import iso


def test_opportunities_upsert_by_external_id_and_link_leads_through_roles(client, wire):
    (described,) = client.execute("describe_opportunity")
    assert described["idField"] == "marketoGUID" and described["dedupeFields"] == ["externalOpportunityId"]

    first = client.execute("create_update_opportunities", input=[
        {"externalOpportunityId": "OPP-1", "name": "Firewall refresh", "amount": 12000, "stage": "Qualification",
         "closeDate": "2026-12-20", "leadsyncPartner": "Northwind"},
        {"externalOpportunityId": "OPP-2", "amount": 5}], action="createOrUpdate", dedupeBy="dedupeFields")
    assert first[0]["status"] == "created" and first[0]["seq"] == 0 and len(first[0]["marketoGUID"]) == 36
    assert first[1] == {"seq": 1, "status": "skipped", "reasons": [
        {"code": "1002", "message": "Missing value for required parameter 'name'"}]}
    again = client.execute("create_update_opportunities",
                           input=[{"externalOpportunityId": "OPP-1", "stage": "Closed Won", "isWon": True}])
    assert again == [{"seq": 0, "status": "updated", "marketoGUID": first[0]["marketoGUID"]}]

    (found,) = client.execute("get_opportunities", filterType="externalOpportunityId", filterValues=["OPP-1"])
    assert found["stage"] == "Closed Won" and found["amount"] == 12000 and found["closeDate"] == "2026-12-20"
    by_guid = wire.get("/rest/v1/opportunities.json", filterType="marketoGUID", filterValues=found["marketoGUID"],
                       fields="name,isWon")
    assert by_guid["result"] == [{"seq": 0, "marketoGUID": found["marketoGUID"], "name": "Firewall refresh",
                                  "isWon": True}]

    roles = client.execute("create_update_opportunities_roles", input=[
        {"externalOpportunityId": "OPP-1", "leadId": 3, "role": "Technical Buyer", "isPrimary": True},
        {"externalOpportunityId": "OPP-1", "leadId": 10**6, "role": "Technical Buyer"},
        {"externalOpportunityId": "OPP-404", "leadId": 3, "role": "Champion"}])
    assert roles[0]["status"] == "created"
    assert roles[1]["reasons"][0]["code"] == "1004" and roles[2]["reasons"][0]["code"] == "1013"
    compound = wire.post("/rest/v1/opportunities/roles.json", {
        "filterType": "dedupeFields", "fields": ["leadId", "role", "isPrimary"],
        "input": [{"externalOpportunityId": "OPP-1", "leadId": 3, "role": "Technical Buyer"}]},
        params={"_method": "GET"})
    assert compound["result"] == [{"seq": 0, "marketoGUID": roles[0]["marketoGUID"], "leadId": 3,
                                   "role": "Technical Buyer", "isPrimary": True}]
    by_id = client.execute("create_update_opportunities_roles", input=[
        {"marketoGUID": roles[0]["marketoGUID"], "isPrimary": False}], action="updateOnly", dedupeBy="idField")
    assert by_id[0]["status"] == "updated"
    wrong = wire.post("/rest/v1/opportunities/roles.json", {"action": "createOrUpdate", "dedupeBy": "idField",
                                                            "input": [{"marketoGUID": "x"}]})
    assert wrong["success"] is False and wrong["errors"][0]["code"] == "1003"


def test_partner_events_are_custom_activities_in_the_lead_history(client, sandbox):
    (kind,) = client.execute("get_custom_activity_types")
    assert kind["apiName"] == "leadsyncPartnerEvent" and kind["id"] >= 100000 and kind["status"] == "approved"
    (described,) = client.execute("describe_custom_activity_type", apiName="leadsyncPartnerEvent")
    assert described["primaryAttribute"]["apiName"] == "eventName"
    assert {a["apiName"] for a in described["attributes"]} == {"partnerName", "eventType", "eventDate", "outcome"}

    since = iso(sandbox.clock.now() - timedelta(seconds=1))
    event = {"leadId": 3, "activityDate": iso(sandbox.clock.now()), "activityTypeId": kind["id"],
             "primaryAttributeValue": "Northwind Security Breakfast",
             "attributes": [{"apiName": "partnerName", "value": "Northwind"}, {"name": "Outcome", "value": "Attended"}]}
    result = client.execute("add_custom_activities", input=[event, {**event, "leadId": 10**6},
                                                            {**event, "attributes": [{"apiName": "nope", "value": 1}]}])
    assert result[0]["status"] == "added" and result[0]["marketoGUID"] == str(result[0]["id"])
    assert result[1] == {"status": "skipped", "errors": [{"code": "1004", "message": "Lead not found"}]}
    assert result[2]["errors"][0]["code"] == "1006"

    (activity,) = client.execute("get_lead_activities", activityTypeIds=[str(kind["id"])], sinceDatetime=since)
    assert activity["leadId"] == 3 and activity["primaryAttributeValue"] == "Northwind Security Breakfast"
    assert {"name": "Partner Name", "value": "Northwind"} in activity["attributes"]


def test_assignments_are_a_custom_object_upserted_by_its_dedupe_field(client):
    (listed,) = client.execute("get_list_of_custom_objects")
    assert listed["name"] == "leadsyncAssignment_c" and listed["dedupeFields"] == ["assignmentKey"]
    (described,) = client.execute("describe_custom_object", name="leadsyncAssignment_c")
    assert described["relationships"][0]["relatedTo"] == {"name": "Lead", "field": "id"}
    assert {"assignmentKey", "leadId", "partnerName", "status"} <= {f["name"] for f in described["fields"]}

    created = client.execute("create_update_custom_objects", name="leadsyncAssignment_c", input=[
        {"assignmentKey": "A-3-NW", "leadId": 3, "partnerName": "Northwind", "status": "Assigned",
         "assignedAt": "2026-11-02T12:00:00Z"},
        {"assignmentKey": "A-X", "leadId": 10**6, "partnerName": "Northwind"}],
        action="createOrUpdate", dedupeBy="dedupeFields")
    assert created[0]["status"] == "created"
    assert created[1]["reasons"] == [{"code": "1004", "message": "Lead not found"}]
    updated = client.execute("create_update_custom_objects", name="leadsyncAssignment_c",
                             input=[{"assignmentKey": "A-3-NW", "status": "Accepted"}])
    assert updated == [{"seq": 0, "status": "updated", "marketoGUID": created[0]["marketoGUID"]}]
    (found,) = client.execute("get_custom_objects", name="leadsyncAssignment_c",
                              input=[{"assignmentKey": "A-3-NW"}], filterType="dedupeFields")
    assert found["status"] == "Accepted" and found["leadId"] == 3 and found["assignedAt"] == "2026-11-02T12:00:00Z"
