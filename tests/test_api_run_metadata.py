"""An API source's run metadata: the pull shows what `follow_source` read and applied (records, changes,
conflicts, problems), the writeback how many records it created (leads entered by hand) and how many it
enrolled in or removed from the nurture target, beside the records it updated."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from api_vendors import WRITEBACK, Vendor, api_source_yaml, started_vendor
from jobs import materialization

from leadsync.config.loader import project_paths
from leadsync.defs.build import build_definitions
from leadsync.lifecycle.acceptance import accept_lead
from leadsync.lifecycle.context import load_lifecycle
from leadsync.lifecycle.updates import apply_update
from leadsync.pull.manual_entry import add_lead
from leadsync.store import LeadStore, tables

vendor = pytest.fixture(params=["salesforce"], name="vendor")(started_vendor)


@pytest.fixture
def project(project: Path, vendor: Vendor, monkeypatch) -> Path:
    names = WRITEBACK[vendor.kind]
    api_source_yaml(project, vendor, monkeypatch, nurture=vendor.nurture_target(), follow_source={
        "sales_status": {"field": names["sales_status"], "values": {"Working": "Contacted"}},
        "owner_name": names["rep_name"], "owner_email": names["rep_email"]})
    return project


def sync(project: Path, store_url: str) -> dg.ExecuteInProcessResult:
    """The source's own job (pull to writeback), as its schedule runs it."""
    result = build_definitions(project / "mappings", store_url).resolve_job_def("crm_sync").execute_in_process(
        raise_on_error=False)
    assert result.success
    return result


def test_the_pull_shows_what_it_followed_and_the_writeback_what_it_created_and_nurtured(project, vendor, duckdb_url):
    sync(project, duckdb_url)  # pulled and routed: every lead to Northwind
    store = LeadStore(duckdb_url)
    with store.begin() as conn:
        lead = conn.execute(sa.select(tables.leads).order_by(tables.leads.c.lead_id).limit(1)).mappings().one()
    paths = project_paths(project / "mappings")
    ctx = load_lifecycle(paths, store)
    accept_lead(ctx, lead["lead_id"], "northwind", datetime.now(UTC) - timedelta(hours=1), actor="nora")
    apply_update(ctx, "northwind", {"lead_id": lead["lead_id"], "sales_status": "Contacted"},
                 datetime.now(UTC) - timedelta(minutes=30), "nora")
    add_lead(paths, store, "crm", {"email": "ada@analytical.example", "last_name": "Byron",
                                   "company": "Analytical Engines"}, "Pat Ops", write_back=False)

    written = materialization(sync(project, duckdb_url), "crm/writeback")
    assert written["records_created"] == 1  # the lead entered by hand became a record of the source
    assert written["nurtured"] == 1  # the Contacted lead joined the nurture campaign
    assert written["records_updated"] >= 1

    vendor.change_at_source(lead["source_record_id"], lead["email"], {"rep_name": "Sam Source",
                                                                      "rep_email": "sam@supplier.example"})
    pulled = materialization(sync(project, duckdb_url), "crm/raw_rows")
    assert pulled["followed_applied"] == 1 and pulled["followed_records"] >= 1
    assert pulled["followed_conflicts"] == [] and pulled["followed_problems"] == []
