"""End to end through the Dagster job and the partner portal over HTTP: a lead the job distributed, accepted by
the partner in the portal, has its status and owner changed by the supplier's own team in its Salesforce
(`follow_source`); the next run of the job makes that the lead's sales status and rep, the
portal's lead page shows them, and that run writes nothing back to the source's record (no echo)."""

import email
import email.policy
import re
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from api_vendors import WRITEBACK, Vendor, api_source_yaml
from jobs import outbox_states, read_query, run_job
from leadsync.connectors.http_sandbox import HttpSandbox
from leadsync.connectors.loopback_ports import free_port

from leadsync import pipeline
from leadsync.config.loader import project_paths
from leadsync.lifecycle.context import load_lifecycle
from leadsync.lifecycle.web import create_app
from leadsync.store import LeadStore, tables

USER = "leads@northwind.example"  # a Northwind user: every routed lead goes to Northwind (api_source_yaml)


@pytest.fixture
def vendor(tmp_path):
    """Salesforce with a few leads: the job's runs are the test's cost (each vendor's follow_source is
    tested on its own in test_api_follow_source.py)."""
    v = Vendor("salesforce", tmp_path, leads=5)
    yield v
    v.server.stop()


@pytest.fixture
def portal(project: Path, vendor: Vendor, duckdb_url, monkeypatch):
    """The vendor as source `crm` following its status and owner fields, and the partner-response app (with
    the portal) served on loopback at the base URL the project's emails link to."""
    names = WRITEBACK[vendor.kind]
    api_source_yaml(project, vendor, monkeypatch, follow_source={
        "sales_status": {"field": names["sales_status"], "values": {"Working": "Contacted"}},
        "owner_name": names["rep_name"], "owner_email": names["rep_email"]})
    port = free_port()
    lifecycle = project / "mappings/lifecycle.yaml"
    settings = yaml.safe_load(lifecycle.read_text())
    settings["web"].update(base_url=f"http://127.0.0.1:{port}", port=port)
    lifecycle.write_text(yaml.safe_dump(settings, sort_keys=False))
    ctx = load_lifecycle(project_paths(project / "mappings"), LeadStore(duckdb_url))
    served = HttpSandbox(create_app(ctx.store, ctx.partners, ctx.settings, ctx.sources), port=port,
                         name="portal").start()
    try:
        with httpx.Client(base_url=served.url, trust_env=False, timeout=10) as client:
            yield client
    finally:
        served.stop()


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def sign_in(client: httpx.Client, mail_folder: Path) -> None:
    """Sign in as USER with the link the portal emails (read from the SMTP sandbox's files)."""
    before = set(mail_folder.glob("*.eml"))
    assert client.post("/portal/sign-in", data={"email": USER, "csrf": csrf(client.get("/portal/sign-in").text)}
                       ).status_code == 200
    link = None
    for _ in range(400):  # up to 20 s on a loaded machine
        for path in set(mail_folder.glob("*.eml")) - before:
            body = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            found = re.search(r"(http://\S+/portal/sign-in/link\?t=\S+)", body.get_body(("plain",)).get_content())
            link = link or (found and found.group(1))
        if link:
            break
        time.sleep(0.05)
    assert link, "no sign-in email"
    page = client.get(link).text
    token = re.search(r'name="t" value="([^"]+)"', page).group(1)
    done = client.post("/portal/sign-in/link", data={"t": token, "csrf": csrf(page)})
    assert done.status_code == 303 and done.headers["location"] == "/portal/leads", done.text


def lead_page_row(page: str, label: str) -> str:
    found = re.search(rf'<th scope="row">{label}</th><td>([^<]*)', page)
    assert found, page
    return found.group(1)


def test_a_status_changed_at_the_source_reaches_the_portal_and_is_not_echoed(portal, vendor, project, duckdb_url,
                                                                             mail_sandbox):
    assert run_job(project, duckdb_url).success  # pulled, routed to Northwind, emailed
    leads = read_query(duckdb_url, sa.select(tables.leads.c.lead_id, tables.leads.c.email,
                                             tables.leads.c.source_record_id).order_by(tables.leads.c.lead_id))
    lead = leads.iloc[0]
    sign_in(portal, mail_sandbox.folder)
    accepted = portal.post("/portal/leads/bulk", data={"action": "accept", "lead_id": lead["lead_id"],
                                                       "csrf": csrf(portal.get("/portal/leads").text)})
    assert accepted.status_code == 303
    assert pipeline.write_back(project_paths(project / "mappings"), LeadStore(duckdb_url), "crm").events_sent
    assert lead_page_row(portal.get(f"/portal/leads/{lead['lead_id']}").text, "Sales status") == "Not Contacted"

    time.sleep(1.1)  # the source's change is later than the partner's acceptance, at a second's resolution too
    working = "Contacted" if vendor.kind == "salesforce" else "Working"  # Salesforce's picklist is restricted
    vendor.change_at_source(lead["source_record_id"], lead["email"],
                            {"sales_status": working, "rep_name": "Sam Source", "rep_email": "sam@supplier.example"})
    changed = vendor.record(lead["source_record_id"], lead["email"])
    assert run_job(project, duckdb_url).success

    page = portal.get(f"/portal/leads/{lead['lead_id']}").text
    assert lead_page_row(page, "Sales status") == "Contacted"
    assert lead_page_row(page, "Rep") == "Sam Source &lt;sam@supplier.example&gt;"
    assert vendor.record(lead["source_record_id"], lead["email"]) == changed  # the run wrote nothing to it
    states = outbox_states(duckdb_url)
    assert (states.loc[states["lead_id"] == lead["lead_id"], "state"] == "sent").all()
