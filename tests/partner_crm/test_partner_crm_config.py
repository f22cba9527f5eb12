"""The `crm` block of partners.yaml and what a partner's CRM gets of a lead: errors name the partner, the key
and the fix; only shared fields are sent; CRM statuses and stages map to ours whatever the dash."""

from pathlib import Path

import pytest
import yaml

from leadsync.connectors.api_client import ApiConfigError
from leadsync.config import ConfigError, load_partners
from leadsync.config.api_sources import SalesforceConnection
from leadsync.config.loader import project_paths
from leadsync.config.schema import SOURCE_MODELS
from leadsync.partner_crm.kinds import SALESFORCE, open_crm
from leadsync.partner_crm.values import crm_values, sales_status_for, stage_for

CONNECTION = {"login_url": "https://northwind.my.salesforce.com", "consumer_key_env": "NW_KEY",
              "consumer_secret_env": "NW_SECRET"}


def partners_file(tmp_path: Path, crm: dict, **partner) -> Path:
    path = tmp_path / "partners.yaml"
    path.write_text(yaml.safe_dump({"partners": [{"id": "northwind", "name": "Northwind", "crm": crm, **partner}]},
                                   allow_unicode=True))
    return path


def test_a_crm_block_reuses_the_salesforce_connection_model(tmp_path):
    cfg = load_partners(partners_file(tmp_path, {"connection": CONNECTION}, technical_contact="IT@Northwind.example"))
    partner = cfg.by_id("northwind")
    assert isinstance(partner.crm.connection, SalesforceConnection)
    assert partner.technical_contact == "it@northwind.example"
    assert partner.crm.withdrawal.status == "Closed - Not Converted"  # marked, never deleted


@pytest.mark.parametrize(("crm", "expected"), [
    ({"type": "hubspot", "connection": {}}, "partners[0] (Northwind).crm.type: 'hubspot' is not a CRM connector"),
    ({"connection": {**CONNECTION, "auth": "jwt"}}, "crm.connection: auth 'jwt' needs username, private_key_path"),
    ({"connection": {"login_url": "https://x.example"}}, "crm.connection: consumer_key_env: required key is missing"),
    ({"connection": CONNECTION, "status_map": {"Working": "Busy"}}, "map each CRM status to one of our sales"),
    ({"connection": CONNECTION, "withdrawal": {"status": "Closed", "field": "Gone__c"}}, "exactly one of the two"),
    ({"connection": CONNECTION, "campaign": {"mode": "field"}}, "give 'field' exactly when mode is 'field'"),
    ({"connection": CONNECTION, "owner": {"default_email": "desk"}}, "'desk' is not an email address"),
])
def test_a_bad_crm_block_names_the_partner_key_and_fix(tmp_path, crm, expected):
    with pytest.raises(ConfigError) as caught:
        load_partners(partners_file(tmp_path, crm))
    assert expected in str(caught.value) and "partners.yaml" in str(caught.value)


def test_a_missing_secret_names_the_partner_key_and_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("NW_KEY", "key")
    monkeypatch.delenv("NW_SECRET", raising=False)
    partner = load_partners(partners_file(tmp_path, {"connection": CONNECTION})).by_id("northwind")
    with pytest.raises(ApiConfigError, match=r"partners\[northwind\]\.crm\.connection\.consumer_secret_env: "
                                             r"environment variable NW_SECRET is not set"):
        open_crm(partner, project_paths(tmp_path))


def test_only_shared_fields_reach_the_partner_crm():
    cfg = SOURCE_MODELS["sftp"].model_validate({
        "name": "drop", "type": "sftp", "connection": {"host": "h", "username": "u", "password_env": "P",
                                                                  "host_key": "ssh-ed25519 AAAA"},
        "fields": [{"column": "Email", "field": "email", "required": True},
                   {"column": "Last", "field": "last_name"},
                   {"column": "Score", "field": "score", "shared": False},
                   {"column": "Seats", "field": "seats", "label": "Seats wanted", "type": "number"},
                   {"column": "Campaign", "field": "campaign"}]})
    lead = {"email": "a@x.example", "last_name": None, "score": "97", "seats": 12.0, "campaign": "Webinar"}
    values = crm_values(cfg, lead, SALESFORCE.default_fields, SALESFORCE.notes_field, SALESFORCE.required_fields)
    assert values == {"Email": "a@x.example", "Description": "Seats wanted: 12", "LastName": "[not provided]",
                      "Company": "[not provided]"}  # no score, and the campaign goes its own way


def test_crm_statuses_and_stages_map_to_ours_whatever_the_dash():
    status_map = {**SALESFORCE.default_status_map, "Working – Contacted": "Contacted"}
    assert sales_status_for("working — contacted", False, status_map) == "Contacted"
    assert sales_status_for("Closed - Not Converted", False, status_map) == "Unqualified/Invalid"
    assert sales_status_for("Open - Not Contacted", True, status_map) == "Converted Opportunity"
    assert sales_status_for("Nurture", False, status_map) == "Nurture"  # one of ours by name
    assert sales_status_for("Parked", False, status_map) is None
    stages = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]
    assert stage_for("Needs Analysis", SALESFORCE.default_stage_map, stages) == "Qualification"
    assert stage_for("closed won", SALESFORCE.default_stage_map, stages) == "Closed Won"
    assert stage_for("Technical Win", SALESFORCE.default_stage_map, stages) is None
