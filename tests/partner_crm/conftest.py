"""Two Salesforce sandbox orgs on loopback (TLS, OAuth): the supplier's, whose leads leadsync pulls and
writes back to, and a partner's, into which leadsync creates the leads the partner accepts. The project is
a copy of mappings/ with one Salesforce source and CRM-connected partners; partner and alert emails go to
the loopback SMTP sandbox (`mail_sandbox`). Folders here have no __init__ files, so helpers are fixtures."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from leadsync.connectors.salesforce.sandbox import FieldSpec, SalesforceSandbox

PARTNER_STATUSES = ["Open – Not Contacted", "Working – Contacted", "Closed – Converted", "Closed – Not Converted"]
LEADS = [  # the supplier's leads: Title is internal (shared: false), NumberOfEmployees shared without a CRM field
    {"FirstName": "Ada", "LastName": "Lovelace", "Company": "Analytical Engines", "Email": "ada@engines.example",
     "Country": "US", "Phone": "+1 555 0100", "Title": "CTO", "NumberOfEmployees": 250},
    {"FirstName": "Alan", "LastName": "Turing", "Company": "Bletchley Systems", "Email": "alan@bletchley.example",
     "Country": "GB", "Phone": "+44 20 7946 0000", "Title": "Head of Research", "NumberOfEmployees": 40},
    {"FirstName": "Grace", "LastName": "Hopper", "Company": "Globex", "Email": "grace@globex.example",
     "Country": "US", "Phone": "+1 555 0199", "Title": "Rear Admiral", "NumberOfEmployees": 9000},
]
CAMPAIGN = "RSA 2026 Booth"
SUPPLIER_CONTACT = "crm-admin@supplier.example"
STATUS = {"Routed": "routed", "Not Routed": "unassigned", "Needs Review": "needs_review", "Withdrawn": "withdrawn",
          "Rerouted": "rerouted", "Accepted": "accepted", "Rejected": "rejected", "Closed": "accepted"}


@pytest.fixture
def supplier_org():
    with SalesforceSandbox() as org:
        campaign = org.insert("Campaign", [{"Name": CAMPAIGN, "Type": "Trade Show", "IsActive": True}])[0]
        ids = org.insert("Lead", LEADS)
        org.insert("CampaignMember", [{"CampaignId": campaign, "LeadId": i, "Status": "Responded"} for i in ids])
        yield org


@pytest.fixture
def partner_org():
    """The partner's own org: an External ID field for leadsync's lead id, a withdrawal flag, its own status
    names (with en dashes), and users who can own leads."""
    extra = {"Lead": [FieldSpec("LeadSync_Lead_Id__c", "string", "LeadSync Lead Id", length=80, external_id=True,
                                unique=True),
                      FieldSpec("LeadSync_Withdrawn__c", "boolean", "Withdrawn by supplier", default_value=False)]}
    with SalesforceSandbox(extra_fields=extra, picklists={"Lead": {"Status": PARTNER_STATUSES}}) as org:
        org.insert("User", [
            {"Username": "desk@northwind.example", "FirstName": "Lead", "LastName": "Desk",
             "Email": "desk@northwind.example", "IsActive": True},
            {"Username": "nora@northwind.example", "FirstName": "Nora", "LastName": "West",
             "Email": "nora@northwind.example", "IsActive": True},
            {"Username": "casey@cascade.example", "FirstName": "Casey", "LastName": "Lee",
             "Email": "casey@cascade.example", "IsActive": True}])
        yield org


def crm_block(org: SalesforceSandbox, key_env: str, secret_env: str) -> dict:
    return {
        "type": "salesforce",
        "connection": {"login_url": org.url, "consumer_key_env": key_env, "consumer_secret_env": secret_env,
                       "ca_bundle": str(org.ca_pem_path), "timeout_s": 10},
        "owner": {"default_email": "desk@northwind.example"},
        "status_map": {"Open – Not Contacted": "Not Contacted", "Working – Contacted": "Contacted",
                       "Closed – Converted": "Converted Opportunity",
                       "Closed – Not Converted": "Unqualified/Invalid"},
        "withdrawal": {"field": "LeadSync_Withdrawn__c", "value": True},
    }


@pytest.fixture
def project(project: Path, supplier_org: SalesforceSandbox, partner_org: SalesforceSandbox, monkeypatch) -> Path:
    (project / "mappings/sources/sftp_demo.yaml").unlink()
    source = {
        "name": "sfdc", "type": "salesforce", "contacts": [SUPPLIER_CONTACT],
        "connection": {"login_url": supplier_org.url, "consumer_key_env": "SFDC_KEY",
                       "consumer_secret_env": "SFDC_SECRET", "ca_bundle": str(supplier_org.ca_pem_path),
                       "timeout_s": 10},
        "pull": {"campaigns": {"name_pattern": "."}},
        "writeback": {"fields": {"distribution_status": "LeadSync_Distribution_Status__c",
                                 "partner_name": "LeadSync_Partner__c", "sales_status": "LeadSync_Sales_Status__c",
                                 "rep_name": "LeadSync_Rep_Name__c", "rep_email": "LeadSync_Rep_Email__c"},
                      "distribution_status_values": STATUS,
                      "sales_status_values": {"Unqualified/Invalid": "Unqualified"}},
        "fields": [
            {"column": "Email", "field": "email", "format": "email", "required": True},
            {"column": "FirstName", "field": "first_name"},
            {"column": "LastName", "field": "last_name"},
            {"column": "Company", "field": "company"},
            {"column": "Country", "field": "country"},
            {"column": "Phone", "field": "phone"},
            {"column": "Title", "field": "title", "shared": False},
            {"column": "NumberOfEmployees", "field": "employees", "label": "Employees", "type": "number"},
            {"column": "CampaignName", "field": "campaign"},
        ],
    }
    (project / "mappings/sources/sfdc.yaml").write_text(yaml.safe_dump(source, sort_keys=False, allow_unicode=True))
    partners = {
        "partners": [
            {"id": "northwind", "name": "Northwind Networks", "auto_accept": True,
             "technical_contact": "it@northwind.example",
             "reps": [{"name": "Nora West", "email": "nora@northwind.example"}],
             "users": [{"name": "Lead Desk", "email": "desk@northwind.example"}],
             "crm": crm_block(partner_org, "NW_KEY", "NW_SECRET")},
            {"id": "cascade", "name": "Cascade Secure", "auto_accept": True,
             "technical_contact": "it@cascade.example",
             "reps": [{"name": "Casey Lee", "email": "casey@cascade.example"}],
             "users": [{"name": "Inbound", "email": "inbound@cascade.example"}],
             "crm": crm_block(partner_org, "CS_KEY", "CS_SECRET")},
        ],
        "routing": {"default_partner": "northwind", "accept_within_days": 5,
                    "protected_accounts": [{"company": "Globex", "partner": "cascade", "rep": "casey@cascade.example"}]},
    }
    (project / "mappings/partners.yaml").write_text(yaml.safe_dump(partners, sort_keys=False, allow_unicode=True))
    for prefix, org in (("SFDC", supplier_org), ("NW", partner_org), ("CS", partner_org)):
        monkeypatch.setenv(f"{prefix}_KEY", org.credentials.client_id)
        monkeypatch.setenv(f"{prefix}_SECRET", org.credentials.client_secret)
    return project


@dataclass
class Mail:
    to: str
    subject: str
    text: str


@pytest.fixture
def mails(mail_sandbox):
    """The messages the SMTP sandbox received so far (call it)."""
    def read() -> list[Mail]:
        out = []
        for path in mail_sandbox.messages():
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            body = msg.get_body(preferencelist=("plain",))
            out.append(Mail(str(msg["To"]), str(msg["Subject"]), body.get_content() if body else ""))
        return out
    return read
