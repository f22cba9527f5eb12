"""Opportunities a partner created in its own CRM without a leadsync lead: read from the partner's Salesforce
sandbox org when the partner's CRM asks for them, never the converted opportunity of a leadsync lead, read
again without counting twice, and counted as the Opportunity Summary's CRM-only class."""

from datetime import UTC, datetime

from jobs import read_table, run_job

from leadsync.config.loader import project_paths
from leadsync.lifecycle.context import load_lifecycle
from leadsync.partner_crm.crm_only import enabled, pull_crm_only
from leadsync.partner_crm.kinds import open_crm
from leadsync.partner_crm.outcome import PartnerOutcome
from leadsync.partner_crm.tables import partner_crm_leads, partner_crm_only_opportunities
from leadsync.reports import run_report
from leadsync.store import LeadStore


def crm_only_partner(ctx, partner_id: str):
    """The partner with `crm.crm_only_opportunities: true` (the YAML key partners.yaml's model is to take)."""
    partner = ctx.partner(partner_id)
    return partner.model_copy(update={"crm": partner.crm.model_copy(update={"crm_only_opportunities": True})})


def test_crm_only_opportunities_are_read_once_and_summarised(project, partner_org, duckdb_url):
    assert run_job(project, duckdb_url).success  # leads delivered into the partner's org
    ledger = read_table(duckdb_url, partner_crm_leads)
    record_id = ledger[ledger["partner_id"] == "northwind"]["record_id"].iloc[0]
    # one of leadsync's leads converted (its opportunity is not CRM-only), and one opportunity of the partner's own
    partner_org.convert_lead(record_id, {"Name": "From our lead", "StageName": "Prospecting",
                                         "CloseDate": "2027-02-28", "Amount": 12000}, converted_status="Closed – Converted")
    (own,) = partner_org.insert("Opportunity", [{"Name": "Renewal we found", "StageName": "Negotiation/Review",
                                                 "CloseDate": "2027-03-31", "Amount": 7500}])

    ctx = load_lifecycle(project_paths(project / "mappings"), LeadStore(duckdb_url))
    assert not enabled(ctx.partner("northwind"))  # off unless the partner's CRM asks for it
    partner = crm_only_partner(ctx, "northwind")
    assert enabled(partner)
    now = datetime.now(UTC)
    crm = open_crm(partner, project_paths(project / "mappings"))
    try:
        outcome = PartnerOutcome("northwind")
        assert pull_crm_only(ctx, partner, crm, now, outcome) == 1
        stored = read_table(duckdb_url, partner_crm_only_opportunities)
        assert stored[["record_id", "name", "stage", "amount"]].values.tolist() == [
            [own, "Renewal we found", "Negotiation", 7500.0]]  # the CRM stage through the default stage map
        assert pull_crm_only(ctx, partner, crm, now, PartnerOutcome("northwind")) in (0, 1)  # the look-back
        partner_org.update("Opportunity", own, {"Amount": 8000})
        pull_crm_only(ctx, partner, crm, now, PartnerOutcome("northwind"))
    finally:
        crm.close()
    stored = read_table(duckdb_url, partner_crm_only_opportunities)
    assert stored["amount"].tolist() == [8000.0]  # one row per CRM record, its latest state

    summary = run_report(ctx.store, "opportunity_summary").set_index("origin")
    assert (summary.loc["crm_only", "opportunities"], summary.loc["crm_only", "amount"]) == (1, 8000.0)
    north = run_report(ctx.store, "opportunity_overview", filters=["partner=northwind"])
    assert 8000.0 in north["amount"].tolist()
    assert run_report(ctx.store, "opportunity_summary", filters=["partner=cascade"]).set_index(
        "origin").loc["crm_only", "opportunities"] == 0
