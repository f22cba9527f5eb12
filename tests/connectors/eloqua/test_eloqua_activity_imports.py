"""Eloqua Bulk API 2.0 activity imports, through a client written here from Oracle's documented flow: `/id` for
the Bulk base URL, an activity import definition (`activityType`, `{{Activity.…}}` fields), a data upload, a
sync with its logs and rejects, then an activity export of that type that reads the imported activity back."""

from __future__ import annotations

import pytest
import requests
from documented_client import DocumentedClient

from leadsync.connectors.eloqua.sandbox import EloquaSandbox

FIELDS = {"ActivityType": "{{Activity.Type}}", "ActivityDate": "{{Activity.CreatedAt}}",
          "EmailAddress": "{{Activity.Field(EmailAddress)}}", "AssetName": "{{Activity.Asset.Name}}",
          "AssetType": "{{Activity.Asset.Type}}", "CampaignId": "{{Activity.Campaign.Id}}"}


@pytest.fixture
def eloqua():
    with EloquaSandbox(seed_contacts=20, sync_delay_s=0.001) as server:
        yield DocumentedClient(server)


def test_an_activity_import_creates_activities_for_known_contacts_and_rejects_unknown_ones(eloqua):
    contact = eloqua.export("contacts", {"Id": "{{Contact.Id}}", "Email": "{{Contact.Field(C_EmailAddress)}}"})[0]
    definition = eloqua.http.post(f"{eloqua.bulk}/activities/imports", json={
        "name": "Webinar form submits", "fields": FIELDS, "activityType": "FormSubmit"})
    assert definition.status_code == 201, definition.text
    uri = definition.json()["uri"]
    assert uri.startswith("/activities/imports/") and definition.json()["activityType"] == "FormSubmit"
    rows = [{"ActivityType": "FormSubmit", "ActivityDate": "2026-11-30 09:15:00", "EmailAddress": contact["Email"],
             "AssetName": "Webinar signup", "AssetType": "Form", "CampaignId": "4242"},
            {"ActivityType": "FormSubmit", "ActivityDate": "2026-11-30 09:16:00",
             "EmailAddress": "nobody@unknown.example", "AssetName": "Webinar signup", "AssetType": "Form",
             "CampaignId": "4242"}]
    upload = eloqua.http.post(f"{eloqua.bulk}{uri}/data", json=rows)
    assert upload.status_code == 204 and upload.content == b""

    sync = eloqua.sync(uri)
    assert sync["status"] == "warning" and sync["syncedInstanceUri"] == uri
    logs = eloqua.http.get(f"{eloqua.bulk}{sync['uri']}/logs").json()["items"]
    assert {(log["statusCode"], log["message"], log["count"]) for log in logs} >= {
        ("ELQ-00001", "Total records processed.", 2), ("ELQ-00006", "Activities created.", 1),
        ("ELQ-00060", "Total rejected records.", 1)}
    (reject,) = eloqua.http.get(f"{eloqua.bulk}{sync['uri']}/rejects").json()["items"]
    assert reject["statusCode"] == "ELQ-00085" and reject["message"] == "Contact does not exist."
    assert reject["recordIndex"] == 2 and reject["invalidFields"] == ["EmailAddress"]
    assert reject["fieldValues"]["EmailAddress"] == "nobody@unknown.example"

    exported = eloqua.export("activities", {
        "ActivityId": "{{Activity.Id}}", "ActivityType": "{{Activity.Type}}",
        "ActivityDate": "{{Activity.CreatedAt}}", "ContactId": "{{Activity.Contact.Id}}",
        "EmailAddress": "{{Activity.Contact.Field(C_EmailAddress)}}", "CampaignId": "{{Activity.Campaign.Id}}"},
        filter="'{{Activity.Type}}'='FormSubmit' AND '{{Activity.Campaign.Id}}'='4242'")
    assert [(r["ActivityType"], r["ActivityDate"], r["ContactId"], r["EmailAddress"]) for r in exported] == [
        ("FormSubmit", "2026-11-30 09:15:00.000", contact["Id"], contact["Email"])]


def test_activity_import_definitions_are_validated(eloqua):
    def create(body: dict) -> requests.Response:
        return eloqua.http.post(f"{eloqua.bulk}/activities/imports", json={"name": "bad", **body})

    no_type = create({"fields": FIELDS})
    unknown_field = create({"fields": {**FIELDS, "Subject": "{{Activity.Field(Nonsense)}}"},
                            "activityType": "FormSubmit"})
    wrong_type = create({"fields": FIELDS, "activityType": "WebVisit"})  # web visits have no asset or campaign
    no_contact = create({"fields": {"ActivityDate": "{{Activity.CreatedAt}}"}, "activityType": "EmailOpen"})

    assert no_type.status_code == 400 and no_type.json()["failures"][0]["field"] == "activityType"
    assert unknown_field.status_code == 400
    assert [f["field"] for f in unknown_field.json()["failures"]] == ["fields.Subject"]
    assert wrong_type.status_code == 400 and [f["field"] for f in wrong_type.json()["failures"]] == [
        "fields.AssetName", "fields.AssetType", "fields.CampaignId"]
    assert no_contact.status_code == 400 and no_contact.json()["failures"][0]["field"] == "fields"
