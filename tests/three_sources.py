"""A project with three sources on fresh sandboxes, for comparing the embedded default with the scale profile:
sftp_demo (CSV files on the SFTP sandbox), sfdc (the Salesforce sandbox) and mkto (the Marketo sandbox).
Imported by name (pytest puts tests/ on sys.path); the benchmark imports it too.

The same seed gives the same records, so two instances of it are the same input."""

import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
import yaml
from project_copies import without_partner_crms

from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.salesforce.sandbox import SalesforceSandbox
from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.connectors.sftp.seed import write_demo_leads
from leadsync.store import LeadStore, tables
from leadsync.writeback.events import fields_of

REPO = Path(__file__).resolve().parents[1]
SFTP_PASSWORD = "s3cret-for-tests"
SF_STATUS = {"Routed": "routed", "Not Routed": "unassigned", "Needs Review": "needs_review",
             "Withdrawn": "withdrawn", "Rerouted": "rerouted", "Accepted": "accepted", "Rejected": "rejected"}


@dataclass
class ThreeSources:
    root: Path
    sftp: SftpSandbox
    org: SalesforceSandbox
    mkto: MarketoSandbox
    env: dict[str, str] = field(default_factory=dict)

    @property
    def mappings(self) -> Path:
        return self.root / "mappings"


def lead_files(folder: Path, leads: int) -> Path:
    """The CSV drop both runs receive (made once, copied into each sandbox's inbox)."""
    folder.mkdir(parents=True, exist_ok=True)
    partners = [p["name"] for p in yaml.safe_load((REPO / "mappings/partners.yaml").read_text())["partners"]]
    write_demo_leads(folder / "tradeshow.csv", leads, seed=11, partner_names=partners)
    return folder


@contextmanager
def three_sources(root: Path, files: Path, smtp_port: int, sf_leads: int = 150,
                  mkto_leads: int = 200) -> Iterator[ThreeSources]:
    with ExitStack() as stack:
        # the shipped vendor examples point at the demo's sandboxes: this project has its own sfdc and mkto
        shutil.copytree(REPO / "mappings", root / "mappings", ignore=shutil.ignore_patterns(
            "salesforce_demo.yaml", "marketo_demo.yaml", "eloqua_demo.yaml"))
        lifecycle = root / "mappings/lifecycle.yaml"
        lifecycle.write_text(lifecycle.read_text().replace("port: 8025", f"port: {smtp_port}"))
        without_partner_crms(root / "mappings/partners.yaml")
        sftp = stack.enter_context(SftpSandbox(root / "sftp", users={"demo": SFTP_PASSWORD}))
        (sftp.root / "inbox").mkdir(parents=True, exist_ok=True)
        for f in files.iterdir():
            shutil.copy(f, sftp.root / "inbox" / f.name)
        org = stack.enter_context(SalesforceSandbox())
        org.seed(leads=sf_leads, seed=3)
        mkto = stack.enter_context(MarketoSandbox(seed_leads=mkto_leads, seed=5))
        _write_sources(root, sftp, org, mkto)
        env = {"LEADSYNC_SFTP_DEMO_PASSWORD": SFTP_PASSWORD, "SFDC_KEY": org.credentials.client_id,
               "SFDC_SECRET": org.credentials.client_secret, "MKTO_ID": mkto.client_id,
               "MKTO_SECRET": mkto.client_secret, "LEADSYNC_LIFECYCLE_SECRET": "test-lifecycle-secret",
               "LEADSYNC_MAPPINGS_DIR": str(root / "mappings")}
        yield ThreeSources(root, sftp, org, mkto, env)


def salesforce_source(org: SalesforceSandbox) -> dict:
    """The `sfdc` source YAML on `org` (client credentials from SFDC_KEY/SFDC_SECRET, statuses onto Leads)."""
    return {
        "name": "sfdc", "type": "salesforce", "contacts": ["crm-admin@supplier.example"],
        "connection": {"login_url": org.url, "auth": "client_credentials", "consumer_key_env": "SFDC_KEY",
                       "consumer_secret_env": "SFDC_SECRET", "ca_bundle": str(org.ca_pem_path), "timeout_s": 10},
        "pull": {"campaigns": {"name_pattern": "."}},
        "writeback": {"fields": {"distribution_status": "LeadSync_Distribution_Status__c",
                                 "partner_name": "LeadSync_Partner__c"},
                      "distribution_status_values": SF_STATUS},
        "fields": [
            {"column": "Email", "field": "email", "format": "email", "required": True},
            {"column": "FirstName", "field": "first_name"},
            {"column": "LastName", "field": "last_name"},
            {"column": "Company", "field": "company"},
            {"column": "Country", "field": "country"},
            {"column": "State", "field": "state"},
            {"column": "PostalCode", "field": "postal_code"},
            {"column": "Product_Interest__c", "field": "products"},
            {"column": "CampaignName", "field": "campaign"},
        ],
    }


