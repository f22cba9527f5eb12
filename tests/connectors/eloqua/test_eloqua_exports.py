"""Bulk exports: definitions, syncs through their states, paged data, resuming, filters, errors and limits."""

from datetime import datetime, timedelta

import pytest


def test_a_sync_goes_pending_then_active_then_success(eloqua, bulk, field):
    definition = bulk.define("contacts", "exports", {"name": "lifecycle", "fields": {"Email": field("C_EmailAddress")}})
    assert definition["uri"].startswith("/contacts/exports/") and definition["dataRetentionDuration"] == "PT12H"
    assert definition["createdBy"] == eloqua.username and definition["createdAt"].endswith("Z")
    eloqua.hold_syncs()
    sync = bulk.sync(definition["uri"])
    assert sync["status"] == "pending" and sync["uri"].startswith("/syncs/")
    assert bulk.http.get(bulk.url(sync["uri"])).json()["status"] == "pending"
    eloqua.state.queue.active_s = 0.3
    eloqua.release_syncs()
    seen = set()
    while (status := bulk.http.get(bulk.url(sync["uri"])).json())["status"] in ("pending", "active"):
        seen.add(status["status"])
    assert "active" in seen
    assert status["status"] == "success" and status["syncStartedAt"] <= status["syncEndedAt"]
    logs = bulk.logs(sync["uri"])
    assert logs[0]["statusCode"] == "ELQ-00102" and logs[0]["count"] == 300
    assert logs[-1]["message"] == f"Sync processed for sync {sync['uri'].split('/')[-1]}, resulting in Success status."


def test_data_pages_carry_has_more_until_the_end(bulk, field):
    uri = bulk.export({"Email": field("C_EmailAddress"), "Id": "{{Contact.Id}}"})
    first = bulk.data(uri, limit=120, offset=0).json()
    assert {k: first[k] for k in ("totalResults", "limit", "offset", "count", "hasMore")} == {
        "totalResults": 300, "limit": 120, "offset": 0, "count": 120, "hasMore": True}
    last = bulk.data(uri, limit=120, offset=240).json()
    assert (last["count"], last["hasMore"]) == (60, False)
    beyond = bulk.data(uri, limit=120, offset=300).json()
    assert (beyond["count"], beyond["items"], beyond["hasMore"]) == (0, [], False)
    rows = bulk.all_rows(uri, limit=120)
    assert [r["Id"] for r in rows] == [str(i) for i in range(1, 301)]
    assert all(isinstance(v, str) for r in rows for v in r.values())
    assert "totalResults" not in bulk.data(uri, limit=10, totalResults="false").json()


def test_fifty_thousand_is_the_most_a_data_request_returns(bulk, field):
    uri = bulk.export({"Email": field("C_EmailAddress")})
    assert bulk.data(uri, limit=50000).json()["count"] == 300
    too_big = bulk.data(uri, limit=50001)
    assert too_big.status_code == 400
    assert too_big.json() == {"failures": [{"field": "limit", "constraint": "Must be an integer value between 1 "
                                                                             "and 50000.", "value": "50001"}]}


def test_resuming_at_an_offset_reads_the_same_rows_even_after_contacts_change(eloqua, bulk, field):
    uri = bulk.export({"Email": field("C_EmailAddress"), "Status": field("C_LeadSync_Distribution_Status1")})
    first_read = bulk.data(uri, limit=50, offset=100).json()["items"]
    email = first_read[0]["Email"]
    done = bulk.import_rows({"Email": field("C_EmailAddress"), "Status": field("C_LeadSync_Distribution_Status1")},
                            "Email", [{"Email": email, "Status": "Distributed"}])
    assert done["status"] == "success"
    eloqua.clock.advance(11 * 3600)  # within the 12-hour retention
    assert bulk.data(uri, limit=50, offset=100).json()["items"] == first_read
    assert first_read[0]["Status"] == ""


def test_staged_data_expires_with_the_retention_period(eloqua, bulk, field):
    uri = bulk.export({"Email": field("C_EmailAddress")}, dataRetentionDuration="PT1H")
    assert bulk.data(uri, limit=1).status_code == 200
    eloqua.clock.advance(3601)
    assert bulk.data(uri, limit=1).status_code == 404


