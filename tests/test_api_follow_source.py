"""`follow_source:` the supplier's own team changes a distributed lead's sales status and owner in its
Salesforce / Marketo / Eloqua; the next pull makes those the lead's sales status and rep (the lifecycle
events a partner's update makes, actor `source:crm`), writes nothing back (no echo), and a source change older
than the partner's latest update is not applied but reported."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from api_vendors import VENDORS, WRITEBACK, Vendor, api_source_yaml, routed_leads, started_vendor

from leadsync import pipeline
from leadsync.config.loader import project_paths
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.acceptance import accept_lead
from leadsync.lifecycle.context import load_lifecycle
from leadsync.lifecycle.updates import apply_update
from leadsync.pull.manual_entry import add_lead
from leadsync.store import LeadStore, tables
from leadsync.writeback import outbox

vendor = pytest.fixture(params=VENDORS, name="vendor")(started_vendor)


@pytest.fixture
def project(project: Path, vendor: Vendor, monkeypatch) -> Path:
    names = WRITEBACK[vendor.kind]
    api_source_yaml(project, vendor, monkeypatch, follow_source={
        "sales_status": {"field": names["sales_status"], "values": {"Working": "Contacted"}},
        "owner_name": names["rep_name"], "owner_email": names["rep_email"]})
    return project


def progress(store: LeadStore, lead_id: str) -> dict:
    with store.begin() as conn:
        return dict(conn.execute(sa.select(lt.lead_progress).where(lt.lead_progress.c.lead_id == lead_id))
                    .mappings().one())


def test_a_change_made_at_the_source_becomes_the_leads_status_and_rep_without_echo(project, vendor, duckdb_url):
    lead = routed_leads(project, duckdb_url, limit=1).iloc[0]
    store = LeadStore(duckdb_url)
    paths = project_paths(project / "mappings")
    ctx = load_lifecycle(paths, store)
    accepted = datetime.now(UTC) - timedelta(hours=1)
    accept_lead(ctx, lead["lead_id"], "northwind", accepted, actor="nora")
    assert pipeline.write_back(paths, store, "crm").events_failed == 0

    working = "Contacted" if vendor.kind == "salesforce" else "Working"  # Salesforce's picklist is restricted
    vendor.change_at_source(lead["source_record_id"], lead["email"],
                            {"sales_status": working, "rep_name": "Sam Source", "rep_email": "sam@supplier.example"})
    report = pipeline.pull(paths, store, "crm")
    assert report.followed.applied == 1, (report.followed.problems, report.followed.conflicts)
    now = progress(store, lead["lead_id"])
    assert (now["sales_status"], now["rep_name"], now["rep_email"]) == ("Contacted", "Sam Source",
                                                                      "sam@supplier.example")
    with store.begin() as conn:
        events = store.read_frame(conn, sa.select(lt.lifecycle_events.c.kind, lt.lifecycle_events.c.actor)
                                  .where(lt.lifecycle_events.c.lead_id == lead["lead_id"],
                                         lt.lifecycle_events.c.actor == "source:crm"))
        states = store.read_frame(conn, outbox.event_states().where(
            tables.writeback_outbox.c.lead_id == lead["lead_id"]))
    assert set(events["kind"]) >= {"sales_status", "rep"}
    assert (states["state"] == "sent").all()  # nothing pending: the source's own change is not echoed
    before = vendor.record(lead["source_record_id"], lead["email"])
    assert pipeline.write_back(paths, store, "crm").events_sent == 0
    assert vendor.record(lead["source_record_id"], lead["email"]) == before
    # the same record pulled again is no new change
    assert pipeline.pull(paths, store, "crm").followed.applied == 0

    # the partner updates the rep later than the source's next change: the partner's update is kept, and said so
    later = datetime.now(UTC) + timedelta(days=1)
    apply_update(ctx, "northwind", {"lead_id": lead["lead_id"], "rep_name": "Nora West",
                                    "rep_email": "nora@northwind.example"}, later, "nora")
    vendor.change_at_source(lead["source_record_id"], lead["email"], {"rep_name": "Sam Again"})
    conflicted = pipeline.pull(paths, store, "crm").followed
    assert conflicted.applied == 0
    assert [c["lead_id"] for c in conflicted.conflicts] == [lead["lead_id"]]
    assert conflicted.conflicts[0]["source_values"]["rep_name"] == "Sam Again"
    assert progress(store, lead["lead_id"])["rep_name"] == "Nora West"


def test_a_lead_entered_by_hand_is_followed_through_the_record_created_for_it(project, vendor, duckdb_url):
    """A hand-entered lead has no source record id of its own: its record is the one the writeback created
    (`source_records_created`). A change the supplier's team makes on that record reaches the lead, unechoed."""
    store = LeadStore(duckdb_url)
    paths = project_paths(project / "mappings")
    entry = add_lead(paths, store, "crm", {"email": "grace@hopper.example", "last_name": "Hopper",
                                           "company": "Cobol Works", "country": "US"}, "Pat Ops")
    assert entry.partner_id == "northwind" and entry.record_id, entry
    with store.begin() as conn:
        held = conn.execute(sa.select(tables.leads.c.source_record_id)
                            .where(tables.leads.c.lead_id == entry.lead_id)).scalar_one()
    assert held is None  # followed by the created record or not at all
    ctx = load_lifecycle(paths, store)
    accept_lead(ctx, entry.lead_id, "northwind", datetime.now(UTC) - timedelta(hours=1), actor="nora")
    assert pipeline.write_back(paths, store, "crm").events_failed == 0

    working = "Contacted" if vendor.kind == "salesforce" else "Working"
    vendor.change_at_source(entry.record_id, "grace@hopper.example",
                            {"sales_status": working, "rep_name": "Sam Source", "rep_email": "sam@supplier.example"})
    report = pipeline.pull(paths, store, "crm")
    assert report.followed.applied == 1, (report.followed.problems, report.followed.conflicts)
    now = progress(store, entry.lead_id)
    assert (now["sales_status"], now["rep_name"]) == ("Contacted", "Sam Source")
    before = vendor.record(entry.record_id, "grace@hopper.example")
    assert pipeline.write_back(paths, store, "crm").events_sent == 0  # not echoed to the record it came from
    assert vendor.record(entry.record_id, "grace@hopper.example") == before
