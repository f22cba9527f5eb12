"""Every kind of partner outcome reaches each API source's own records: a partner accepts, assigns a rep,
moves the sales status, converts with an opportunity, records a marketing event, and another lead is
rejected; one writeback later the sandbox's records show all of it (Salesforce Lead fields + Opportunity +
Task, Marketo lead fields + opportunity + custom activity, Eloqua contact fields + custom objects)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from leadsync import pipeline
from leadsync.config.loader import project_paths
from leadsync.defs.build import build_definitions
from leadsync.lifecycle.acceptance import accept_lead, reject_lead
from leadsync.lifecycle.context import load_lifecycle
from leadsync.lifecycle.updates import apply_update
from leadsync.store import LeadStore, tables
from leadsync.writeback import outbox

FIELDS = {  # our lead field → each vendor's field name
    "salesforce": {"email": "Email", "first_name": "FirstName", "last_name": "LastName", "company": "Company",
                   "country": "Country", "state": "State", "postal_code": "PostalCode"},
    "marketo": {"email": "email", "first_name": "firstName", "last_name": "lastName", "company": "company",
                "country": "country", "state": "state", "postal_code": "postalCode"},
    "eloqua": {"email": "C_EmailAddress", "first_name": "C_FirstName", "last_name": "C_LastName",
               "company": "C_Company", "country": "C_Country", "state": "C_State_Prov", "postal_code": "C_Zip_Postal"},
}
WRITEBACK = {
    "salesforce": {"distribution_status": "LeadSync_Distribution_Status__c", "partner_name": "LeadSync_Partner__c",
                   "rejection_reason": "LeadSync_Rejection_Reason__c", "sales_status": "LeadSync_Sales_Status__c",
                   "rep_name": "LeadSync_Rep_Name__c", "rep_email": "LeadSync_Rep_Email__c"},
    "marketo": {"distribution_status": "leadsyncDistributionStatus", "partner_name": "leadsyncPartner",
                "rejection_reason": "leadsyncRejectionReason", "sales_status": "leadsyncSalesStatus",
                "rep_name": "leadsyncRepName", "rep_email": "leadsyncRepEmail"},
    "eloqua": {"distribution_status": "C_LeadSync_Distribution_Status1", "partner_name": "C_LeadSync_Partner1",
               "rejection_reason": "C_LeadSync_Rejection_Reason1", "sales_status": "C_LeadSync_Sales_Status1",
               "rep_name": "C_LeadSync_Rep_Name1", "rep_email": "C_LeadSync_Rep_Email1"},
}
SF_STATUS = {"Routed": "routed", "Not Routed": "unassigned", "Needs Review": "needs_review", "Withdrawn": "withdrawn",
             "Rerouted": "rerouted", "Accepted": "accepted", "Rejected": "rejected", "Closed": "accepted"}
SF_SALES = {"Unqualified/Invalid": "Unqualified"}


class Vendor:
    """A running sandbox and how to read its records back."""

    def __init__(self, kind: str, tmp_path: Path):
        self.kind = kind
        if kind == "salesforce":
            from connectors.salesforce.sandbox import SalesforceSandbox
            self.server = SalesforceSandbox().start()
            self.server.seed(leads=60, seed=4)
        elif kind == "marketo":
            from connectors.marketo.sandbox import MarketoSandbox
            self.server = MarketoSandbox(seed_leads=60, seed=4).start()
        else:
            from connectors.eloqua.sandbox import EloquaSandbox
            self.server = EloquaSandbox(seed_contacts=60, sync_delay_s=0.005).start()

    def connection(self, monkeypatch) -> dict:
        s = self.server
        if self.kind == "salesforce":
            monkeypatch.setenv("V_KEY", s.credentials.client_id)
            monkeypatch.setenv("V_SECRET", s.credentials.client_secret)
            return {"login_url": s.url, "consumer_key_env": "V_KEY", "consumer_secret_env": "V_SECRET",
                    "ca_bundle": str(s.ca_pem_path)}
        if self.kind == "marketo":
            monkeypatch.setenv("V_KEY", s.client_id)
            monkeypatch.setenv("V_SECRET", s.client_secret)
            return {"base_url": s.url, "client_id_env": "V_KEY", "client_secret_env": "V_SECRET", "export_poll_s": 0.05}
        monkeypatch.setenv("V_SECRET", s.password)
        return {"login_url": s.url, "site": s.site, "username": s.username, "password_env": "V_SECRET",
                "sync_poll_s": 0.01}

    def record(self, record_id: str, email: str) -> dict:
        if self.kind == "salesforce":
            return self.server.get("Lead", record_id)
        if self.kind == "marketo":
            return self.server.leads.row(int(record_id))
        return self.server.contact(email)

    def opportunities(self, record_id: str) -> list[dict]:
        if self.kind == "salesforce":
            return self.server.connect().query_all(
                f"SELECT Name, StageName, Amount FROM Opportunity WHERE LeadSync_Lead__c = '{record_id}'")["records"]
        if self.kind == "marketo":
            return self.server.db.rows("SELECT record FROM objects WHERE objectName = ?", ["opportunity"])
        return self.server.custom_object_records(1)

    def events(self, record_id: str) -> list[dict]:
        if self.kind == "salesforce":
            return self.server.connect().query_all(f"SELECT Subject FROM Task WHERE WhoId = '{record_id}'")["records"]
        if self.kind == "marketo":
            return self.server.db.rows("SELECT leadId, primaryAttributeValue FROM activities WHERE activityTypeId = ?",
                                       [100001])
        return self.server.custom_object_records(2)


@pytest.fixture(params=["salesforce", "marketo", "eloqua"])
def vendor(request, tmp_path):
    v = Vendor(request.param, tmp_path)
    yield v
    v.server.stop()


@pytest.fixture
def project(project: Path, vendor: Vendor, monkeypatch) -> Path:
    (project / "mappings/sources/sftp_demo.yaml").unlink()
    writeback: dict = {"fields": WRITEBACK[vendor.kind]}
    if vendor.kind == "salesforce":
        writeback |= {"distribution_status_values": SF_STATUS, "sales_status_values": SF_SALES}
    source = {
        "name": "crm", "type": vendor.kind, "connection": {**vendor.connection(monkeypatch), "timeout_s": 10},
        "pull": {"since": (datetime.now(UTC) - timedelta(days=400)).isoformat(), "bulk_threshold": 100000},
        "writeback": writeback,
        "fields": [{"column": col, "field": field, **({"required": True} if field == "email" else {})}
                   for field, col in FIELDS[vendor.kind].items()],
    }
    if vendor.kind == "salesforce":
        source["uniqueness"] = {"mode": "key", "key": ["email"]}  # email only: one lead per person
    (project / "mappings/sources/crm.yaml").write_text(yaml.safe_dump(source, sort_keys=False))
    # every routed lead goes to Northwind (no auto-accept), so the partner has leads to work
    partners = yaml.safe_load((project / "mappings/partners.yaml").read_text())
    partners["routing"] = {"default_partner": "northwind", "rule_groups": []}
    (project / "mappings/partners.yaml").write_text(yaml.safe_dump(partners, sort_keys=False))
    return project


def test_every_partner_outcome_reaches_the_source_records(project, vendor, duckdb_url):
    defs = build_definitions(project / "mappings", duckdb_url)
    assert defs.resolve_job_def("leadsync").execute_in_process(raise_on_error=False).success

    store = LeadStore(duckdb_url)
    with store.begin() as conn:
        leads = store.read_frame(conn, sa.select(tables.leads.c.lead_id, tables.leads.c.email,
                                                 tables.leads.c.source_record_id).order_by(tables.leads.c.lead_id))
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