def test_filter_on_date_modified_strictly_greater_or_equal(eloqua, bulk, field):
    dates = sorted(eloqua.state.contacts.table.column("C_DateModified").to_pylist())
    bound = dates[150]
    stamp = bound.strftime("%Y-%m-%d %H:%M:%S")
    fields = {"Id": "{{Contact.Id}}", "Modified": field("C_DateModified")}
    after = bulk.all_rows(bulk.export(fields, f"'{field('C_DateModified')}' > '{stamp}'"))
    from_bound = bulk.all_rows(bulk.export(fields, f"'{field('C_DateModified')}' >= '{stamp}'"))
    assert len(after) == sum(d > bound for d in dates)
    assert len(from_bound) == sum(d >= bound for d in dates) == len(after) + dates.count(bound)
    assert all(r["Modified"] > stamp for r in after)
    assert bound.strftime("%Y-%m-%d %H:%M:%S.000") in {r["Modified"] for r in from_bound}


def test_incremental_pull_sees_contacts_imported_after_the_last_high_water_mark(eloqua, bulk, field):
    eloqua.clock.freeze(datetime(2030, 1, 1, 12, 0, 0))
    fields = {"Id": "{{Contact.Id}}", "Email": field("C_EmailAddress"), "Modified": field("C_DateModified")}
    bulk.import_rows({"Email": field("C_EmailAddress"), "Title": field("C_Title")}, "Email",
                     [{"Email": eloqua.contact_by_id(3)["C_EmailAddress"], "Title": "CFO"},
                      {"Email": "brand.new@prospect.example", "Title": "CEO"}])
    rows = bulk.all_rows(bulk.export(fields, f"'{field('C_DateModified')}' >= '2030-01-01 12:00:00'"))
    assert sorted(r["Id"] for r in rows) == ["3", "301"]
    assert {r["Modified"] for r in rows} == {"2030-01-01 12:00:00.000"}


def test_compound_filters(eloqua, bulk, field):
    table = eloqua.state.contacts.table.to_pylist()
    expected = [r["id"] for r in table if r["C_Country"] == "CA" or
                (r["C_Country"] == "US" and r["C_State_Prov"] == "CA")]
    filter_ = (f"'{field('C_Country')}' = 'ca' OR ('{field('C_Country')}' = 'US' AND "
               f"'{field('C_State_Prov')}' = 'CA')")
    rows = bulk.all_rows(bulk.export({"Id": "{{Contact.Id}}"}, filter_))
    assert [int(r["Id"]) for r in rows] == expected and expected


def test_more_than_250_fields_is_refused(eloqua, bulk, field):
    for i in range(240):
        eloqua.add_contact_field(f"Extra {i}")
    fields = {f"F{i}": f.statement for i, f in enumerate(eloqua.state.contacts.fields)}
    assert len(fields) > 250
    answer = bulk.http.post(bulk.url("/contacts/exports"), json={"name": "wide", "fields": dict(list(fields.items())[:251])})
    assert answer.status_code == 400
    (failure,) = answer.json()["failures"]
    assert failure["field"] == "fields" and "at most 250" in failure["constraint"]
    assert bulk.http.post(bulk.url("/contacts/exports"),
                          json={"name": "ok", "fields": dict(list(fields.items())[:250])}).status_code == 201


def test_unknown_statements_and_bad_filters_are_validation_errors(bulk, field):
    answer = bulk.http.post(bulk.url("/contacts/exports"), json={
        "name": "bad", "fields": {"Email": field("C_EmailAddress"), "Nope": field("C_NoSuchField"),
                                  "Typo": "{{Contact.Feild(C_FirstName)}}"}})
    assert answer.status_code == 400
    assert {f["field"] for f in answer.json()["failures"]} == {"fields.Nope", "fields.Typo"}
    assert all(f["constraint"].startswith("Must be a valid") for f in answer.json()["failures"])
    for bad_filter in ("'{{Contact.Field(C_DateModified)}}' > ", "'{{Contact.Field(C_Nope)}}' = 'x'",
                       "'{{Contact.Field(C_DateModified)}}' > 'yesterday'", "EXISTS('{{ContactList[12]}}')"):
        answer = bulk.http.post(bulk.url("/contacts/exports"), json={
            "name": "bad filter", "fields": {"Email": field("C_EmailAddress")}, "filter": bad_filter})
        assert answer.status_code == 400, bad_filter
        assert answer.json()["failures"][0]["field"] == "filter"
    no_name = bulk.http.post(bulk.url("/contacts/exports"), json={"fields": {"Email": field("C_EmailAddress")}})
    assert no_name.json()["failures"][0]["field"] == "name"


