"""A Salesforce source end to end on the sandbox (TLS, simple-salesforce): leads pulled with their campaign
membership, unique by email + campaign, segregated leads held back, statuses written back onto the Lead
records; a later run pulls only what changed."""

import re
from collections import Counter
from pathlib import Path

import pytest
from jobs import failure_message, materialization, outbox_states, read_table, run_job
from three_sources import SF_STATUS, salesforce_source, write_source

from leadsync.connectors.salesforce.sandbox import SalesforceSandbox
from leadsync.store import LeadStore, tables
from leadsync.writeback import api_sink
from leadsync.writeback.outbox import Batch

STATUS = SF_STATUS


@pytest.fixture
def org():
    with SalesforceSandbox() as sandbox:
        sandbox.seed(leads=150, seed=3)
        yield sandbox


@pytest.fixture
def project(project: Path, org: SalesforceSandbox, monkeypatch) -> Path:
    (project / "mappings/sources/sftp_demo.yaml").unlink()
    source = salesforce_source(org)
    source["segregate"] = {"any": [{"field": "LeadSource", "equals": "Partner Referral"}]}
    source["fields"].insert(-1, {"column": "Title", "field": "title"})
    write_source(project / "mappings", source)
    monkeypatch.setenv("SFDC_KEY", org.credentials.client_id)
    monkeypatch.setenv("SFDC_SECRET", org.credentials.client_secret)
    return project






def test_leads_pulled_with_campaigns_routed_segregated_and_written_back(project, org, store_url):
    result = run_job(project, store_url)
    assert result.success
    leads = read_table(store_url, tables.leads)
    sf = org.connect().query_all("SELECT Id, LeadSource FROM Lead")["records"]
    assert set(leads["source_record_id"]) == {r["Id"] for r in sf}
    key = leads["email"].str.lower() + "|" + leads["campaign"].fillna("")
    assert not key.duplicated().any()  # unique by email + campaign
    assert leads["campaign"].notna().any() and leads.groupby("source_record_id").size().max() >= 2

    decisions = read_table(store_url, tables.assignments).merge(leads, on="lead_id")
    referral = {r["Id"] for r in sf if r["LeadSource"] == "Partner Referral"}
    held = decisions[decisions["source_record_id"].isin(referral)]
    assert len(held) and set(held["status"]) == {"segregated"}
    assert (decisions.loc[~decisions["source_record_id"].isin(referral), "status"] != "segregated").all()
    assert all(org.get("Lead", i)["LeadSync_Distribution_Status__c"] is None for i in held["source_record_id"])

    routed = decisions[decisions["status"] == "routed"].drop_duplicates("source_record_id").head(10)
    assert len(routed)
    for _, lead in routed.iterrows():
        record = org.get("Lead", lead["source_record_id"])
        assert record["LeadSync_Distribution_Status__c"] in set(STATUS.values())
        assert record["LeadSync_Partner__c"]
    assert read_table(store_url, tables.campaigns)["name"].notna().all()

    # A later run: one lead edited in Salesforce comes back (and only it); the writeback's own edits do not.
    changed = leads.iloc[0]["source_record_id"]
    org.clock.advance(3 * 86400)  # past every seeded timestamp
    org.update("Lead", changed, {"Title": "VP Security"})
    again = run_job(project, store_url)
    assert again.success
    assert materialization(again, "sfdc/raw_rows")["dagster/row_count"] == int((leads["source_record_id"] == changed).sum())
    after = read_table(store_url, tables.leads)
    assert len(after) == len(leads)
    assert set(after.loc[after["source_record_id"] == changed, "title"]) == {"VP Security"}


def test_a_mapped_field_the_org_does_not_have_fails_with_object_field_and_file(project, org, duckdb_url):
    path = project / "mappings/sources/sfdc.yaml"
    path.write_text(path.read_text().replace("column: Title", "column: JobTitle__c"))
    result = run_job(project, duckdb_url)
    assert not result.success
    message = failure_message(result)
    assert "sfdc.yaml" in message and "Salesforce Lead has no field 'JobTitle__c'" in message


@pytest.mark.parametrize("part_events", [api_sink.PART_EVENTS, 50])
def test_a_record_salesforce_refuses_is_retried_next_run_and_written_once(project, org, duckdb_url, monkeypatch,
                                                                           part_events):
    # part_events 50: the batch (~150 events) sent in parts (api_sink.PART_EVENTS); the refusals, in different
    # parts (checked below), are all recorded when the batch is marked sent
    monkeypatch.setattr(api_sink, "PART_EVENTS", part_events)
    rows = org.connect().query("SELECT Id, Email FROM Lead ORDER BY Id")["records"]
    emails = Counter(r["Email"] for r in rows)
    ids = [r["Id"] for r in rows if re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", r["Email"] or "") and emails[r["Email"]] == 1]
    refused_ids = {ids[0], ids[len(ids) // 2], ids[-1]}  # leads of their own, far apart
    for record_id in sorted(refused_ids):
        org.faults.reject_records(ids=[record_id], times=1, message="Partner field is locked by a validation rule")
    assert run_job(project, duckdb_url).success
    leads = read_table(duckdb_url, tables.leads)[["lead_id", "source_record_id"]]
    outbox = outbox_states(duckdb_url).merge(leads, on="lead_id")
    refused = outbox[outbox["last_error"].notna()]  # (other pending events: deliveries made after the writeback)
    assert set(refused["source_record_id"]) == refused_ids and (refused["state"] == "pending").all()
    assert refused["last_error"].str.contains("validation rule").all() and (refused["attempts"] == 1).all()
    assert all(org.get("Lead", i)["LeadSync_Distribution_Status__c"] is None for i in refused_ids)
    if part_events == 50:  # the batch went out in parts, and the refused leads were not all in one
        batches = read_table(duckdb_url, tables.writeback_batches)
        first = batches.loc[batches["event_count"].idxmax()]
        span = read_table(duckdb_url, tables.writeback_spans).set_index("batch_id").loc[first["batch_id"]]
        store = LeadStore(duckdb_url)
        ranges = api_sink._lead_ranges(store, Batch(first["batch_id"], "sfdc", first["target_name"],
                                                    int(first["event_count"]), first["created_at"],
                                                    (int(span["first_seq"]), int(span["last_seq"]))), part_events)
        store.dispose()
        part_of = [next(i for i, (low, high) in enumerate(ranges)
                        if (low is None or lead > low) and (high is None or lead <= high))
                   for lead in set(refused["lead_id"])]
        assert len(ranges) >= 3 and len(set(part_of)) > 1, (ranges, part_of)

    assert run_job(project, duckdb_url).success
    outbox = outbox_states(duckdb_url)
    assert (outbox["state"] == "sent").all()  # everything sent, the refused events included
    assert (outbox["attempts"].fillna(0) <= 1).all()
    assert all(org.get("Lead", i)["LeadSync_Distribution_Status__c"] in set(STATUS.values()) for i in refused_ids)
