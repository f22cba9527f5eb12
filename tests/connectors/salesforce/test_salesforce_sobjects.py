"""Describe and single-record writes: what simple-salesforce's SFType calls see, Salesforce's validation
errors, ids, and the audit timestamps every write sets."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from leadsync.connectors.salesforce.sandbox import FieldSpec, SalesforceSandbox

PREFIXES = {"Lead": "00Q", "Contact": "003", "Account": "001", "Campaign": "701", "CampaignMember": "00v",
            "Task": "00T", "Event": "00U", "Opportunity": "006"}


def test_lead_describe_has_the_real_shape(sf):
    described = sf.Lead.describe()
    fields = {f["name"]: f for f in described["fields"]}

    assert described["name"] == "Lead" and described["keyPrefix"] == "00Q"
    assert described["urls"]["describe"] == "/services/data/v59.0/sobjects/Lead/describe"
    for name in ("Id", "Email", "Company", "Country", "State", "PostalCode", "Status", "SystemModstamp",
                 "IsDeleted", "OwnerId", "NumberOfEmployees", "LeadSync_Distribution_Status__c"):
        assert name in fields
    status = fields["LeadSync_Distribution_Status__c"]
    assert status["type"] == "picklist" and status["custom"] is True and status["restrictedPicklist"] is True
    assert [v["value"] for v in status["picklistValues"]] == ["routed", "unassigned", "accepted", "rejected",
                                                              "withdrawn", "rerouted", "needs_review", "registered"]
    assert fields["LeadSync_Lead_Key__c"]["externalId"] is True
    assert fields["Email"]["type"] == "email" and fields["Email"]["length"] == 80
    assert fields["Company"]["nillable"] is False and fields["Name"]["updateable"] is False
    assert {"label", "updateable", "createable", "nillable", "length", "picklistValues"} <= set(fields["Email"])


def test_opportunity_and_task_carry_leadsyncs_external_ids(sf):
    opportunity = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    task = {f["name"]: f for f in sf.Task.describe()["fields"]}

    assert opportunity["LeadSync_External_Id__c"]["externalId"] and opportunity["LeadSync_External_Id__c"]["unique"]
    assert opportunity["LeadSync_Lead__c"]["referenceTo"] == ["Lead"]
    assert [v["value"] for v in opportunity["StageName"]["picklistValues"]][-1] == "Closed Lost"
    assert task["LeadSync_Event_Id__c"]["externalId"] is True


def test_callers_add_custom_fields_and_picklists():
    extra = {"Lead": [FieldSpec("Partner_Tier__c", "picklist", picklist_values=("Gold", "Silver"),
                                restricted_picklist=True)]}
    with SalesforceSandbox(extra_fields=extra, picklists={"Lead": {"Status": ["New", "Working"]}}) as org:
        sf = org.connect("session")
        fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}

        assert [v["value"] for v in fields["Partner_Tier__c"]["picklistValues"]] == ["Gold", "Silver"]
        created = sf.Lead.create({"LastName": "X", "Company": "Y", "Partner_Tier__c": "Gold"})
        assert sf.Lead.get(created["id"])["Status"] == "New"  # a required picklist defaults to its first value
        with pytest.raises(SalesforceMalformedRequest):
            sf.Lead.create({"LastName": "X", "Company": "Y", "Partner_Tier__c": "Bronze"})


def test_global_describe_lists_the_objects(sf):
    names = {o["name"]: o["keyPrefix"] for o in sf.describe()["sobjects"]}

    assert {name: names[name] for name in PREFIXES} == PREFIXES


def test_create_update_and_read_back(org, sf):
    created = sf.Lead.create({"LastName": "Okafor", "Company": "Globex", "Email": "kemi@globex.example",
                              "Country": "GB", "NumberOfEmployees": 250})

    assert created["success"] is True and created["errors"] == [] and created["id"].startswith("00Q")
    assert sf.Lead.update(created["id"], {"LeadSync_Distribution_Status__c": "routed",
                                          "LeadSync_Partner__c": "albion"}) == 204
    record = sf.Lead.get(created["id"])
    assert record["LeadSync_Distribution_Status__c"] == "routed" and record["Name"] == "Okafor"
    assert record["Status"] == "Open - Not Contacted" and record["OwnerId"] == org.credentials.user_id


@pytest.mark.parametrize("object_name, values", [
    ("Contact", {"LastName": "Silva"}), ("Account", {"Name": "Initech"}), ("Campaign", {"Name": "Webinar"}),
    ("Task", {"Subject": "Call"}), ("Event", {"Subject": "Demo", "DurationInMinutes": 30}),
])
def test_each_object_gets_ids_with_its_key_prefix(sf, object_name, values):
    created = getattr(sf, object_name).create(values)

    assert len(created["id"]) == 18 and created["id"][:3] == PREFIXES[object_name]


def test_every_write_moves_systemmodstamp_and_lastmodifieddate(org, sf):
    org.clock.freeze("2026-11-23T10:15:30Z")
    lead = sf.Lead.create({"LastName": "A", "Company": "B"})["id"]
    org.clock.advance(90)

    sf.Lead.update(lead, {"Title": "CTO"})

    record = sf.Lead.get(lead)
    assert record["CreatedDate"] == "2026-11-23T10:15:30.000+0000"
    assert record["LastModifiedDate"] == record["SystemModstamp"] == "2026-11-23T10:17:00.000+0000"


def test_tests_can_set_system_timestamps_directly(org, make_leads):
    ids = make_leads(3)

    org.set_fields("Lead", ids, SystemModstamp="2026-11-20T08:00:00Z")

    assert {org.get("Lead", i)["SystemModstamp"] for i in ids} == {"2026-11-20T08:00:00.000+0000"}


def test_upsert_by_external_id_creates_then_updates(sf):
    first = sf.Lead.upsert("LeadSync_Lead_Key__c/lk-1", {"LastName": "Rossi", "Company": "Hooli"},
                           raw_response=True)
    second = sf.Lead.upsert("LeadSync_Lead_Key__c/lk-1", {"Title": "CIO"}, raw_response=True)

    assert first.status_code == 201 and first.json()["created"] is True
    assert second.status_code == 200 and second.json() == {"id": first.json()["id"], "success": True,
                                                           "errors": [], "created": False}
    assert sf.Lead.get_by_custom_id("LeadSync_Lead_Key__c", "lk-1")["Title"] == "CIO"


def test_upsert_answers_204_on_old_api_versions(org):
    sf = org.connect("session", version="45.0")
    sf.Opportunity.upsert("LeadSync_External_Id__c/o-1", {"Name": "Deal", "StageName": "Prospecting",
                                                          "CloseDate": "2026-12-31"})

    assert sf.Opportunity.upsert("LeadSync_External_Id__c/o-1", {"Amount": 5000}) == 204


def test_upsert_on_a_field_that_is_not_an_external_id_is_not_found(sf):
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.upsert("Email/a@b.example", {"LastName": "X", "Company": "Y"})


def test_a_bad_restricted_picklist_value_is_refused(sf):
    lead = sf.Lead.create({"LastName": "A", "Company": "B"})["id"]

    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Lead.update(lead, {"LeadSync_Distribution_Status__c": "shipped"})

    assert failure.value.content == [{
        "message": "LeadSync Distribution Status: bad value for restricted picklist field: shipped",
        "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "fields": ["LeadSync_Distribution_Status__c"]}]


def test_a_missing_required_field_is_refused(sf):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Lead.create({"LastName": "A"})

    assert failure.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert failure.value.content[0]["fields"] == ["Company"]


def test_an_unknown_field_is_refused(sf):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Lead.create({"LastName": "A", "Company": "B", "Partner__c": "x"})

    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert failure.value.content[0]["message"] == "No such column 'Partner__c' on sobject of type Lead"


def test_read_only_fields_and_bad_emails_are_refused(sf):
    lead = sf.Lead.create({"LastName": "A", "Company": "B"})["id"]

    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sf.Lead.update(lead, {"SystemModstamp": "2026-01-01T00:00:00Z"})
    with pytest.raises(SalesforceMalformedRequest) as email:
        sf.Lead.update(lead, {"Email": "not-an-email"})

    assert read_only.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert email.value.content[0]["errorCode"] == "INVALID_EMAIL_ADDRESS"


def test_a_duplicate_unique_external_id_is_refused(sf):
    values = {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31",
              "LeadSync_External_Id__c": "opp-7"}
    sf.Opportunity.create(values)

    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Opportunity.create(values)

    assert failure.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_unknown_and_deleted_records(sf):
    lead = sf.Lead.create({"LastName": "A", "Company": "B"})["id"]
    sf.Lead.delete(lead)

    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get(lead)
    with pytest.raises(SalesforceResourceNotFound) as deleted:
        sf.Lead.update(lead, {"Title": "x"})
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.update("00Q8d00009ZZZZZEAA", {"Title": "x"})
    assert deleted.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_lookup_ids_must_point_at_the_right_object(sf):
    campaign = sf.Campaign.create({"Name": "Webinar"})["id"]
    lead = sf.Lead.create({"LastName": "A", "Company": "B"})["id"]

    member = sf.CampaignMember.create({"CampaignId": campaign, "LeadId": lead, "Status": "Responded"})
    with pytest.raises(SalesforceMalformedRequest) as wrong_object:
        sf.CampaignMember.create({"CampaignId": lead, "LeadId": lead})
    with pytest.raises(SalesforceMalformedRequest) as twice:
        sf.CampaignMember.create({"CampaignId": campaign, "LeadId": lead})

    assert sf.CampaignMember.get(member["id"])["HasResponded"] is True
    assert wrong_object.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert twice.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_limits_resource_reports_the_daily_allocation(sf):
    limits = sf.limits()

    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert limits["DailyApiRequests"]["Remaining"] == 100_000 - sf.api_usage["api-usage"].used
