"""An SFTP source's `campaign_columns`: the file's columns describing each row's campaign (description, dates,
custom fields with labels, one kept internal) are kept per campaign by the intake, and one run of the job
emails the partner the lead with its campaign's description, dates and shared field, never the internal one."""

import email
import email.policy
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from jobs import read_query, run_job
from leadsync.connectors.sftp.sandbox import SftpSandbox

from leadsync.config import ConfigError
from leadsync.config.loader import load_source
from leadsync.pull.campaign_fields import campaign_fields
from leadsync.store import tables

PASSWORD = "s3cret-for-tests"
CAMPAIGN_COLUMNS = [
    {"column": "Campaign Description", "field": "description"},
    {"column": "Campaign Start", "field": "start_date"},
    {"column": "Campaign End", "field": "end_date"},
    {"column": "Campaign Offer", "field": "offer", "label": "Partner offer"},
    {"column": "Campaign Budget", "field": "budget", "shared": False},
]
HEADER = "Email,First Name,Last Name,Company,Country,Campaign,Campaign Description,Campaign Start,Campaign End," \
         "Campaign Offer,Campaign Budget\n"


@pytest.fixture
def project(project: Path, tmp_path, monkeypatch):
    """The shipped SFTP source on a sandbox of the test's own, with campaign columns; every lead to Northwind."""
    server = SftpSandbox(tmp_path / "sftp", users={"demo": PASSWORD}).start()
    path = project / "mappings/sources/sftp_demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["connection"].update(port=server.port, known_hosts=str(server.write_known_hosts(project / "known_hosts")))
    data["campaign_columns"] = CAMPAIGN_COLUMNS
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    partners = yaml.safe_load((project / "mappings/partners.yaml").read_text())
    partners["routing"] = {"default_partner": "northwind", "rule_groups": []}
    (project / "mappings/partners.yaml").write_text(yaml.safe_dump(partners, sort_keys=False))
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", PASSWORD)
    (server.root / "inbox").mkdir(parents=True, exist_ok=True)
    (server.root / "inbox/expo.csv").write_text(
        HEADER
        + "ann@acme.com,Ann,Lee,Acme,US,Expo 2026,Booth 12,,,,\n"
        + "bob@beta.com,Bob,Ray,Beta,US,Expo 2026,Booth 12 at the Expo,2026-11-01,2026-11-03,Free install,99123\n"
        + "not-an-email,Cid,Fox,Gamma,US,Other Show,Never seen,,,Nope,1\n"
        + "dee@delta.com,Dee,Oak,Delta,US,,,,,,\n", encoding="utf-8")
    yield project
    server.stop()


def mails_for(folder: Path, who: str) -> list[str]:
    out = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        text, html = (message.get_body((kind,)).get_content() for kind in ("plain", "html"))
        if who in text:
            out.append(text + html)
    return out


def test_campaign_columns_reach_the_partners_email_and_the_internal_one_does_not(project, store_url, mail_sandbox):
    assert run_job(project, store_url).success

    stored = read_query(store_url, sa.select(tables.campaigns.c.campaign_id, tables.campaigns.c.description,
                                              tables.campaigns.c.start_date, tables.campaigns.c.end_date)
                        .where(tables.campaigns.c.source == "sftp_demo"))
    # one campaign: each value from the last row holding one; the quarantined row's campaign is not kept
    assert stored.to_dict("records") == [{"campaign_id": "Expo 2026", "description": "Booth 12 at the Expo",
                                          "start_date": "2026-11-01", "end_date": "2026-11-03"}]
    fields = read_query(store_url, campaign_fields("sftp_demo", shared_only=False))
    assert fields[["field", "label", "value", "shared"]].values.tolist() == [
        ["offer", "Partner offer", "Free install", True], ["budget", "Campaign Budget", "99123", False]]

    (ann,) = mails_for(mail_sandbox.folder, "Ann Lee")
    assert "Expo 2026 (2026-11-01 to 2026-11-03)" in ann and "Booth 12 at the Expo" in ann
    assert "Partner offer: Free install" in ann  # the text part
    assert "Campaign Budget" not in ann and "99123" not in ann
    (dee,) = mails_for(mail_sandbox.folder, "Dee Oak")
    assert "Free install" not in dee  # a lead without a campaign shows none


def test_campaign_columns_need_the_campaign_field(project):
    path = project / "mappings/sources/sftp_demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["fields"] = [f for f in data["fields"] if f["field"] != "campaign"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match="map the file's campaign column to the field 'campaign'"):
        load_source(path)
