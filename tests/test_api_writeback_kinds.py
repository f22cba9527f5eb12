"""Every kind of partner outcome reaches each API source's own records: a partner accepts, assigns a rep,
moves the sales status, converts with an opportunity, records a marketing event, and another lead is
rejected; one writeback later the sandbox's records show all of it (Salesforce Lead fields + Opportunity +
Task, Marketo lead fields + opportunity + custom activity, Eloqua contact fields + custom objects)."""

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from api_vendors import VENDORS, WRITEBACK, Vendor, api_source_yaml, routed_leads, started_vendor

from leadsync import pipeline
from leadsync.config.loader import project_paths
from leadsync.lifecycle.acceptance import accept_lead, reject_lead
from leadsync.lifecycle.context import load_lifecycle
from leadsync.lifecycle.updates import apply_update
from leadsync.store import LeadStore
from leadsync.writeback import api_sink, outbox

vendor = pytest.fixture(params=VENDORS, name="vendor")(started_vendor)


@pytest.fixture
def project(project: Path, vendor: Vendor, monkeypatch) -> Path:
    api_source_yaml(project, vendor, monkeypatch)
    return project


def test_every_partner_outcome_reaches_the_source_records(project, vendor, duckdb_url, monkeypatch):
    leads = routed_leads(project, duckdb_url)
    store = LeadStore(duckdb_url)
    worked, rejected = leads.iloc[0], leads.iloc[1]
    paths = project_paths(project / "mappings")
    ctx = load_lifecycle(paths, store)
    now = datetime.now(UTC)
    accept_lead(ctx, worked["lead_id"], "northwind", now, actor="nora")
    apply_update(ctx, "northwind", {"lead_id": worked["lead_id"], "sales_status": "Contacted",
                                    "rep_name": "Nora West", "rep_email": "nora@northwind.example"}, now, "nora")
    apply_update(ctx, "northwind", {"lead_id": worked["lead_id"], "sales_status": "Converted Opportunity",
                                    "opportunity_name": "Firewall refresh", "opportunity_stage": "Qualification",
                                    "opportunity_amount": "12000", "opportunity_close_date": "2027-01-31",
                                    "marketing_event_type": "Webinar", "marketing_event_name": "Zero trust 101",
                                    "marketing_event_date": "2026-11-20"}, now, "nora")
    reject_lead(ctx, rejected["lead_id"], "northwind", "not_our_territory", None, now, actor="nora")

    # the batch read and sent in three parts or so (api_sink.PART_EVENTS), cut between leads, as a batch of some
    # 300,000 events would be; the other API writeback tests send theirs in one
    with store.begin() as conn:
        pending = len(store.read_frame(conn, outbox.pending_events()))
    monkeypatch.setattr(api_sink, "PART_EVENTS", max(1, pending // 3))
    report = pipeline.write_back(paths, store, "crm")
    assert report.events_failed == 0, report.failures

    record = vendor.record(worked["source_record_id"], worked["email"])
    names = WRITEBACK[vendor.kind]
    assert record[names["sales_status"]] == "Converted Opportunity"
    assert (record[names["rep_name"]], record[names["rep_email"]]) == ("Nora West", "nora@northwind.example")
    assert record[names["partner_name"]] == "Northwind Networks"
    refused = vendor.record(rejected["source_record_id"], rejected["email"])
    assert refused[names["rejection_reason"]] == "Not in our territory"

    opportunities = vendor.opportunities(worked["source_record_id"])
    assert any("Firewall refresh" in str(o) for o in opportunities)
    assert any("Zero trust 101" in str(e) or "Webinar" in str(e) for e in vendor.events(worked["source_record_id"]))

    # nothing is written twice: a second writeback has nothing to send
    again = pipeline.write_back(paths, store, "crm")
    assert again.events_sent == 0 and again.events_failed == 0
    assert len(vendor.opportunities(worked["source_record_id"])) == len(opportunities)
    with store.begin() as conn:
        pending = store.read_frame(conn, outbox.pending_events())
    assert pending.empty, pd.DataFrame(pending)