def test_syncing_an_unknown_definition_or_twice_at_once(eloqua, bulk, field):
    missing = bulk.http.post(bulk.url("/syncs"), json={"syncedInstanceUri": "/contacts/exports/999"})
    assert missing.status_code == 400 and missing.json()["failures"][0]["field"] == "syncedInstanceUri"
    definition = bulk.define("contacts", "exports", {"name": "x", "fields": {"Email": field("C_EmailAddress")}})
    eloqua.hold_syncs()
    bulk.sync(definition["uri"])
    assert bulk.http.post(bulk.url("/syncs"), json={"syncedInstanceUri": definition["uri"]}).status_code == 409
    assert bulk.http.delete(bulk.url(definition["uri"])).status_code == 409
    eloqua.release_syncs()
    assert eloqua.wait_for_syncs()
    assert bulk.http.delete(bulk.url(definition["uri"])).status_code == 204
    assert bulk.http.get(bulk.url(definition["uri"])).status_code == 404


def test_a_failed_sync_ends_in_error_with_its_reason_in_the_logs(eloqua, bulk, field):
    eloqua.fail_next_sync("Export failed: the staging area is unavailable.")
    definition = bulk.define("contacts", "exports", {"name": "x", "fields": {"Email": field("C_EmailAddress")}})
    finished = bulk.wait(bulk.sync(definition["uri"])["uri"])
    assert finished["status"] == "error"
    logs = bulk.logs(finished["uri"])
    assert logs[0]["severity"] == "error" and logs[0]["message"] == "Export failed: the staging area is unavailable."
    assert bulk.data(finished["uri"]).json()["items"] == []
    assert bulk.wait(bulk.sync(definition["uri"])["uri"])["status"] == "success"  # the next one works


def test_paths_collapse_double_slashes_and_ignore_case(bulk, conn, field):
    definition = conn.session.post(f"{conn.bulk}//contacts/exports",
                                   json={"name": "x", "fields": {"Email": field("C_EmailAddress")}})
    assert definition.status_code == 201
    sync = conn.session.post(f"{conn.base_url}/api/bulk/2.0//syncs/",
                             json={"syncedInstanceUri": definition.json()["uri"]})
    assert sync.status_code == 201
    assert conn.session.get(f"{conn.base_url}/API/BULK/2.0{sync.json()['uri']}").status_code == 200
    assert conn.session.get(f"{conn.base_url}//api/rest/1.0//data/contact/1").status_code == 200


def test_activity_export_for_one_type_with_campaign_ids(eloqua, bulk):
    fields = {"ActivityId": "{{Activity.Id}}", "ActivityType": "{{Activity.Type}}",
              "ContactId": "{{Activity.Contact.Id}}", "ActivityDate": "{{Activity.CreatedAt}}",
              "CampaignId": "{{Activity.Campaign.Id}}", "EmailAddress": "{{Activity.Field(EmailAddress)}}",
              "Country": "{{Activity.Contact.Field(C_Country)}}"}
    rows = bulk.all_rows(bulk.export(fields, "'{{Activity.Type}}' = 'EmailOpen'", entity="activities"))
    opens = [a for a in eloqua.state.activities.to_pylist() if a["type"] == "EmailOpen"]
    assert len(rows) == len(opens) > 0
    assert {r["ActivityType"] for r in rows} == {"EmailOpen"}
    campaign_ids = {str(c["id"]) for c in eloqua.state.campaigns}
    assert all(r["CampaignId"] in campaign_ids for r in rows)
    row = rows[0]
    contact = eloqua.contact_by_id(int(row["ContactId"]))
    assert row["EmailAddress"] == contact["C_EmailAddress"] and row["Country"] == contact["C_Country"]
    assert datetime.strptime(row["ActivityDate"], "%Y-%m-%d %H:%M:%S.%f")