def marketo_source(mkto: MarketoSandbox) -> dict:
    """The `mkto` source YAML on `mkto` (MKTO_ID/MKTO_SECRET). 200 changed leads are above the bulk threshold:
    a Bulk Extract; the seed's leads are all younger than 181 days, so the first pull starts there rather than
    read two empty years in 31-day windows."""
    return {
        "name": "mkto", "type": "marketo", "contacts": ["marketing-ops@supplier.example"],
        "connection": {"base_url": mkto.url, "client_id_env": "MKTO_ID", "client_secret_env": "MKTO_SECRET",
                       "export_poll_s": 0.05, "timeout_s": 10},
        "pull": {"bulk_threshold": 100, "since": (datetime.now(UTC) - timedelta(days=181)).isoformat()},
        "writeback": {"fields": {"distribution_status": "leadsyncDistributionStatus",
                                 "partner_name": "leadsyncPartner"}},
        "fields": [
            {"column": "email", "field": "email", "format": "email", "required": True},
            {"column": "firstName", "field": "first_name"},
            {"column": "lastName", "field": "last_name"},
            {"column": "company", "field": "company"},
            {"column": "country", "field": "country"},
            {"column": "state", "field": "state"},
            {"column": "postalCode", "field": "postal_code"},
            {"column": "title", "field": "title"},
        ],
    }


def write_source(mappings: Path, source: dict) -> None:
    (mappings / "sources" / f"{source['name']}.yaml").write_text(yaml.safe_dump(source, sort_keys=False))


def _write_sources(root: Path, sftp: SftpSandbox, org: SalesforceSandbox, mkto: MarketoSandbox) -> None:
    sources = root / "mappings/sources"
    demo = yaml.safe_load((sources / "sftp_demo.yaml").read_text())
    demo["connection"].update(port=sftp.port, known_hosts=str(sftp.write_known_hosts(root / "known_hosts")))
    write_source(root / "mappings", demo)
    write_source(root / "mappings", salesforce_source(org))
    write_source(root / "mappings", marketo_source(mkto))


def snapshot(store_url: str) -> dict:
    """What must be the same whichever way the pipeline ran: leads, quarantine, assignment counts per
    partner and the outbox, without the ids and clocks that differ between runs."""
    store = LeadStore(store_url)
    try:
        with store.begin() as conn:
            leads = store.read_frame(conn, sa.select(tables.leads.c.lead_id, tables.leads.c.source,
                                                     tables.leads.c.email, tables.leads.c.country,
                                                     tables.leads.c.company))
            quarantine = store.read_frame(conn, sa.select(tables.quarantine))
            assigned = store.read_frame(conn, sa.select(tables.assignments.c.source, tables.assignments.c.status,
                                                        tables.assignments.c.partner_id))
            h = tables.assignment_history
            decisions = store.read_frame(conn, sa.select(h.c.lead_id, h.c.version, h.c.rr_key, h.c.rr_slot))
            outbox = store.read_frame(conn, sa.select(tables.writeback_outbox))
    finally:
        store.dispose()

    def rows(frame: pd.DataFrame) -> list[tuple]:
        return sorted(map(tuple, frame.astype(str).to_numpy().tolist()))

    def timeless(fields: dict) -> str:
        return json.dumps({k: v for k, v in fields.items() if not k.endswith("_at")}, sort_keys=True, default=str)

    # events by the lead's email rather than its id (API record ids are the sandbox's own); not whether each
    # was sent yet: an auto-accept partner's "Accepted" goes out in this run or the next depending on whether
    # the source's writeback ran before or after the deliveries step, which the executor's order decides
    # (the email the event carries is the lead's; taken from the leads all the same, as for any outbox)
    events = outbox.drop(columns=["email"]).merge(leads[["lead_id", "email"]], on="lead_id", how="left")
    events["payload"] = [timeless(fields_of(r)) for r in events.to_dict("records")]
    return {
        "leads": rows(leads.drop(columns="lead_id")),
        "quarantine": rows(quarantine[["source", "file_name", "row_number", "reason"]]),
        "assignments_per_partner": assigned.fillna("-").groupby(["source", "status", "partner_id"]).size().to_dict(),
        "outbox": rows(events[["source", "email", "kind", "payload"]]),
        # a lead decided twice, or a round-robin slot handed out twice, shows up in these
        "decisions_per_lead": decisions.groupby(["lead_id", "version"]).size().max() if len(decisions) else 0,
        "slots_handed_out": decisions.dropna(subset=["rr_key"]).astype({"rr_slot": int})
                                     .groupby(["rr_key", "rr_slot"]).size().to_dict(),
    }
