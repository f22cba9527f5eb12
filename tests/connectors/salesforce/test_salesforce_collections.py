"""sObject Collections through `sf.restful("composite/sobjects", ...)`: per-record results, one bad record
failing alone, allOrNone rollback, upsert by external id and the 200-record limit."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


def _lead(**values) -> dict:
    return {"attributes": {"type": "Lead"}, **values}


def test_create_returns_one_result_per_record_in_order(sf):
    results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        _lead(LastName="A", Company="X"), _lead(LastName="B"), _lead(LastName="C", Company="Z")]})

    assert [r["success"] for r in results] == [True, False, True]
    assert results[0]["id"].startswith("00Q") and results[0]["errors"] == []
    assert results[1] == {"success": False, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING",
                                                         "message": "Required fields are missing: [Company]",
                                                         "fields": ["Company"]}]}


def test_one_bad_record_in_an_update_batch_fails_alone(org, sf, make_leads):
    ids = make_leads(5)
    bad = org.get("Lead", ids[2])["Email"]
    org.faults.reject_records(emails=[bad])

    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        _lead(id=i, LeadSync_Distribution_Status__c="routed", LeadSync_Partner__c="northwind") for i in ids]})

    assert [r["success"] for r in results] == [True, True, False, True, True]
    assert results[2]["id"] == ids[2]
    assert results[2]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert org.get("Lead", ids[2])["LeadSync_Distribution_Status__c"] is None
    assert org.get("Lead", ids[0])["LeadSync_Distribution_Status__c"] == "routed"


def test_a_rejection_can_be_one_shot(org, sf, make_leads):
    [lead] = make_leads(1)
    org.faults.reject_records(ids=[lead], times=1)
    body = {"allOrNone": False, "records": [_lead(id=lead, Title="CIO")]}

    assert sf.restful("composite/sobjects", method="PATCH", json=body)[0]["success"] is False
    assert sf.restful("composite/sobjects", method="PATCH", json=body)[0]["success"] is True


def test_all_or_none_rolls_every_record_back(org, sf, make_leads):
    ids = make_leads(3)

    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": [
        _lead(id=ids[0], Title="CIO"), _lead(id=ids[1], LeadSync_Sales_Status__c="Bogus"),
        _lead(id=ids[2], Title="CTO")]})

    assert [r["success"] for r in results] == [False, False, False]
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert org.get("Lead", ids[0])["Title"] is None and org.get("Lead", ids[2])["Title"] is None


def test_all_or_none_create_leaves_nothing_behind(org, sf):
    sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        _lead(LastName="A", Company="X"), _lead(LastName="B")]})

    assert org.count("Lead") == 0


def test_upsert_by_external_id_reports_created(sf):
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "Opportunity"}, "LeadSync_External_Id__c": "opp-1", "Name": "Deal 1",
         "StageName": "Prospecting", "CloseDate": "2026-12-31"},
        {"attributes": {"type": "Opportunity"}, "LeadSync_External_Id__c": "opp-2", "Name": "Deal 2",
         "StageName": "Nope", "CloseDate": "2026-12-31"}]}

    first = sf.restful("composite/sobjects/Opportunity/LeadSync_External_Id__c", method="PATCH", json=body)
    body["records"][0]["Amount"] = 12_000
    again = sf.restful("composite/sobjects/Opportunity/LeadSync_External_Id__c", method="PATCH", json=body)

    assert (first[0]["success"], first[0]["created"]) == (True, True)
    assert (again[0]["success"], again[0]["created"], again[0]["id"]) == (True, False, first[0]["id"])
    assert first[1]["success"] is False


def test_tasks_upsert_by_leadsync_event_id(sf):
    lead = sf.Lead.create({"LastName": "A", "Company": "B"})["id"]
    record = {"attributes": {"type": "Task"}, "LeadSync_Event_Id__c": "evt-1", "WhoId": lead,
              "Subject": "Lead routed to Northwind", "Status": "Completed"}

    result = sf.restful("composite/sobjects/Task/LeadSync_Event_Id__c", method="PATCH",
                        json={"allOrNone": False, "records": [record]})

    assert result[0]["created"] is True
    assert sf.query(f"SELECT Id FROM Task WHERE WhoId = '{lead}'")["totalSize"] == 1


def test_more_than_200_records_is_refused_whole(sf):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
            _lead(LastName=str(i), Company="X") for i in range(201)]})

    assert failure.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_an_unknown_field_refuses_the_whole_request(sf):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.restful("composite/sobjects", method="POST", json={"records": [_lead(LastName="A", Foo__c=1)]})

    assert failure.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_delete_and_retrieve(org, sf, make_leads):
    ids = make_leads(3)

    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(ids[:2])})
    fetched = sf.restful("composite/sobjects/Lead", method="GET",
                         params={"ids": ",".join(ids), "fields": "Id,LastName"})

    assert [d["success"] for d in deleted] == [True, True]
    assert fetched[:2] == [None, None] and fetched[2]["LastName"] == "Lead2"
