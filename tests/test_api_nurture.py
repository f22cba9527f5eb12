"""`nurture:` per API source: a lead the partner moves to Contacted joins the supplier's nurture campaign
(Salesforce CampaignMember, Marketo program member, Eloqua contact list member) once, stays once when moved on
to Nurture, and leaves when marked Unqualified; a lead never contacted is never enrolled."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from api_vendors import VENDORS, Vendor, api_source_yaml, routed_leads, started_vendor

from leadsync import pipeline
from leadsync.config.loader import project_paths
from leadsync.lifecycle.acceptance import accept_lead
from leadsync.lifecycle.context import load_lifecycle
from leadsync.lifecycle.updates import apply_update
from leadsync.store import LeadStore

vendor = pytest.fixture(params=VENDORS, name="vendor")(started_vendor)


@pytest.fixture
def target(vendor: Vendor) -> dict:
    return vendor.nurture_target()


@pytest.fixture
def project(project: Path, vendor: Vendor, target: dict, monkeypatch) -> Path:
    api_source_yaml(project, vendor, monkeypatch, nurture=target)
    return project


def test_nurture_enrols_once_and_removes(project, vendor, target, duckdb_url):
    leads = routed_leads(project, duckdb_url)
    store = LeadStore(duckdb_url)
    nurtured, untouched = leads.iloc[0], leads.iloc[1]
    record = str(nurtured["source_record_id"])[:15] if vendor.kind == "salesforce" else str(
        nurtured["source_record_id"])
    paths = project_paths(project / "mappings")
    ctx = load_lifecycle(paths, store)
    now = datetime.now(UTC)
    for lead in (nurtured, untouched):
        accept_lead(ctx, lead["lead_id"], "northwind", now, actor="nora")

    def move(status: str):
        apply_update(ctx, "northwind", {"lead_id": nurtured["lead_id"], "sales_status": status}, now, "nora")
        report = pipeline.write_back(paths, store, "crm")
        assert report.events_failed == 0, report.failures
        return report

    assert move("Contacted").nurtured == 1
    assert vendor.nurture_members(target) == [record]
    move("Nurture")  # still nurturing: enrolled already, never twice
    assert vendor.nurture_members(target) == [record]
    assert move("Unqualified/Invalid").nurtured == 1
    assert vendor.nurture_members(target) == []
    # the accepted lead left at Not Contacted was never enrolled, and nothing is left to send
    assert pipeline.write_back(paths, store, "crm").events_sent == 0


def test_a_nurture_target_the_vendor_lacks_is_refused_with_the_choices():
    from pydantic import ValidationError

    from leadsync.config.schema import MarketoSource
    source = {"name": "mkto", "type": "marketo", "fields": [{"column": "email", "field": "email"}],
              "connection": {"base_url": "https://123-ABC-456.mktorest.com", "client_id_env": "K",
                             "client_secret_env": "S"}}
    with pytest.raises(ValidationError, match="marketo sources nurture into program or static_list, not campaign"):
        MarketoSource.model_validate({**source, "nurture": {"target": "campaign", "id": "701x"}})
    with pytest.raises(ValidationError, match="a Marketo program needs member_status"):
        MarketoSource.model_validate({**source, "nurture": {"target": "program", "id": "1001"}})
    with pytest.raises(ValidationError, match=r"\['Contacted'\] both enrol and remove"):
        MarketoSource.model_validate({**source, "nurture": {"target": "static_list", "id": "7",
                                                             "remove_on": ["Contacted"]}})
    ok = MarketoSource.model_validate({**source, "nurture": {"target": "static_list", "id": "7"}})
    assert ok.nurture.enrol_on == ["Contacted", "Nurture"]
