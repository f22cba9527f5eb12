"""Leads through marketorestpython's own calls: get by id, filter queries with paging, describe, sync
with per-record outcomes, and the New Lead / Change Data Value history Marketo keeps of every change."""

import re
from datetime import timedelta

from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.marketo.sandbox.clock import iso

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
LEADSYNC_FIELDS = ["leadsyncDistributionStatus", "leadsyncPartner", "leadsyncRejectionReason",
                   "leadsyncSalesStatus", "leadsyncRepName", "leadsyncRepEmail", "leadsyncLeadKey"]
STANDARD_FIELDS = ["id", "email", "firstName", "lastName", "company", "country", "state", "postalCode", "city",
                   "phone", "title", "industry", "leadSource", "numberOfEmployees", "annualRevenue", "createdAt",
                   "updatedAt"]


def skipped(code):
    return lambda item: item["status"] == "skipped" and item["reasons"][0]["code"] == code


def test_get_lead_by_id_answers_the_default_fields_and_nothing_for_an_unknown_id(client):
    (lead,) = client.execute("get_lead_by_id", id=7)
    assert lead["id"] == 7 and "@" in lead["email"]
    assert set(lead) <= {"id", "email", "updatedAt", "createdAt", "firstName", "lastName"}
    assert ISO.fullmatch(lead["createdAt"]) and ISO.fullmatch(lead["updatedAt"])
    assert client.execute("get_lead_by_id", id=10**7) == []


def test_filter_queries_page_with_next_page_token(client, wire):
    ids = [str(i) for i in range(1, 24)]
    leads = client.execute("get_multiple_leads_by_filter_type", filterType="id", filterValues=ids,
                           fields="email,country,numberOfEmployees", batchSize=10)
    assert [lead["id"] for lead in leads] == list(range(1, 24))  # three POST _method=GET pages
    assert all(set(lead) <= {"id", "email", "country", "numberOfEmployees"} for lead in leads)

    first = wire.get("/rest/v1/leads.json", filterType="id", filterValues=",".join(ids), batchSize=20)
    assert first["success"] and len(first["result"]) == 20 and first["nextPageToken"]
    rest = wire.get("/rest/v1/leads.json", filterType="id", filterValues=",".join(ids), batchSize=20,
                    nextPageToken=first["nextPageToken"])
    assert [lead["id"] for lead in rest["result"]] == [21, 22, 23] and "nextPageToken" not in rest


def test_filters_match_emails_case_insensitively_and_refuse_what_marketo_refuses(wire, sandbox):
    email = sandbox.leads.row(3)["email"]
    found = wire.get("/rest/v1/leads.json", filterType="email", filterValues=email.upper())
    assert [lead["id"] for lead in found["result"]] == [3]
    assert wire.get("/rest/v1/leads.json", filterType="email", filterValues="nobody@x.example")["result"] == []
    refused = wire.get("/rest/v1/leads.json", filterType="firstName", filterValues="Ann")
    assert refused["success"] is False and refused["errors"][0]["code"] == "1011"
    too_many = wire.get("/rest/v1/leads.json", filterType="id", filterValues=",".join(map(str, range(301))))
    assert too_many["errors"][0]["code"] == "1003"


def test_more_than_a_thousand_matches_is_error_1003(make_wire):
    with MarketoSandbox(seed_leads=1200) as big:
        answer = make_wire(big).get("/rest/v1/leads.json", filterType="company",
                               filterValues=",".join(sorted({big.leads.row(i)["company"] for i in range(1, 200)})))
    assert answer["errors"] == [{"code": "1003", "message": "Too many results match the filter"}]


def test_describe_lists_standard_and_leadsync_fields(client, wire):
    fields = {item["rest"]["name"]: item for item in client.execute("describe")}
    assert set(STANDARD_FIELDS + LEADSYNC_FIELDS) <= set(fields)
    assert fields["id"]["rest"]["readOnly"] and not fields["leadsyncPartner"]["rest"]["readOnly"]
    assert fields["leadsyncRepEmail"]["dataType"] == "email" and fields["annualRevenue"]["dataType"] == "currency"
    assert {"id", "displayName", "dataType", "rest", "soap"} <= set(fields["email"])
    (described,) = wire.get("/rest/v1/leads/describe2.json")["result"]
    assert ["leadsyncLeadKey"] in described["searchableFields"] and ["firstName"] not in described["searchableFields"]


def test_sync_reports_created_updated_and_skipped_per_record_in_input_order(client, sandbox):
    seeded = sandbox.seeded.leads
    existing = sandbox.leads.row(5)["email"]
    result = client.execute("create_update_leads", leads=[
        {"email": existing.upper(), "leadsyncDistributionStatus": "Assigned", "leadsyncPartner": "Northwind"},
        {"email": "nia.new@example.com", "firstName": "Nia", "numberOfEmployees": "250", "country": "DE"},
        {"email": "x@example.com", "noSuchField": "1"},
        {"email": "y@example.com", "numberOfEmployees": "many"},
        {"email": "zoë@example.com"},
    ], action="createOrUpdate", lookupField="email")
    assert result[0] == {"id": 5, "status": "updated"}
    assert result[1] == {"id": seeded + 1, "status": "created"}
    assert result[2]["reasons"] == [{"code": "1006", "message": "Field 'noSuchField' not found"}]
    assert skipped("1003")(result[3]) and skipped("1003")(result[4])  # bad integer; non-ASCII email
    assert sandbox.leads.row(5)["leadsyncPartner"] == "Northwind"
    assert sandbox.leads.row(seeded + 1)["numberOfEmployees"] == 250 and sandbox.leads.count() == seeded + 1


