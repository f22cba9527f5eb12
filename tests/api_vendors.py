"""Each vendor's sandbox as a test needs it: started, connected to an API source's YAML, read back. Shared by
the API-source tests (tests/test_api_*.py)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import yaml
from jobs import read_query, run_job

from leadsync.store import tables

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
             "Rerouted": "rerouted", "Accepted": "accepted", "Rejected": "rejected", "Closed": "accepted",
             "Registered": "registered"}
SF_SALES = {"Unqualified/Invalid": "Unqualified"}

# a partner's registration (tests/test_api_registrations.py, test_api_source_loop_e2e.py), and the request that
# makes its record, per vendor: its answer is the one the tests lose
LEAD = {"reference": "NW-7", "first_name": "Ada", "last_name": "Byron", "email": "ada@analytical.example",
        "company": "Analytical Engines", "country": "US", "products": "Firewall"}
CREATE_PATH = {"salesforce": "/composite/sobjects/Lead/", "marketo": "/rest/v1/leads.json",
               "eloqua": "/syncs"}


class Vendor:
    """A running sandbox and how to read its records back."""

    def __init__(self, kind: str, tmp_path: Path, leads: int = 60):
        self.kind = kind
        if kind == "salesforce":
            from leadsync.connectors.salesforce.sandbox import SalesforceSandbox
            self.server = SalesforceSandbox().start()
            self.server.seed(leads=leads, seed=4)
        elif kind == "marketo":
            from leadsync.connectors.marketo.sandbox import MarketoSandbox
            self.server = MarketoSandbox(seed_leads=leads, seed=4).start()
        else:
            from leadsync.connectors.eloqua.sandbox import EloquaSandbox
            self.server = EloquaSandbox(seed_contacts=leads, sync_delay_s=0.005).start()

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

    @property
    def http_faults(self):
        """The sandbox's generic HTTP fault switches (drops, 5xx, lost answers)."""
        if self.kind == "salesforce":
            return self.server.http.faults
        return self.server.http_faults if self.kind == "marketo" else self.server.faults

    def change_at_source(self, record_id: str, email: str, values: dict) -> None:
        """What the supplier's own team does in its system: set fields of a record (named as WRITEBACK names
        them: sales_status, rep_name, ...), which moves its modification stamp."""
        fields = {WRITEBACK[self.kind][k]: v for k, v in values.items()}
        if self.kind == "salesforce":
            self.server.connect().Lead.update(record_id, fields)
        elif self.kind == "marketo":
            result = self.server.leads.sync([{"id": int(record_id), **fields}], "updateOnly", "id", "test")
            assert result[0]["status"] == "updated", result
        else:
            contacts = self.server.state.contacts
            position = int(contacts.positions_for_ids([int(record_id)])[0])
            contacts.apply({position: {**fields, "C_DateModified": self.server.state.clock.now()}})

    def nurture_target(self) -> dict:
        """A fresh nurture target in the sandbox, as the `nurture:` YAML names it."""
        if self.kind == "salesforce":
            campaign = self.server.connect().Campaign.create({"Name": "Nurture stream", "IsActive": True})
            return {"target": "campaign", "id": campaign["id"], "member_status": "Sent"}
        if self.kind == "marketo":
            program = self.server.programs.create("Nurture stream", channel="Nurture")
            return {"target": "program", "id": str(program), "member_status": "Member"}
        return {"target": "contact_list", "id": str(self.server.state.contact_lists.create("Nurture stream").id)}

    def nurture_members(self, target: dict) -> list[str]:
        """Record ids in the nurture target, one entry per membership (a duplicate would show twice)."""
        if self.kind == "salesforce":
            found = self.server.connect().query_all(
                f"SELECT LeadId FROM CampaignMember WHERE CampaignId = '{target['id']}'")["records"]
            return [r["LeadId"][:15] for r in found]
        if self.kind == "marketo":
            return [str(i) for i in self.server.programs.member_lead_ids(target["id"])]
        return [str(i) for i in self.server.state.contact_lists.members(int(target["id"]))]

    def records_keyed(self, key: str) -> list[str]:
        """Ids of the records holding `key` in the lead key field (what leadsync creates records by)."""
        if self.kind == "salesforce":
            found = self.server.connect().query_all(
                f"SELECT Id FROM Lead WHERE LeadSync_Lead_Key__c = '{key}'")["records"]
            return [r["Id"] for r in found]
        if self.kind == "marketo":
            return [str(r["id"]) for r in self.server.db.rows("SELECT id FROM leads WHERE leadsyncLeadKey = ?", [key])]
        table = self.server.state.contacts.table
        keys = table.column("C_LeadSync_Lead_Key1").to_pylist()
        return [str(i) for i, k in zip(table.column("id").to_pylist(), keys, strict=True) if k == key]

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


def api_source_yaml(project: Path, vendor: Vendor, monkeypatch, **extra) -> dict:
    """Write `mappings/sources/crm.yaml` (the vendor as source `crm`, every writeback field mapped; `extra`
    added to the YAML) in place of the SFTP example; every routed lead goes to Northwind. The YAML written."""
    (project / "mappings/sources/sftp_demo.yaml").unlink(missing_ok=True)
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
    source |= extra
    (project / "mappings/sources/crm.yaml").write_text(yaml.safe_dump(source, sort_keys=False))
    partners = yaml.safe_load((project / "mappings/partners.yaml").read_text())
    partners["routing"] = {"default_partner": "northwind", "rule_groups": []}
    (project / "mappings/partners.yaml").write_text(yaml.safe_dump(partners, sort_keys=False))
    return source


def registrations_into(project: Path, source: str) -> None:
    """lifecycle.yaml as a supplier writes it to have partners' registrations made records of `source`."""
    lifecycle_file = project / "mappings/lifecycle.yaml"
    lifecycle = yaml.safe_load(lifecycle_file.read_text())
    lifecycle["auto_registration"]["target_source"] = source
    lifecycle_file.write_text(yaml.safe_dump(lifecycle, sort_keys=False))


VENDORS = ["salesforce", "marketo", "eloqua"]


def started_vendor(request, tmp_path):
    """A fixture body: each vendor's sandbox in turn (params=VENDORS), started and stopped."""
    v = Vendor(request.param, tmp_path)
    yield v
    v.server.stop()


def routed_leads(project: Path, store_url: str, limit: int = 2) -> pd.DataFrame:
    """Run the `leadsync` job (pull, intake, routing: every lead to Northwind; its reports left out, as
    tests/jobs.py `run_job` does) and read the first `limit` leads: lead_id, email, source_record_id."""
    assert run_job(project, store_url).success
    leads = tables.leads
    return read_query(store_url, sa.select(leads.c.lead_id, leads.c.email, leads.c.source_record_id)
                      .order_by(leads.c.lead_id).limit(limit))
