"""Bulk API 2.0: query jobs read page by page with the Sforce-Locator protocol, ingest jobs with successful
and failed results, through simple-salesforce's bulk2 client and raw HTTP."""

from __future__ import annotations

import csv
import io
import time

import pytest
from simple_salesforce.exceptions import SalesforceOperationError


def _rows(page: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(page)))


def _api(org):
    """(session, base URL, headers) for raw calls."""
    return org.session(), f"{org.url}/services/data/v59.0", {"Authorization": f"Bearer {org.issue_token()}"}


def _wait(session, url, headers) -> dict:
    for _ in range(200):
        info = session.get(url, headers=headers).json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return info
        time.sleep(0.01)
    raise AssertionError(f"job did not finish: {info}")


def test_bulk2_query_yields_csv_pages_of_every_lead(seeded_sf):
    pages = list(seeded_sf.bulk2.Lead.query("SELECT Id, Email, Country FROM Lead", max_records=1000, wait=0))

    rows = [row for page in pages for row in _rows(page)]
    assert len(pages) == 3 and [len(_rows(p)) for p in pages] == [1000, 1000, 500]
    assert len({r["Id"] for r in rows}) == 2500
    assert pages[0].splitlines()[0] == '"Id","Email","Country"'


def test_results_follow_the_locator_protocol(seeded):
    session, base, headers = _api(seeded)
    job = session.post(f"{base}/jobs/query", headers=headers,
                       json={"operation": "query", "query": "SELECT Id, NumberOfEmployees FROM Lead"}).json()
    assert job["state"] == "UploadComplete" and job["id"].startswith("750") and job["object"] == "Lead"
    info = _wait(session, f"{base}/jobs/query/{job['id']}", headers)
    assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == 2500
    assert info["jobType"] == "V2Query"

    locators, counts, locator = [], [], None
    while True:
        params = {"maxRecords": 1200, **({"locator": locator} if locator else {})}
        page = session.get(f"{base}/jobs/query/{job['id']}/results", headers=headers, params=params)
        assert page.headers["Content-Type"].startswith("text/csv")
        counts.append(int(page.headers["Sforce-NumberOfRecords"]))
        locator = page.headers["Sforce-Locator"]
        locators.append(locator)
        if locator == "null":
            break
    assert counts == [1200, 1200, 100]
    assert locators[-1] == "null" and "null" not in locators[:-1]


def test_csv_values_are_quoted_and_nulls_are_empty(org, sf):
    org.insert("Lead", [{"LastName": 'O"Brien, Jr.', "Company": "Acme\nLabs", "NumberOfEmployees": 12}])

    [page] = list(sf.bulk2.Lead.query("SELECT LastName, Company, Title, NumberOfEmployees, IsDeleted FROM Lead",
                                      wait=0))

    assert page == '"LastName","Company","Title","NumberOfEmployees","IsDeleted"\n' \
                   '"O""Brien, Jr.","Acme\nLabs",,"12","false"\n'


def test_query_all_job_includes_deleted_leads(org, sf, make_leads):
    keep, gone = make_leads(2)
    sf.Lead.delete(gone)

    live = [r["Id"] for p in sf.bulk2.Lead.query("SELECT Id FROM Lead", wait=0) for r in _rows(p)]
    everything = [r["Id"] for p in sf.bulk2.Lead.query_all("SELECT Id FROM Lead", wait=0) for r in _rows(p)]

    assert live == [keep] and sorted(everything) == sorted([keep, gone])


def test_a_bad_query_is_refused_when_the_job_is_created(seeded):
    session, base, headers = _api(seeded)

    response = session.post(f"{base}/jobs/query", headers=headers,
                            json={"operation": "query", "query": "SELECT Id, Nope FROM Lead"})

    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_FIELD"


def test_a_failed_job_raises_in_simple_salesforce(org, sf):
    org.faults.fail_next_bulk_jobs(1)

    with pytest.raises(SalesforceOperationError, match="InternalServerError"):
        list(sf.bulk2.Lead.query("SELECT Id FROM Lead", wait=0))


