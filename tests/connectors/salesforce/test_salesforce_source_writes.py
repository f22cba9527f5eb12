"""SalesforceSource writes against the sandbox: record updates through sObject Collections and Bulk API 2.0
ingest, one result per row with a bad record failing alone, opportunities and events upserted by external
id."""

from __future__ import annotations

import pandas as pd
import pytest

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.salesforce.sandbox import FieldSpec, ObjectSpec, SalesforceSandbox, Schema
from leadsync.connectors.source_api import EVENT_COLUMNS, OPPORTUNITY_COLUMNS, RESULT_COLUMNS


def routed(ids: list[str], **fields) -> pd.DataFrame:
    return pd.DataFrame([{"key": f"k{n}", "record_id": i, "LeadSync_Distribution_Status__c": "routed",
                          "LeadSync_Partner__c": "northwind", **fields} for n, i in enumerate(ids)])


def ingest_jobs(org) -> int:
    return len(org.org.bulk.list("ingest"))


# ---------------------------------------------------------------------------------------------- records


def test_updates_land_and_one_bad_record_fails_alone_until_retried(org, make_leads, source_for):
    ids = make_leads(5)
    org.faults.reject_records(emails=["lead2@acme.example"], times=1, message="Partner leads are locked")
    source = source_for(org)

    results = source.write_records(routed(ids))

    assert list(results.columns) == RESULT_COLUMNS
    assert results["key"].tolist() == ["k0", "k1", "k2", "k3", "k4"]
    assert results["ok"].tolist() == [True, True, False, True, True]
    assert results.loc[2, "error"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Partner leads are locked"
    assert results.loc[results["ok"], "error"].isna().all()
    partners = [org.get("Lead", i)["LeadSync_Partner__c"] for i in ids]
    assert partners == ["northwind", "northwind", None, "northwind", "northwind"]
    assert ingest_jobs(org) == 0  # small volumes go through sObject Collections

    retry = source.write_records(routed(ids).iloc[[2]])
    assert retry["ok"].tolist() == [True] and org.get("Lead", ids[2])["LeadSync_Partner__c"] == "northwind"


def test_field_problems_fail_their_record_with_salesforces_error(org, make_leads, source_for):
    ids = make_leads(3)
    updates = routed(ids)
    updates.loc[1, "LeadSync_Distribution_Status__c"] = "teleported"
    updates.loc[2, "record_id"] = None

    results = source_for(org).write_records(updates)

    assert results["ok"].tolist() == [True, False, False]
    assert results.loc[1, "error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: LeadSync "
                                              "Distribution Status: bad value for restricted picklist "
                                              "field: teleported")
    assert results.loc[1, "error"].endswith("[LeadSync_Distribution_Status__c]")
    assert results.loc[2, "error"] == "no record_id to update"


def test_none_leaves_a_field_empty_text_clears_it_and_a_repeated_record_keeps_the_last_change(org, make_leads,
                                                                                               source_for):
    [lead] = make_leads(1, Title="CIO", LeadSync_Rejection_Reason__c="old reason")
    updates = pd.DataFrame([
        {"key": "a", "record_id": lead, "Title": None, "LeadSync_Rejection_Reason__c": "",
         "LeadSync_Partner__c": "x"},
        {"key": "b", "record_id": lead, "Title": None, "LeadSync_Rejection_Reason__c": None,
         "LeadSync_Partner__c": "northwind"}])

    results = source_for(org).write_records(updates)

    record = org.get("Lead", lead)
    assert results["ok"].all()
    assert (record["Title"], record["LeadSync_Rejection_Reason__c"], record["LeadSync_Partner__c"]) == (
        "CIO", None, "northwind")


def test_a_write_naming_an_unknown_field_fails_whole(org, make_leads, source_for):
    updates = routed(make_leads(1), Partner_Tier__c="Gold")

    with pytest.raises(ApiConfigError, match="Lead has no field 'Partner_Tier__c'"):
        source_for(org).write_records(updates)
    with pytest.raises(ApiConfigError, match="Lead.IsConverted cannot be written"):
        source_for(org).write_records(routed(make_leads(1), IsConverted=True))


def test_collections_calls_carry_at_most_the_configured_size(org, make_leads, source_for):
    ids = make_leads(7)
    used = org.budget.used

    results = source_for(org, collections_size=3).write_records(routed(ids))

    assert results["ok"].all()
    assert org.budget.used - used == 1 + 3  # describe, then ceil(7 / 3) Collections calls


def test_large_writes_go_through_a_bulk_ingest_job_with_per_record_results(org, make_leads, source_for):
    ids = make_leads(30)
    org.faults.reject_records(emails=["lead7@acme.example"], message="Partner leads are locked")
    updates = routed(ids)
    updates.loc[12, "LeadSync_Sales_Status__c"] = "Bogus"
    updates.loc[20, "LeadSync_Rejection_Reason__c"] = "Duplicate of an open opportunity"

    results = source_for(org, write_bulk_threshold=10).write_records(updates)

    assert ingest_jobs(org) == 1
    assert results["key"].tolist() == updates["key"].tolist()
    assert results.loc[~results["ok"], "key"].tolist() == ["k7", "k12"]
    # worded as sObject Collections words them
    assert results.loc[7, "error"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Partner leads are locked"
    assert results.loc[12, "error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: LeadSync Sales "
                                               "Status")
    assert results.loc[12, "error"].endswith("[LeadSync_Sales_Status__c]")
    assert org.get("Lead", ids[29])["LeadSync_Partner__c"] == "northwind"
    assert org.get("Lead", ids[20])["LeadSync_Rejection_Reason__c"] == "Duplicate of an open opportunity"
    assert org.get("Lead", ids[7])["LeadSync_Partner__c"] is None


def test_a_failed_ingest_job_is_run_again(org, make_leads, source_for):
    ids = make_leads(12)
    org.faults.fail_next_bulk_jobs(1)

    results = source_for(org, write_bulk_threshold=10).write_records(routed(ids))

    assert results["ok"].all() and ingest_jobs(org) == 2


# ---------------------------------------------------------------------------------------------- opportunities


def opportunity(key: str, lead: str, **values) -> dict:
    return {"key": key, "external_id": f"ls-{key}", "record_id": lead, "name": f"Deal {key}",
            "stage": "Prospecting", "amount": 12000.0, "close_date": "2026-12-31", "partner": "northwind",
            **values}


def test_opportunities_are_upserted_by_external_id_with_the_converted_leads_account(org, make_leads,
                                                                                    source_for):
    fresh, converted = make_leads(2)
    [account] = org.insert("Account", [{"Name": "Hooli"}])
    org.set_fields("Lead", [converted], IsConverted=True, ConvertedAccountId=account)
    source = source_for(org)
    first = pd.DataFrame([opportunity("o1", fresh), opportunity("o2", converted)],
                         columns=OPPORTUNITY_COLUMNS)

    created = source.write_opportunities(first)
    again = source.write_opportunities(first.assign(stage="Closed Won", amount=[50000.0, None]))

    assert created["ok"].all() and again["ok"].all()
    rows = {r["LeadSync_External_Id__c"]: r for r in source.client.sf.query_all(
        "SELECT LeadSync_External_Id__c, Name, StageName, Amount, CloseDate, LeadSync_Partner__c, "
        "LeadSync_Lead__c, AccountId FROM Opportunity WHERE LeadSync_External_Id__c != null")["records"]}
    assert sorted(rows) == ["ls-o1", "ls-o2"]  # the second write updated, not duplicated
    assert (rows["ls-o1"]["StageName"], rows["ls-o1"]["Amount"], rows["ls-o1"]["CloseDate"]) == (
        "Closed Won", 50000.0, "2026-12-31")
    assert rows["ls-o2"]["Amount"] == 12000.0  # None left the amount alone
    assert (rows["ls-o1"]["LeadSync_Lead__c"], rows["ls-o1"]["AccountId"]) == (fresh, None)
    assert (rows["ls-o2"]["LeadSync_Lead__c"], rows["ls-o2"]["AccountId"]) == (converted, account)
    assert rows["ls-o2"]["LeadSync_Partner__c"] == "northwind"


def test_a_bad_opportunity_fails_alone_and_bulk_upserts_match_by_external_id(org, make_leads, source_for):
    leads = make_leads(4)
    batch = pd.DataFrame([opportunity(f"o{n}", lead) for n, lead in enumerate(leads)],
                         columns=OPPORTUNITY_COLUMNS)
    batch.loc[1, "stage"] = "Daydreaming"
    batch.loc[3, "external_id"] = None

    results = source_for(org, write_bulk_threshold=2).write_opportunities(batch)

    assert ingest_jobs(org) == 1
    assert results["ok"].tolist() == [True, False, True, False]
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in results.loc[1, "error"]
    assert results.loc[3, "error"] == "no external_id to upsert by"
    assert org.count("Opportunity") == 2


# ---------------------------------------------------------------------------------------------- events


def test_events_are_tasks_upserted_by_their_key(org, make_leads, source_for):
    [lead] = make_leads(1)
    source = source_for(org)
    events = pd.DataFrame([{"key": "evt-1", "record_id": lead, "event_type": "routed",
                            "occurred_at": "2026-11-23T10:15:00Z", "description": "Routed by rule EMEA-1",
                            "partner": "Northwind"}], columns=EVENT_COLUMNS)

    first = source.write_events(events)
    second = source.write_events(events.assign(description="Routed by rule EMEA-2"))

    assert first["ok"].tolist() == second["ok"].tolist() == [True]
    [task] = source.client.sf.query_all("SELECT WhoId, Subject, ActivityDate, Description, Status, "
                                        "LeadSync_Event_Id__c FROM Task")["records"]
    assert (task["WhoId"], task["LeadSync_Event_Id__c"], task["Status"]) == (lead, "evt-1", "Completed")
    assert (task["Subject"], task["ActivityDate"]) == ("LeadSync: routed (Northwind)", "2026-11-23")
    assert task["Description"] == "Routed by rule EMEA-2"


def test_an_event_for_a_missing_record_fails_alone(org, make_leads, source_for):
    [lead] = make_leads(1)
    events = pd.DataFrame([
        {"key": "evt-1", "record_id": lead, "event_type": "accepted", "occurred_at": "2026-11-23",
         "description": None, "partner": None},
        {"key": "evt-2", "record_id": "00Q8d00009ZZZZZEAA", "event_type": "accepted",
         "occurred_at": "2026-11-23", "description": None, "partner": None}], columns=EVENT_COLUMNS)

    results = source_for(org).write_events(events)

    assert results["ok"].tolist() == [True, False] and results.loc[1, "error"]
    assert org.count("Task") == 1


def test_events_can_go_to_a_custom_object_with_its_own_field_types(source_for):
    schema = Schema.default()
    fields = [FieldSpec("Id", "id", createable=False, updateable=False),
              FieldSpec("IsDeleted", "boolean", createable=False, updateable=False, default_value=False),
              FieldSpec("Name", "string", length=80, name_field=True),
              FieldSpec("Lead__c", "reference", reference_to=("Lead",), relationship_name="Lead__r"),
              FieldSpec("Occurred_At__c", "datetime"),
              FieldSpec("Details__c", "textarea"),
              FieldSpec("LeadSync_Event_Id__c", "string", external_id=True, unique=True)]
    schema.add_object(ObjectSpec("LeadSync_Event__c", "a0E", "LeadSync Event", "LeadSync Events",
                                 {spec.name: spec for spec in fields}))
    with SalesforceSandbox(schema=schema) as org:
        [lead] = org.insert("Lead", [{"LastName": "Ann", "Company": "A"}])
        source = source_for(org, event_object="LeadSync_Event__c", event_values={}, event_fields={
            "record_id": "Lead__c", "subject": "Name", "occurred_at": "Occurred_At__c",
            "description": "Details__c"})
        events = pd.DataFrame([{"key": "evt-9", "record_id": lead, "event_type": "accepted",
                                "occurred_at": pd.Timestamp("2026-11-23 10:15:00", tz="Europe/Berlin"),
                                "description": "Accepted by Northwind", "partner": None}],
                              columns=EVENT_COLUMNS)

        assert source.write_events(events)["ok"].tolist() == [True]
        [record] = source.client.sf.query("SELECT Name, Lead__c, Occurred_At__c, Details__c "
                                          "FROM LeadSync_Event__c")["records"]
        assert (record["Name"], record["Lead__c"], record["Details__c"]) == ("LeadSync: accepted", lead,
                                                                             "Accepted by Northwind")
        assert record["Occurred_At__c"] == "2026-11-23T09:15:00.000+0000"
