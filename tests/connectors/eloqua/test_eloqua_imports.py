"""Bulk imports: write-back to contact fields and custom objects, matching, rejects, sync outcomes."""

from datetime import datetime


def test_import_keyed_by_email_updates_fields_and_creates_new_contacts(eloqua, bulk, field):
    email = eloqua.contact_by_id(10)["C_EmailAddress"]
    eloqua.clock.freeze(datetime(2031, 5, 1, 9, 30, 0))
    fields = {"C_EmailAddress": field("C_EmailAddress"),
              "C_LeadSync_Distribution_Status1": field("C_LeadSync_Distribution_Status1"),
              "C_LeadSync_Partner1": field("C_LeadSync_Partner1"),
              "C_LeadSync_Rep_Name1": field("C_LeadSync_Rep_Name1"),
              "C_LeadSync_Rep_Email1": field("C_LeadSync_Rep_Email1")}
    sync = bulk.import_rows(fields, "C_EmailAddress", [
        {"C_EmailAddress": email.upper(), "C_LeadSync_Distribution_Status1": "Distributed",
         "C_LeadSync_Partner1": "Acme Partners", "C_LeadSync_Rep_Name1": "Rita Rep",
         "C_LeadSync_Rep_Email1": "rita@acme-partners.example"},
        {"C_EmailAddress": "fresh.lead@prospect.example", "C_LeadSync_Distribution_Status1": "Queued"}])
    assert sync["status"] == "success"
    updated = eloqua.contact_by_id(10)
    assert updated["C_EmailAddress"] == email  # matched case-insensitively, not rewritten
    assert (updated["C_LeadSync_Distribution_Status1"], updated["C_LeadSync_Partner1"],
            updated["C_LeadSync_Rep_Name1"]) == ("Distributed", "Acme Partners", "Rita Rep")
    assert updated["C_DateModified"] == datetime(2031, 5, 1, 9, 30, 0)
    created = eloqua.contact("fresh.lead@prospect.example")
    assert created["id"] == 301 and created["C_DateCreated"] == datetime(2031, 5, 1, 9, 30, 0)
    counts = {log["statusCode"]: log["count"] for log in bulk.logs(sync["uri"])}
    assert counts["ELQ-00001"] == 2 and counts["ELQ-00004"] == 1 and counts["ELQ-00022"] == 1
    assert bulk.data(sync["uri"]).status_code == 400  # import syncs have no data, only logs and rejects


def test_import_keyed_by_contact_id(eloqua, bulk, field):
    fields = {"ContactID": "{{Contact.Id}}", "Sales": field("C_LeadSync_Sales_Status1"),
              "Reason": field("C_LeadSync_Rejection_Reason1")}
    sync = bulk.import_rows(fields, "ContactID", [
        {"ContactID": "42", "Sales": "Won", "Reason": ""},
        {"ContactID": "9999", "Sales": "Lost"}])
    assert sync["status"] == "warning"
    assert eloqua.contact_by_id(42)["C_LeadSync_Sales_Status1"] == "Won"
    (reject,) = bulk.rejects(sync["uri"])
    assert reject == {"fieldValues": {"ContactID": "9999", "Sales": "Lost"}, "message": "Contact does not exist.",
                      "statusCode": "ELQ-00085", "recordIndex": 2, "invalidFields": ["ContactID"],
                      "syncUri": sync["uri"]}


def test_rejected_rows_are_listed_with_reasons_and_the_sync_ends_in_warning(eloqua, bulk, field):
    email = eloqua.contact_by_id(1)["C_EmailAddress"]
    fields = {"Email": field("C_EmailAddress"), "Title": field("C_Title"), "Reason": field("C_LeadSync_Rejection_Reason1")}
    sync = bulk.import_rows(fields, "Email", [
        {"Email": email, "Title": "VP Sales", "Reason": "x" * 5000},  # large text takes 5,000 characters
        {"Email": "not-an-email", "Title": "CTO"},
        {"Email": "someone@example.com", "Title": "T" * 101},
        {"Email": "", "Title": "Nobody"}])
    assert sync["status"] == "warning"
    rejects = bulk.rejects(sync["uri"])
    assert [(r["recordIndex"], r["statusCode"], r["invalidFields"]) for r in rejects] == [
        (2, "ELQ-00002", ["Email"]), (3, "ELQ-00032", ["Title"]), (4, "ELQ-00061", ["Email"])]
    assert rejects[0]["message"] == "Invalid email addresses."
    assert "100 characters" in rejects[1]["message"]
    assert rejects[1]["fieldValues"] == {"Email": "someone@example.com", "Title": "T" * 101}
    assert eloqua.contact_by_id(1)["C_Title"] == "VP Sales"
    assert eloqua.contact("someone@example.com") is None
    logs = {log["statusCode"]: log for log in bulk.logs(sync["uri"])}
    assert logs["ELQ-00060"]["count"] == 3 and logs["ELQ-00060"]["severity"] == "warning"
    assert logs["ELQ-00101"]["message"].endswith("resulting in Warning status.")