def test_activity_exports_need_one_type_and_fields_of_that_type(bulk):
    no_type = bulk.http.post(bulk.url("/activities/exports"), json={
        "name": "x", "fields": {"Id": "{{Activity.Id}}"}, "filter": "'{{Activity.CreatedAt}}' > '2024-01-01'"})
    assert no_type.status_code == 400 and no_type.json()["failures"][0]["field"] == "filter"
    wrong_field = bulk.http.post(bulk.url("/activities/exports"), json={
        "name": "x", "fields": {"Link": "{{Activity.Field(EmailClickedThruLink)}}"},
        "filter": "'{{Activity.Type}}' = 'FormSubmit'"})
    assert wrong_field.status_code == 400
    contact_filter = bulk.http.post(bulk.url("/activities/exports"), json={
        "name": "x", "fields": {"Id": "{{Activity.Id}}"},
        "filter": "'{{Activity.Type}}' = 'EmailOpen' AND '{{Activity.Contact.Field(C_Country)}}' = 'CA'"})
    assert contact_filter.status_code == 400  # contact fields cannot be filtered on in activity exports


def test_activity_export_filtered_by_date_and_campaign(eloqua, bulk):
    since = datetime.now() - timedelta(days=200)
    stamp = since.strftime("%Y-%m-%d %H:%M:%S")
    filter_ = (f"'{{{{Activity.Type}}}}' = 'FormSubmit' AND '{{{{Activity.CreatedAt}}}}' >= '{stamp}' "
               "AND '{{Activity.Campaign.Id}}' = '1003'")
    rows = bulk.all_rows(bulk.export({"Id": "{{Activity.Id}}", "At": "{{Activity.CreatedAt}}",
                                      "Campaign": "{{Activity.Campaign.Id}}"}, filter_, entity="activities"))
    assert all(r["Campaign"] == "1003" and r["At"] >= stamp for r in rows)
    expected = [a for a in eloqua.state.activities.to_pylist()
                if a["type"] == "FormSubmit" and a["campaign_id"] == 1003 and a["created_at"] >= since]
    assert len(rows) == len(expected)


def test_campaign_response_export(eloqua, bulk):
    rows = bulk.all_rows(bulk.export({
        "Id": "{{CampaignResponse.Id}}", "Status": "{{CampaignResponse.Field(MemberStatus)}}",
        "CampaignId": "{{CampaignResponse.Campaign.Id}}", "Campaign": "{{CampaignResponse.Campaign.Field(CampaignName)}}",
        "Email": "{{CampaignResponse.Contact.Field(C_EmailAddress)}}"}, entity="campaignResponses"))
    assert len(rows) == eloqua.state.campaign_responses.num_rows > 0
    names = {str(c["id"]): c["name"] for c in eloqua.state.campaigns}
    assert all(r["Status"] == "Responded" and names[r["CampaignId"]] == r["Campaign"] and "@" in r["Email"]
               for r in rows)


@pytest.mark.parametrize("limit", ["0", "abc"])
def test_bad_paging_parameters(bulk, field, limit):
    uri = bulk.export({"Email": field("C_EmailAddress")})
    assert bulk.data(uri, limit=limit).status_code == 400


def test_an_empty_instance_exports_nothing(bulk_client, field):
    from leadsync.connectors.eloqua.sandbox import EloquaSandbox

    with EloquaSandbox(sync_delay_s=0) as empty:
        bulk = bulk_client(empty.session())
        uri = bulk.export({"Email": field("C_EmailAddress")})
        assert bulk.data(uri).json() == {"totalResults": 0, "limit": 1000, "offset": 0, "count": 0,
                                         "hasMore": False, "items": []}
        activities = bulk.export({"Id": "{{Activity.Id}}"}, "'{{Activity.Type}}' = 'EmailOpen'", entity="activities")
        assert bulk.data(activities).json()["items"] == []


def test_definitions_and_syncs_are_listed(bulk, field):
    uri = bulk.export({"Email": field("C_EmailAddress")})
    definitions = bulk.http.get(bulk.url("/contacts/exports")).json()
    assert definitions["totalResults"] == 1 and definitions["items"][0]["fields"] == {"Email": field("C_EmailAddress")}
    syncs = bulk.http.get(bulk.url("/syncs"), params={"limit": 10}).json()
    assert [s["uri"] for s in syncs["items"]] == [uri]