def test_update_only_by_id_and_create_only_refuse_what_they_must(client, sandbox):
    updated = client.execute("create_update_leads", leads=[{"id": 3, "leadsyncSalesStatus": "Contacted"},
                                                           {"id": 10**6, "leadsyncSalesStatus": "Contacted"}],
                             action="updateOnly", lookupField="id")
    assert updated[0] == {"id": 3, "status": "updated"}
    assert updated[1] == {"status": "skipped", "reasons": [{"code": "1004", "message": "Lead not found"}]}
    created = client.execute("create_update_leads", leads=[{"email": sandbox.leads.row(4)["email"]},
                                                           {"id": 4, "email": "other@example.com"}],
                             action="createOnly")
    assert skipped("1005")(created[0]) and skipped("1003")(created[1])
    assert sandbox.leads.row(3)["leadsyncSalesStatus"] == "Contacted"


def test_new_and_changed_leads_appear_as_activities_and_lead_changes(client, sandbox):
    seeded = sandbox.seeded.leads
    sandbox.clock.freeze()
    since = iso(sandbox.clock.now() - timedelta(seconds=1))  # after all seeded history
    old_title = sandbox.leads.row(9)["title"]
    client.execute("create_update_leads", leads=[{"email": "fresh@example.com", "leadSource": "Partner Referral"}])
    client.execute("create_update_leads", leads=[{"id": 9, "title": "Chief Fixer", "leadsyncPartner": "Maple"}],
                   action="updateOnly", lookupField="id")
    client.execute("create_update_leads", leads=[{"email": "fresh@example.com", "firstName": "Fresh"}])
    token = client.execute("get_paging_token", sinceDatetime=since)
    history = client.execute("get_lead_activities", activityTypeIds=["12", "13"], nextPageToken=token)
    kinds = sorted((a["leadId"], a["activityTypeId"], a.get("primaryAttributeValue")) for a in history)
    assert kinds == [(9, 13, "Job Title"), (9, 13, "Leadsync Partner"), (seeded + 1, 12, None),
                     (seeded + 1, 13, "First Name")]
    title_change = next(a for a in history if a.get("primaryAttributeValue") == "Job Title")
    values = {x["name"]: x["value"] for x in title_change["attributes"]}
    assert values["New Value"] == "Chief Fixer" and values["Old Value"] == old_title
    assert title_change["marketoGUID"] == str(title_change["id"]) and title_change["activityDate"] == iso(
        sandbox.clock.now())

    changes = client.execute("get_lead_changes", fields=["leadsyncPartner"], sinceDatetime=since)
    assert [(c["leadId"], c["activityTypeId"]) for c in changes] == [(seeded + 1, 12), (9, 13)]
    assert changes[1]["fields"] == [{"id": sandbox.schema.require("leadsyncPartner").id, "name": "leadsyncPartner",
                                     "newValue": "Maple", "oldValue": None}]


def test_activity_pages_carry_a_token_and_more_result_until_caught_up(wire, sandbox):
    seeded = sandbox.seeded.leads
    token = wire.get("/rest/v1/activities/pagingtoken.json", sinceDatetime="2025-01-01T00:00:00Z")["nextPageToken"]
    seen, pages = [], 0
    while True:
        page = wire.get("/rest/v1/activities.json", activityTypeIds="12", nextPageToken=token, batchSize=150)
        pages += 1
        token = page["nextPageToken"]
        seen += page.get("result", [])
        if not page["moreResult"]:
            break
    assert pages == 3 and sorted(a["leadId"] for a in seen) == list(range(1, seeded + 1))
    dates = [a["activityDate"] for a in seen]
    assert dates == sorted(dates)
    caught_up = wire.get("/rest/v1/activities.json", activityTypeIds="12", nextPageToken=token)
    assert caught_up["moreResult"] is False and "result" not in caught_up and caught_up["nextPageToken"]

    wire.post("/rest/v1/leads.json", {"input": [{"email": "later@example.com"}]})
    later = wire.get("/rest/v1/activities.json", activityTypeIds="12", nextPageToken=token)
    assert [a["leadId"] for a in later["result"]] == [seeded + 1]

    assert wire.get("/rest/v1/activities.json", nextPageToken=token)["errors"][0]["code"] == "701"
    eleven = ",".join(str(i) for i in range(1, 12))
    assert wire.get("/rest/v1/activities.json", activityTypeIds=eleven, nextPageToken=token)["errors"][0][
        "code"] == "1003"