def test_update_rules(eloqua, bulk, field):
    eloqua.contact_by_id(2)
    fields = {"Id": "{{Contact.Id}}", "Title": field("C_Title"), "Partner": field("C_LeadSync_Partner1")}
    title = eloqua.contact_by_id(2)["C_Title"]
    bulk.import_rows(fields, "Id", [{"Id": "2", "Title": "", "Partner": "P1"}], updateRule="ifNewIsNotNull")
    assert (eloqua.contact_by_id(2)["C_Title"], eloqua.contact_by_id(2)["C_LeadSync_Partner1"]) == (title, "P1")
    bulk.import_rows(fields, "Id", [{"Id": "2", "Title": "New", "Partner": "P2"}], updateRule="ifExistingIsNull")
    assert (eloqua.contact_by_id(2)["C_Title"], eloqua.contact_by_id(2)["C_LeadSync_Partner1"]) == (title, "P1")
    bulk.import_rows(fields, "Id", [{"Id": "2", "Title": "", "Partner": "P3"}])
    assert (eloqua.contact_by_id(2)["C_Title"], eloqua.contact_by_id(2)["C_LeadSync_Partner1"]) == (None, "P3")


def test_csv_upload_and_sync_triggered_on_import(eloqua, bulk, field):
    email = eloqua.contact_by_id(3)["C_EmailAddress"]
    definition = bulk.define("contacts", "imports", {
        "name": "csv", "fields": {"Email": field("C_EmailAddress"), "Status": field("C_LeadSync_Distribution_Status1")},
        "identifierFieldName": "Email", "isSyncTriggeredOnImport": True})
    answer = bulk.http.post(bulk.url(f"{definition['uri']}/data"), headers={"Content-Type": "text/csv"},
                            data=f"Email,Status\r\n{email},\"Rejected, duplicate\"\r\n".encode())
    assert answer.status_code == 201 and answer.json()["status"] == "pending"
    assert bulk.wait(answer.json()["uri"])["status"] == "success"
    assert eloqua.contact_by_id(3)["C_LeadSync_Distribution_Status1"] == "Rejected, duplicate"


def test_several_uploads_before_one_sync(eloqua, bulk, field):
    definition = bulk.define("contacts", "imports", {"name": "batches", "identifierFieldName": "Id",
                                                     "fields": {"Id": "{{Contact.Id}}", "S": field("C_LeadSync_Sales_Status1")}})
    for contact_id in (4, 5, 6):
        assert bulk.http.post(bulk.url(f"{definition['uri']}/data"),
                              json=[{"Id": contact_id, "S": "Working"}]).status_code == 204
    finished = bulk.wait(bulk.sync(definition["uri"])["uri"])
    assert finished["status"] == "success"
    assert [eloqua.contact_by_id(i)["C_LeadSync_Sales_Status1"] for i in (4, 5, 6)] == ["Working"] * 3
    again = bulk.wait(bulk.sync(definition["uri"])["uri"])  # staging was emptied by the first sync
    assert {log["statusCode"]: log["count"] for log in bulk.logs(again["uri"])}["ELQ-00001"] == 0


def test_invalid_import_definitions_and_uploads(bulk, field):
    def define(body: dict):
        return bulk.http.post(bulk.url("/contacts/imports"), json={"name": "x", **body})
    no_identifier = define({"fields": {"Email": field("C_EmailAddress")}})
    assert no_identifier.json()["failures"][0]["field"] == "identifierFieldName"
    not_unique = define({"fields": {"Title": field("C_Title")}, "identifierFieldName": "Title"})
    assert "uniqueness" in not_unique.json()["failures"][0]["constraint"]
    read_only = define({"fields": {"Email": field("C_EmailAddress"), "Mod": field("C_DateModified")},
                        "identifierFieldName": "Email"})
    assert read_only.json()["failures"][0]["field"] == "fields.Mod"
    too_many = define({"fields": {f"F{i}": field("C_Title") for i in range(101)}, "identifierFieldName": "F0"})
    assert "at most 100" in too_many.json()["failures"][0]["constraint"]
    ok = bulk.define("contacts", "imports", {"name": "x", "fields": {"Email": field("C_EmailAddress")},
                                             "identifierFieldName": "Email"})
    unknown = bulk.http.post(bulk.url(f"{ok['uri']}/data"), json=[{"Email": "a@b.example", "Other": "x"}])
    assert unknown.status_code == 400 and unknown.json()["failures"][0]["field"] == "Other"
    oversize = bulk.http.post(bulk.url(f"{ok['uri']}/data"), data=b" " * (32 * 1024 * 1024 + 1),
                              headers={"Content-Type": "application/json"})
    assert oversize.status_code == 404  # Eloqua's answer to uploads over 32 MB


