"""`pull.campaigns.fields`: the campaign fields a supplier chooses are pulled from Salesforce, Marketo and
Eloqua with their campaigns and stored with the partner-facing label; only `shared` ones are offered to
partners; a field the source's campaigns lack fails the pull naming it."""

from pathlib import Path

import pytest
from api_vendors import VENDORS, Vendor, api_source_yaml, started_vendor

from leadsync import pipeline
from leadsync.config import ConfigError
from leadsync.config.loader import project_paths
from leadsync.pull.campaign_fields import shared_campaign_fields
from leadsync.store import LeadStore

vendor = pytest.fixture(params=VENDORS, name="vendor")(started_vendor)


def campaign(vendor: Vendor) -> tuple[str, list[dict], tuple[str, str]]:
    """A campaign in the sandbox, the fields chosen for it, and the shared (label, value) partners get."""
    if vendor.kind == "salesforce":
        made = vendor.server.connect().Campaign.create({"Name": "Spring Launch", "Type": "Webinar",
                                                        "BudgetedCost": 5000, "IsActive": True})
        return made["id"], [{"field": "Type", "label": "Campaign type"},
                            {"field": "BudgetedCost", "label": "Budget", "shared": False}], ("Campaign type", "Webinar")
    if vendor.kind == "marketo":
        made = vendor.server.programs.create("Spring Launch", description="internal notes", channel="Webinar")
        return str(made), [{"field": "channel", "label": "Campaign type"},
                           {"field": "description", "shared": False}], ("Campaign type", "Webinar")
    return "1001", [{"field": "Partner Program", "label": "Program tier"},
                    {"field": "Region", "shared": False}], ("Program tier", "Gold")


def test_chosen_campaign_fields_are_stored_with_their_labels(project: Path, vendor, duckdb_url, monkeypatch):
    campaign_id, fields, shared = campaign(vendor)
    api_source_yaml(project, vendor, monkeypatch, pull={"campaigns": {"ids": [campaign_id], "fields": fields}})
    store = LeadStore(duckdb_url)
    report = pipeline.pull(project_paths(project / "mappings"), store, "crm")
    assert report.campaigns == 1
    assert shared_campaign_fields(store, "crm", [campaign_id]) == {campaign_id: [shared]}


def test_a_campaign_field_the_source_lacks_is_named(project: Path, duckdb_url, monkeypatch, tmp_path):
    marketo = Vendor("marketo", tmp_path)
    try:
        made = marketo.server.programs.create("Spring Launch", channel="Webinar")
        api_source_yaml(project, marketo, monkeypatch,
                        pull={"campaigns": {"ids": [str(made)], "fields": [{"field": "Budget_Owner"}]}})
        with pytest.raises(ConfigError, match=r"campaigns have no field \['Budget_Owner'\]; the fields they carry"):
            pipeline.pull(project_paths(project / "mappings"), LeadStore(duckdb_url), "crm")
    finally:
        marketo.server.stop()
