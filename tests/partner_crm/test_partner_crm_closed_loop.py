"""Partner CRM delivery end to end, on two Salesforce sandbox orgs (supplier and partner) through the Dagster
jobs: a lead pulled from the supplier org and accepted by a CRM-connected partner appears in the partner's
org with only the partner-visible fields, the campaign, the owner and leadsync's external id; the partner
works it there (status, owner, conversion, opportunity) and the supplier org shows the mapped sales status,
the rep and the opportunity; a withdrawal is flagged in the partner org, never deleted."""

from datetime import UTC, datetime

import sqlalchemy as sa
from jobs import read_table, run_job

from leadsync.config import load_partners
from leadsync.partner_crm.tables import partner_crm_leads, partner_crm_sync
from leadsync.routing.manual import withdraw_by_hand
from leadsync.store import LeadStore, tables


def partner_lead(org, lead_id: str) -> dict:
    records = org.connect().query_all(
        "SELECT Id, FirstName, LastName, Company, Email, Phone, Country, Title, Description, LeadSource, Status, "
        f"OwnerId, Owner.Email, LeadSync_Lead_Id__c, LeadSync_Withdrawn__c FROM Lead "
        f"WHERE LeadSync_Lead_Id__c = '{lead_id}'")["records"]
    assert len(records) == 1, records  # exactly one record per lead, ever
    return records[0]


def supplier_opportunities(org, record_id: str) -> list[dict]:
    return org.connect().query_all("SELECT Name, StageName, Amount, CloseDate, LeadSync_Partner__c FROM Opportunity "
                                   f"WHERE LeadSync_Lead__c = '{record_id}'")["records"]


def test_lead_flows_into_the_partner_crm_and_its_updates_reach_the_supplier_org(
        project, supplier_org, partner_org, store_url, mails):
    first = run_job(project, store_url)
    assert first.success
    leads = read_table(store_url, tables.leads).set_index("email")
    ada, alan = leads.loc["ada@engines.example"], leads.loc["alan@bletchley.example"]

    # --- delivery: only the partner-visible fields, the campaign, the owner, the external id; no email
    record = partner_lead(partner_org, ada["lead_id"])
    assert (record["FirstName"], record["LastName"], record["Company"], record["Email"], record["Country"]) == (
        "Ada", "Lovelace", "Analytical Engines", "ada@engines.example", "US")
    assert record["Title"] is None  # shared: false never leaves
    assert "Employees: 250" in record["Description"] and "CTO" not in (record["Description"] or "")
    assert record["LeadSource"] == "RSA 2026 Booth"
    assert record["Owner"]["Email"] == "desk@northwind.example"  # crm.owner.default_email
    assert record["Status"] == "Open – Not Contacted" and record["LeadSync_Withdrawn__c"] is False
    ledger = read_table(store_url, partner_crm_leads).set_index("lead_id")
    assert ledger.loc[ada["lead_id"], "state"] == "delivered" and ledger.loc[ada["lead_id"], "record_id"] == record["Id"]
    assert not any("Northwind" in m.subject and "New lead" in m.subject for m in mails())  # auto-accept: no email
    assert supplier_org.get("Lead", ada["source_record_id"])["LeadSync_Partner__c"] == "Northwind Networks"

    # --- the partner works the lead in its own org: owner, status, then converts it with an opportunity
    nora = partner_org.connect().query("SELECT Id FROM User WHERE Email = 'nora@northwind.example'")["records"][0]["Id"]
    partner_org.update("Lead", record["Id"], {"OwnerId": nora, "Status": "Working – Contacted"})
    converted = partner_org.convert_lead(record["Id"], {"Name": "Firewall refresh", "StageName": "Needs Analysis",
                                                        "CloseDate": "2027-01-31", "Amount": 12000},
                                        converted_status="Closed – Converted")
    assert run_job(project, store_url, "partner_crm").success  # updates, then the writeback: one run

    source = supplier_org.get("Lead", ada["source_record_id"])
    assert source["LeadSync_Sales_Status__c"] == "Converted Opportunity"
    assert (source["LeadSync_Rep_Name__c"], source["LeadSync_Rep_Email__c"]) == ("Nora West", "nora@northwind.example")
    [opportunity] = supplier_opportunities(supplier_org, ada["source_record_id"])
    assert (opportunity["Name"], opportunity["StageName"], opportunity["Amount"], opportunity["CloseDate"]) == (
        "Firewall refresh", "Qualification", 12000.0, "2027-01-31")  # stage through the default stage map
    assert opportunity["LeadSync_Partner__c"] == "Northwind Networks"
    assert not any("nora@northwind.example" in m.to for m in mails())  # the CRM told its rep; we do not

    # --- the opportunity moves on in the partner org: the supplier's opportunity follows, still one
    partner_org.update("Opportunity", converted["opportunity"], {"StageName": "Closed Won", "Amount": 15500})
    assert run_job(project, store_url, "partner_crm").success
    [opportunity] = supplier_opportunities(supplier_org, ada["source_record_id"])
    assert (opportunity["StageName"], opportunity["Amount"]) == ("Closed Won", 15500.0)

    # --- a lead taken back from the partner is flagged in its org, not deleted; its later edits are ignored
    store = LeadStore(store_url)
    try:
        partners = load_partners(project / "mappings/partners.yaml")
        withdraw_by_hand(store, partners, alan["lead_id"], datetime.now(UTC), reason="account moved to direct sales")
    finally:
        store.dispose()
    assert run_job(project, store_url, "partner_crm").success
    flagged = partner_lead(partner_org, alan["lead_id"])
    assert flagged["LeadSync_Withdrawn__c"] is True and flagged["Status"] == "Open – Not Contacted"
    partner_org.update("Lead", flagged["Id"], {"Status": "Working – Contacted"})
    assert run_job(project, store_url, "partner_crm").success
    ledger = read_table(store_url, partner_crm_leads).set_index("lead_id")
    assert ledger.loc[alan["lead_id"], "state"] == "withdrawn"
    assert ledger.loc[alan["lead_id"], "crm_status"] == "Working – Contacted"  # read, but not the partner's now
    events = read_table(store_url, tables.writeback_outbox)
    assert not ((events["lead_id"] == alan["lead_id"]) & (events["kind"] == "sales_status")).any()
    assert supplier_org.get("Lead", alan["source_record_id"])["LeadSync_Distribution_Status__c"] == "withdrawn"

    sync = read_table(store_url, partner_crm_sync).set_index("partner_id")
    assert sync.loc["northwind", "failures"] == 0 and sync.loc["northwind", "watermark"] is not None
    with LeadStore(store_url).begin() as conn:
        kinds = set(conn.execute(sa.select(tables.writeback_outbox.c.kind).where(
            tables.writeback_outbox.c.lead_id == ada["lead_id"])).scalars().all())
    assert {"sales_status", "rep", "opportunity"} <= kinds
