"""End to end through the Dagster job: a Salesforce campaign with a custom field the supplier shares
(`pull.campaigns.fields`, with a partner-facing label) and one it keeps internal; one run of the `leadsync`
job pulls, routes and emails the partner, and the email the SMTP server received shows the shared field by
its label, in the text and the HTML part, and nothing of the internal one."""

import email
import email.policy
from pathlib import Path

import yaml
from jobs import run_job
from leadsync.connectors.salesforce.sandbox import SalesforceSandbox
from leadsync.connectors.salesforce.sandbox.schema import FieldSpec
from three_sources import salesforce_source, write_source

OFFER = "Two booth passes per deal"


def received(mail_folder: Path, address: str) -> list[tuple[str, str]]:
    """(text, html) of every message the SMTP sandbox kept for `address`."""
    out = []
    for path in sorted(mail_folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in message["X-Envelope-To"]:
            out.append(tuple(message.get_body((kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html")))
    return out


def test_a_shared_campaign_field_reaches_the_partners_email_and_an_internal_one_does_not(
        project: Path, duckdb_url, mail_sandbox, monkeypatch):
    custom = {"Campaign": [FieldSpec("Partner_Offer__c", "string", "Partner Offer")]}  # the org's own field
    with SalesforceSandbox(extra_fields=custom) as org:
        (campaign,) = org.insert("Campaign", [{"Name": "RSA 2026 Booth", "Type": "Trade Show", "IsActive": True,
                                               "Partner_Offer__c": OFFER, "BudgetedCost": 48213}])
        member, _outside = org.insert("Lead", [
            {"FirstName": "Ada", "LastName": "Lovelace", "Company": "Engines", "Email": "ada@engines.example",
             "Country": "US"},
            {"FirstName": "Alan", "LastName": "Turing", "Company": "Bombe", "Email": "alan@bombe.example",
             "Country": "US"}])
        org.insert("CampaignMember", [{"CampaignId": campaign, "LeadId": member, "Status": "Responded"}])

        source = salesforce_source(org)
        source["pull"]["campaigns"] = {"ids": [campaign], "fields": [
            {"field": "Partner_Offer__c", "label": "Partner offer"},
            {"field": "BudgetedCost", "label": "Budget", "shared": False}]}
        (project / "mappings/sources/sftp_demo.yaml").unlink()
        write_source(project / "mappings", source)
        partners = yaml.safe_load((project / "mappings/partners.yaml").read_text())
        partners["routing"] = {"default_partner": "northwind", "rule_groups": []}
        (project / "mappings/partners.yaml").write_text(yaml.safe_dump(partners, sort_keys=False))
        monkeypatch.setenv("SFDC_KEY", org.credentials.client_id)
        monkeypatch.setenv("SFDC_SECRET", org.credentials.client_secret)

        assert run_job(project, duckdb_url).success

    mails = received(mail_sandbox.folder, "leads@northwind.example")
    (ada,) = [m for m in mails if "Ada Lovelace" in m[0]]
    (alan,) = [m for m in mails if "Alan Turing" in m[0]]
    text, html = ada
    assert "Campaign: RSA 2026 Booth" in text and f"  Partner offer: {OFFER}\n" in text
    assert f'<th align="left" style="color:#555">Partner offer</th><td>{OFFER}</td>' in html
    for body in (*ada, *alan):  # the internal field: neither its label nor its value, in any email
        assert "Budget" not in body and "48213" not in body and "48,213" not in body
    assert OFFER not in alan[0] + alan[1]  # a lead outside the campaign shows none of its fields
