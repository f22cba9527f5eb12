"""A partner's CRM failing fails that partner alone: a record refused by a validation rule is retried next
run and created once (upserted by its external id, even when leadsync lost track of the first create); a
partner with bad credentials gets nothing while the other partner is served, and its technical contact and
the supplier's contacts are emailed the reason (once a day for the same failure)."""

import sqlalchemy as sa
from jobs import read_table, run_job

from leadsync.partner_crm.tables import partner_crm_leads, partner_crm_sync
from leadsync.store import LeadStore, tables


def partner_records(org, lead_id: str) -> list[dict]:
    return org.connect().query_all(
        f"SELECT Id, Email, Owner.Email FROM Lead WHERE LeadSync_Lead_Id__c = '{lead_id}'")["records"]


def check(result, asset: str) -> tuple[bool, str]:
    found = [e for e in result.get_asset_check_evaluations()
             if e.asset_key.to_user_string() == asset and e.check_name == "every_partner_crm_ok"]
    assert len(found) == 1
    return found[0].passed, found[0].description or ""


def test_a_refused_create_is_retried_next_run_and_never_duplicated(project, partner_org, duckdb_url, mails):
    partner_org.faults.reject_records(emails=["ada@engines.example"], times=1,
                                      message="Partner leads need a Lead Source approved by the channel team")
    first = run_job(project, duckdb_url)
    assert first.success  # one partner's refusal never fails the run …
    passed, description = check(first, "partners/crm_deliveries")
    assert not passed and "northwind" in description and "Lead Source approved" in description  # … the check does
    leads = read_table(duckdb_url, tables.leads).set_index("email")
    ada, alan = leads.loc["ada@engines.example", "lead_id"], leads.loc["alan@bletchley.example", "lead_id"]
    ledger = read_table(duckdb_url, partner_crm_leads).set_index("lead_id")
    assert ledger.loc[ada, "state"] == "failed" and "FIELD_CUSTOM_VALIDATION_EXCEPTION" in ledger.loc[ada, "last_error"]
    assert partner_records(partner_org, ada) == [] and len(partner_records(partner_org, alan)) == 1
    [alert] = [m for m in mails() if "Northwind Networks" in m.subject]
    assert "it@northwind.example" in alert.to and "crm-admin@supplier.example" in alert.to
    assert "Lead Source approved" in alert.text and "next run tries again" in alert.text

    again = run_job(project, duckdb_url, "partner_crm")
    assert again.success and check(again, "partners/crm_deliveries")[0]
    [record] = partner_records(partner_org, ada)
    ledger = read_table(duckdb_url, partner_crm_leads).set_index("lead_id")
    assert ledger.loc[ada, "state"] == "delivered" and ledger.loc[ada, "attempts"] == 2
    assert ledger.loc[ada, "record_id"] == record["Id"]

    # leadsync loses its record of the create (a crash between the CRM's answer and the ledger): the next run
    # sends the lead again, and the CRM updates the record it has instead of creating a second one
    store = LeadStore(duckdb_url)
    with store.begin() as conn:
        conn.execute(sa.delete(partner_crm_leads).where(partner_crm_leads.c.lead_id == ada))
    store.dispose()
    assert run_job(project, duckdb_url, "partner_crm").success
    assert [r["Id"] for r in partner_records(partner_org, ada)] == [record["Id"]]
    assert len(mails()) == 1  # nothing new to tell anyone


def test_a_partner_with_bad_credentials_fails_alone_and_its_people_are_told(project, partner_org, duckdb_url,
                                                                           mails, monkeypatch):
    monkeypatch.setenv("CS_SECRET", "not-the-consumer-secret")
    first = run_job(project, duckdb_url)
    assert first.success
    passed, description = check(first, "partners/crm_deliveries")
    assert not passed and "cascade" in description and "northwind" not in description
    leads = read_table(duckdb_url, tables.leads).set_index("email")
    grace = leads.loc["grace@globex.example", "lead_id"]  # protected account: Cascade's
    assert partner_records(partner_org, grace) == []
    assert all(len(partner_records(partner_org, leads.loc[e, "lead_id"])) == 1
               for e in ("ada@engines.example", "alan@bletchley.example"))  # Northwind served all the same
    sync = read_table(duckdb_url, partner_crm_sync).set_index("partner_id")
    assert sync.loc["cascade", "failures"] >= 1 and "CS_SECRET" not in sync.loc["cascade", "last_error"]
    assert "client_credentials" in sync.loc["cascade", "last_error"]  # which login flow failed, and the fix
    [alert] = mails()
    assert "Cascade Secure" in alert.subject
    assert "it@cascade.example" in alert.to and "crm-admin@supplier.example" in alert.to
    assert "partners.yaml partners[cascade].crm" in alert.text and "consumer key and secret" in alert.text

    assert run_job(project, duckdb_url, "partner_crm").success
    assert len(mails()) == 1  # the same failure is emailed once a day, not every run

    monkeypatch.setenv("CS_SECRET", partner_org.credentials.client_secret)  # the partner fixes its secret
    fixed = run_job(project, duckdb_url, "partner_crm")
    assert fixed.success and check(fixed, "partners/crm_deliveries")[0]
    [record] = partner_records(partner_org, grace)
    assert record["Owner"]["Email"] == "casey@cascade.example"  # the rep account protection chose, not the default
    assert read_table(duckdb_url, partner_crm_sync).set_index("partner_id").loc["cascade", "failures"] == 0


def test_check_connect_logs_in_to_each_partner_crm(project, partner_org, monkeypatch):
    from leadsync.checks.connect import check_connections
    from leadsync.config.loader import project_paths

    paths = project_paths(project / "mappings")
    crm = [p for p in check_connections(paths) if ".crm" in p.key]
    assert crm == []  # both partner orgs answer, with the external id and the fields leadsync uses
    monkeypatch.setenv("CS_SECRET", "not-the-consumer-secret")
    [problem] = [p for p in check_connections(paths) if ".crm" in p.key]
    assert problem.is_error and problem.key == "partners[cascade].crm" and "Cascade Secure" in problem.message