def test_bad_record_switch_rejects_the_next_import_touching_an_email(eloqua, bulk, field):
    email = eloqua.contact_by_id(8)["C_EmailAddress"]
    eloqua.reject_next_import_of(email, "Contact is locked by another process.", "ELQ-00032")
    fields = {"Email": field("C_EmailAddress"), "S": field("C_LeadSync_Distribution_Status1")}
    rows = [{"Email": email, "S": "Distributed"}, {"Email": eloqua.contact_by_id(9)["C_EmailAddress"], "S": "Distributed"}]
    first = bulk.import_rows(fields, "Email", rows)
    assert first["status"] == "warning"
    (reject,) = bulk.rejects(first["uri"])
    assert (reject["recordIndex"], reject["message"]) == (1, "Contact is locked by another process.")
    assert eloqua.contact_by_id(8)["C_LeadSync_Distribution_Status1"] is None
    assert bulk.import_rows(fields, "Email", rows)["status"] == "success"  # the retry goes through
    assert eloqua.contact_by_id(8)["C_LeadSync_Distribution_Status1"] == "Distributed"


def test_custom_object_import_keyed_by_external_id_updates_instead_of_duplicating(eloqua, bulk):
    email = eloqua.contact_by_id(11)["C_EmailAddress"]
    fields = {"ExternalId": "{{CustomObject[1].Field[101]}}", "Email": "{{CustomObject[1].Field[102]}}",
              "Name": "{{CustomObject[1].Field[103]}}", "Stage": "{{CustomObject[1].Field[104]}}",
              "Amount": "{{CustomObject[1].Field[105]}}", "CloseDate": "{{CustomObject[1].Field[106]}}",
              "Partner": "{{CustomObject[1].Field[107]}}"}
    link = {"mapDataCards": True, "mapDataCardsSourceField": "Email", "mapDataCardsEntityType": "Contact",
            "mapDataCardsEntityField": "{{Contact.Field(C_EmailAddress)}}", "mapDataCardsCaseSensitiveMatch": False}
    row = {"ExternalId": "006XYZ", "Email": email, "Name": "Firewall refresh", "Stage": "Qualification",
           "Amount": "25000", "CloseDate": "2031-03-31", "Partner": "Acme Partners"}
    first = bulk.import_rows(fields, "ExternalId", [row], entity="customObjects/1", **link)
    assert first["status"] == "success"
    second = bulk.import_rows(fields, "ExternalId", [{**row, "ExternalId": "006xyz", "Stage": "Closed Won"}],
                              entity="customObjects/1", **link)
    assert second["status"] == "success"
    (record,) = eloqua.custom_object_records(1)
    assert record["Stage"] == "Closed Won" and record["Amount"] == 25000.0 and record["contact_id"] == 11
    assert record["Close Date"] == datetime(2031, 3, 31)
    counts = {log["statusCode"]: log["count"] for log in bulk.logs(second["uri"])}
    assert (counts["ELQ-00007"], counts["ELQ-00012"], counts["ELQ-00025"]) == (0, 1, 1)
    exported = bulk.all_rows(bulk.export({"Ext": "{{CustomObject[1].Field[101]}}", "Stage": "{{CustomObject[1].Field[104]}}",
                                          "ContactId": "{{CustomObject[1].Contact.Id}}"}, entity="customObjects/1"))
    assert exported == [{"Ext": "006XYZ", "Stage": "Closed Won", "ContactId": "11"}]
    rest = bulk.http.get(f"{bulk.conn.rest('2.0')}/data/customObject/1/instances").json()
    assert rest["total"] == 1 and rest["elements"][0]["uniqueCode"] == "006XYZ"


def test_custom_object_not_null_and_unknown_records(bulk):
    fields = {"EventId": "{{CustomObject[2].Field[201]}}", "Type": "{{CustomObject[2].Field[204]}}",
              "When": "{{CustomObject[2].Field[205]}}"}
    sync = bulk.import_rows(fields, "EventId", [{"EventId": "", "Type": "Webinar"},
                                                {"EventId": "EV-1", "Type": "Webinar", "When": "someday"},
                                                {"EventId": "EV-2", "Type": "Booth visit", "When": "2031-02-03 10:00:00"}],
                            entity="customObjects/2")
    assert sync["status"] == "warning"
    assert [(r["recordIndex"], r["statusCode"]) for r in bulk.rejects(sync["uri"])] == [(1, "ELQ-00061"),
                                                                                       (2, "ELQ-00032")]
    by_id = bulk.import_rows({"Id": "{{CustomObject[2].Id}}", "Type": "{{CustomObject[2].Field[204]}}"}, "Id",
                             [{"Id": "77", "Type": "x"}], entity="customObjects/2")
    assert bulk.rejects(by_id["uri"])[0]["message"] == "Custom object record does not exist."
    assert bulk.http.post(bulk.url("/customObjects/9/imports"), json={"name": "x"}).status_code == 404


def test_custom_objects_added_by_the_caller(eloqua, bulk):
    co = eloqua.add_custom_object("Deal Registration", [("Registration Id", "text", True), ("Deal Size", "number")])
    fields = bulk.http.get(bulk.url(f"/customObjects/{co.id}/fields")).json()["items"]
    statements = {f["name"]: f["statement"] for f in fields}
    sync = bulk.import_rows({"Reg": statements["Registration Id"], "Size": statements["Deal Size"]}, "Reg",
                            [{"Reg": "R-1", "Size": "12.5"}], entity=f"customObjects/{co.id}")
    assert sync["status"] == "success"
    assert eloqua.custom_object_records(co.id)[0]["Deal Size"] == 12.5
