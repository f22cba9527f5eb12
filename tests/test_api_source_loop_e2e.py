"""The supplier's own system both ways, end to end through the Dagster job against each vendor sandbox: the
job pulls and routes; the partner works a lead to Contacted and registers a lead of its own; the next run of
the job enrols the lead in the nurture target (Salesforce campaign, Marketo program, Eloqua contact list) and
creates the registration's record once — even when the vendor's answer to the creation is lost and the call
retried — and the pull after it does not take that record for a new lead; Unqualified removes the lead from
nurture on the run after. The setting is in lifecycle.yaml (`auto_registration.target_source: crm`), as a
supplier writes it. (The same steps one call at a time: test_api_nurture.py, test_api_registrations.py.)"""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from api_vendors import (
    CREATE_PATH,
    LEAD,
    VENDORS,
    Vendor,
    api_source_yaml,
    registrations_into,
    started_vendor,
)
from jobs import read_table, run_job

from leadsync.config.loader import project_paths
from leadsync.lifecycle.acceptance import accept_lead
from leadsync.lifecycle.context import load_lifecycle
from leadsync.lifecycle.registration import register_partner_leads
from leadsync.lifecycle.updates import apply_update
from leadsync.store import LeadStore, tables

vendor = pytest.fixture(params=VENDORS, name="vendor")(started_vendor)


@pytest.fixture
def target(vendor: Vendor) -> dict:
    return vendor.nurture_target()


@pytest.fixture
def project(project: Path, vendor: Vendor, target: dict, monkeypatch) -> Path:
    api_source_yaml(project, vendor, monkeypatch, nurture=target)
    registrations_into(project, "crm")
    return project


def test_nurture_and_a_registration_through_the_job(project, vendor, target, duckdb_url):
    assert run_job(project, duckdb_url).success
    leads = read_table(duckdb_url, tables.leads).sort_values("lead_id")
    pulled = len(leads)
    lead = leads.iloc[0]
    record = str(lead["source_record_id"])
    record = record[:15] if vendor.kind == "salesforce" else record

    store = LeadStore(duckdb_url)
    ctx = load_lifecycle(project_paths(project / "mappings"), store)
    now = datetime.now(UTC)
    accept_lead(ctx, lead["lead_id"], "northwind", now, actor="nora")
    apply_update(ctx, "northwind", {"lead_id": lead["lead_id"], "sales_status": "Contacted"}, now, "nora")
    assert register_partner_leads(ctx, "northwind", [LEAD], now).registered == 1
    store.dispose()

    # the vendor makes the registration's record and its answer is lost: the client's retry must not make a second
    vendor.http_faults.drop_response_next(CREATE_PATH[vendor.kind], "PATCH" if vendor.kind == "salesforce" else "POST")
    assert run_job(project, duckdb_url).success
    assert vendor.http_faults.answers_to_lose == 0  # the answer was indeed lost
    assert vendor.nurture_members(target) == [record]
    key = "northwind:NW-7"
    assert len(vendor.records_keyed(key)) == 1

    # the pulls after it see the created record and know it: no new lead of the registration's email
    assert run_job(project, duckdb_url).success
    leads = read_table(duckdb_url, tables.leads)
    assert (leads["email"] == LEAD["email"]).sum() <= 1
    assert len(leads) <= pulled + 1
    assert vendor.nurture_members(target) == [record]  # enrolled once, not again
    assert len(vendor.records_keyed(key)) == 1

    store = LeadStore(duckdb_url)
    ctx = load_lifecycle(project_paths(project / "mappings"), store)
    apply_update(ctx, "northwind", {"lead_id": lead["lead_id"], "sales_status": "Unqualified/Invalid"},
                 datetime.now(UTC), "nora")
    store.dispose()
    assert run_job(project, duckdb_url).success
    assert vendor.nurture_members(target) == []
    assert len(vendor.records_keyed(key)) == 1