def test_bulk2_insert_reports_successful_and_failed_records(org, sf):
    [result] = sf.bulk2.Lead.insert(records=[
        {"LastName": "Kim", "Company": "Hooli", "Email": "kim@hooli.example"},
        {"LastName": "Lee", "Company": "Hooli", "LeadSync_Distribution_Status__c": "Nope"},
        {"LastName": "Ng", "Company": "Hooli"}], wait=0)

    assert result["numberRecordsProcessed"] == 3 and result["numberRecordsFailed"] == 1
    successful = _rows(sf.bulk2.Lead.get_successful_records(result["job_id"]))
    failed = _rows(sf.bulk2.Lead.get_failed_records(result["job_id"]))
    assert [r["LastName"] for r in successful] == ["Kim", "Ng"]
    assert all(r["sf__Id"].startswith("00Q") and r["sf__Created"] == "true" for r in successful)
    assert failed[0]["LastName"] == "Lee" and failed[0]["sf__Id"] == ""
    assert failed[0]["sf__Error"] == ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:LeadSync Distribution Status: bad "
                                      "value for restricted picklist field: Nope:LeadSync_Distribution_Status__c --")
    assert org.count("Lead") == 2


def test_bulk2_upsert_creates_and_updates_by_external_id_with_one_injected_bad_record(org, sf, make_leads):
    existing = org.insert("Lead", [{"LastName": "Old", "Company": "Acme", "LeadSync_Lead_Key__c": "k-1"}])[0]
    org.faults.reject_records(values=["k-3"], message="Partner leads cannot be edited")

    [result] = sf.bulk2.Lead.upsert(records=[
        {"LeadSync_Lead_Key__c": "k-1", "LastName": "Old", "LeadSync_Distribution_Status__c": "accepted"},
        {"LeadSync_Lead_Key__c": "k-2", "LastName": "New", "Company": "Acme"},
        {"LeadSync_Lead_Key__c": "k-3", "LastName": "Bad", "Company": "Acme"}],
        external_id_field="LeadSync_Lead_Key__c", wait=0)

    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (3, 1)
    successful = {r["LeadSync_Lead_Key__c"]: r for r in _rows(sf.bulk2.Lead.get_successful_records(result["job_id"]))}
    assert successful["k-1"]["sf__Id"] == existing and successful["k-1"]["sf__Created"] == "false"
    assert successful["k-2"]["sf__Created"] == "true"
    [failed] = _rows(sf.bulk2.Lead.get_failed_records(result["job_id"]))
    assert failed["sf__Error"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION:Partner leads cannot be edited: --"
    assert org.get("Lead", existing)["LeadSync_Distribution_Status__c"] == "accepted"


def test_empty_cells_leave_fields_alone_and_na_clears_them(org, sf):
    lead = org.insert("Lead", [{"LastName": "A", "Company": "B", "Title": "CIO", "Phone": "+1 555"}])[0]

    sf.bulk2.Lead.update(csv_file=None, records=[{"Id": lead, "Title": "", "Phone": "#N/A"}], wait=0)

    record = org.get("Lead", lead)
    assert record["Title"] == "CIO" and record["Phone"] is None


def test_an_unknown_column_fails_the_whole_job(org, sf):
    with pytest.raises(SalesforceOperationError, match="Field name not found : Nope__c"):
        sf.bulk2.Lead.insert(records=[{"LastName": "A", "Company": "B", "Nope__c": "x"}], wait=0)


def test_ingest_job_lifecycle_over_raw_http(org, make_leads):
    ids = make_leads(2)
    session, base, headers = _api(org)
    job = session.post(f"{base}/jobs/ingest", headers=headers, json={
        "object": "Lead", "operation": "update", "contentType": "CSV", "lineEnding": "CRLF",
        "columnDelimiter": "SEMICOLON"}).json()
    assert job["state"] == "Open" and job["contentUrl"].endswith(f"/jobs/ingest/{job['id']}/batches")

    upload = session.put(f"{base}/jobs/ingest/{job['id']}/batches", headers={**headers, "Content-Type": "text/csv"},
                         data=f"Id;Title\r\n{ids[0]};CIO\r\n{ids[1]};CTO\r\n".encode())
    closed = session.patch(f"{base}/jobs/ingest/{job['id']}", headers=headers, json={"state": "UploadComplete"})
    info = _wait(session, f"{base}/jobs/ingest/{job['id']}", headers)
    results = session.get(f"{base}/jobs/ingest/{job['id']}/successfulResults/", headers=headers)

    assert upload.status_code == 201 and upload.content == b""
    assert closed.json()["state"] == "UploadComplete"
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == ("JobComplete", 2, 0)
    assert results.text.splitlines()[0] == '"sf__Id";"sf__Created";"Id";"Title"'
    assert org.get("Lead", ids[1])["Title"] == "CTO"
