"""A lead entered by hand in an API source (Salesforce, Marketo, Eloqua) on the real loopback sandboxes: mapped,
routed and recorded as entered by its person like any lead, then created as one record in the vendor by the
write-back (keyed by the lead id), with its status and later its partner's updates on that record; the next pull
brings the record back without making a second lead; an answer lost on the create and the retry still leave
one record; a source that does not allow it refuses with the fix; the console's form does the same."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from api_vendors import VENDORS, WRITEBACK, Vendor, api_source_yaml, started_vendor
from console_data import SUPPLIER

from leadsync import pipeline
from leadsync.cli import main
from leadsync.config.loader import project_paths
from leadsync.lifecycle.acceptance import accept_lead
from leadsync.lifecycle.context import load_lifecycle
from leadsync.lifecycle.updates import apply_update
from leadsync.pull.manual_entry import add_lead
from leadsync.store import LeadStore, tables
from leadsync.writeback import outbox
from leadsync.writeback.records_created import created_records

REPO = Path(__file__).resolve().parents[2]
# the request that makes the record, per vendor (as tests/test_api_registrations.py loses its answer)
CREATE_PATH = {"salesforce": ("/composite/sobjects/Lead/", "PATCH"), "marketo": ("/rest/v1/leads.json", "POST"),
               "eloqua": ("/syncs", "POST")}
EMAIL = {"salesforce": "Email", "marketo": "email", "eloqua": "C_EmailAddress"}
LAST_NAME = {"salesforce": "LastName", "marketo": "lastName", "eloqua": "C_LastName"}
COMPANY = {"salesforce": "Company", "marketo": "company", "eloqua": "C_Company"}
ROUTED = {"salesforce": "routed"}  # Salesforce's distribution_status_values (tests/api_vendors.py SF_STATUS)

vendor = pytest.fixture(params=VENDORS, name="vendor")(started_vendor)


@pytest.fixture
def project(project: Path, vendor: Vendor, monkeypatch) -> Path:
    """The vendor as source `crm` (every routed lead to Northwind), and the SFTP example kept for the console."""
    api_source_yaml(project, vendor, monkeypatch)
    shutil.copy(REPO / "mappings/sources/sftp_demo.yaml", project / "mappings/sources/sftp_demo.yaml")
    return project


def pulled(paths, store: LeadStore) -> None:
    pipeline.pull(paths, store, "crm")
    pipeline.map_and_validate(paths, store, "crm")


def lead_count(store: LeadStore, **where) -> int:
    leads = tables.leads
    query = sa.select(sa.func.count()).select_from(leads).where(leads.c.source == "crm")
    for name, value in where.items():
        query = query.where(leads.c[name] == value)
    with store.begin() as conn:
        return conn.execute(query).scalar_one()


def test_a_lead_entered_by_hand_becomes_one_record_with_its_statuses(project, vendor, duckdb_url, capsys):
    paths = project_paths(project / "mappings")
    store = LeadStore(duckdb_url)
    pulled(paths, store)  # the vendor's own records first: the hand-entered lead comes on top of them
    before = lead_count(store)
    assert before > 0

    code = main(["--mappings", str(project / "mappings"), "add-lead", "--source", "crm",
                 "--field", "email=grace@hopper.example", "--field", "last_name=Hopper",
                 "--json", '{"company": "Cobol Works", "country": "US"}', "--by", "Pat Ops", "--store", duckdb_url])
    out = capsys.readouterr()
    assert code == 0, out.err
    found = re.search(r"lead (\S+) entered in crm \(manual entry by Pat Ops at .*record (\S+) created in crm", out.out)
    assert found, out.out
    lead_id, record_id = found.groups()

    # exactly one record in the vendor, keyed by the lead, with the lead's fields and its routing status
    assert vendor.records_keyed(lead_id) == [record_id]
    record = vendor.record(record_id, "grace@hopper.example")
    names = WRITEBACK[vendor.kind]
    assert record[EMAIL[vendor.kind]] == "grace@hopper.example"
    assert (record[LAST_NAME[vendor.kind]], record[COMPANY[vendor.kind]]) == ("Hopper", "Cobol Works")
    assert record[names["distribution_status"]] == ROUTED.get(vendor.kind, "Routed")
    assert record[names["partner_name"]] == "Northwind Networks"
    with store.begin() as conn:
        lead = conn.execute(sa.select(tables.leads).where(tables.leads.c.lead_id == lead_id)).mappings().one()
        origin = conn.execute(sa.select(tables.source_files.c.file_name)
                              .where(tables.source_files.c.batch_id == lead["batch_id"])).scalar_one()
        made = store.read_frame(conn, created_records("crm"))
    assert origin.startswith("manual entry by Pat Ops at ")
    assert made[["key", "kind", "lead_id", "record_id"]].to_dict("records") == [
        {"key": lead_id, "kind": "new_record", "lead_id": lead_id, "record_id": record_id}]

    # the partner's later updates go to that record
    ctx = load_lifecycle(paths, store)
    now = datetime.now(UTC)
    accept_lead(ctx, lead_id, "northwind", now, actor="nora")
    apply_update(ctx, "northwind", {"lead_id": lead_id, "sales_status": "Contacted", "rep_name": "Nora West",
                                    "rep_email": "nora@northwind.example"}, now, "nora")
    report = pipeline.write_back(paths, store, "crm")
    assert report.events_failed == 0, report.failures
    record = vendor.record(record_id, "grace@hopper.example")
    assert record[names["sales_status"]] == "Contacted" and record[names["rep_name"]] == "Nora West"
    assert vendor.records_keyed(lead_id) == [record_id]

    # the next pull brings the created record back: it is the hand-entered lead, not a second one
    pulled(paths, store)
    assert lead_count(store, email="grace@hopper.example") == 1
    assert lead_count(store) == before + 1


def test_an_answer_lost_on_the_create_and_the_retry_leave_one_record(project, vendor, store_url):
    paths = project_paths(project / "mappings")
    store = LeadStore(store_url)  # DuckDB and Postgres
    path, method = CREATE_PATH[vendor.kind]
    vendor.http_faults.drop_response_next(path, method)  # the vendor makes the record, the answer never arrives
    entry = add_lead(paths, store, "crm", {"email": "ada@analytical.example", "last_name": "Byron",
                                           "company": "Analytical Engines"}, "Pat Ops")
    assert vendor.http_faults.answers_to_lose == 0  # the answer was indeed lost (the client retried the call)
    assert entry.lead_id and entry.written_back, entry.write_back_error
    assert vendor.records_keyed(entry.lead_id) == [entry.record_id]

    again = pipeline.write_back(paths, store, "crm")  # nothing left to send: no second record
    assert again.events_failed == 0 and again.events_sent == 0, again.failures
    assert vendor.records_keyed(entry.lead_id) == [entry.record_id]
    with store.begin() as conn:
        assert store.read_frame(conn, outbox.pending_events("crm")).empty
    pulled(paths, store)
    assert lead_count(store, email="ada@analytical.example") == 1


@pytest.mark.parametrize("vendor", ["salesforce"], indirect=True)
def test_a_source_that_does_not_allow_it_refuses_with_the_fix(project, vendor, duckdb_url, capsys):
    mappings = project / "mappings"
    file = mappings / "sources/crm.yaml"
    source = yaml.safe_load(file.read_text())
    args = ["--mappings", str(mappings), "add-lead", "--source", "crm", "--field", "email=a@b.example",
            "--field", "last_name=Lee", "--by", "Pat", "--store", duckdb_url]

    file.write_text(yaml.safe_dump({**source, "writeback": {**source["writeback"], "manual_entry": False}}))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "crm refuses leads entered by hand" in err and "writeback.manual_entry: true" in err

    kept = {k: v for k, v in source["writeback"]["fields"].items() if k in ("sales_status", "rep_name")}
    file.write_text(yaml.safe_dump({**source, "writeback": {**source["writeback"], "fields": kept}}))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "crm refuses leads entered by hand" in err and "distribution_status under writeback.fields" in err
    assert "mappings/sources/crm.yaml" in err

    # a lead whose uniqueness key (Salesforce: email) names a lead that has a record already is that record
    file.write_text(yaml.safe_dump(source))
    paths = project_paths(mappings)
    pulled(paths, LeadStore(duckdb_url))
    with LeadStore(duckdb_url).begin() as conn:
        known = conn.execute(sa.select(tables.leads.c.email, tables.leads.c.source_record_id)
                             .where(tables.leads.c.source_record_id.is_not(None)).limit(1)).one()
    assert main([*args[:5], "--field", f"email={known.email.upper()}", *args[7:]]) == 2
    err = capsys.readouterr().err
    assert f"is salesforce record {known.source_record_id} already" in err and "change that record" in err

    # the record id, mapped to a lead field, is the vendor's to give
    fields = [*source["fields"], {"column": "Id", "field": "salesforce_id"}]
    file.write_text(yaml.safe_dump({**source, "fields": fields}))
    assert main([*args, "--field", "salesforce_id=00Q000000000001AAA"]) == 2
    assert "'Id' is the id salesforce gives its record" in capsys.readouterr().err
    ledger = sa.select(sa.func.count()).select_from(tables.source_files).where(tables.source_files.c.file_name.like("manual%"))
    with LeadStore(duckdb_url).begin() as conn:
        assert conn.execute(ledger).scalar_one() == 0
    assert main([*args, "--no-write-back"]) == 0  # left empty, the lead is entered; its record waits in the outbox
    store = LeadStore(duckdb_url)
    with store.begin() as conn:
        lead = conn.execute(sa.select(tables.leads.c.lead_id, tables.leads.c.source_record_id)
                            .where(tables.leads.c.email == "a@b.example")).one()
        pending = store.read_frame(conn, outbox.pending_events("crm"))
    assert lead.source_record_id is None
    assert f"new_record:crm:{lead.lead_id}" in set(pending["event_id"])

    # written back: Salesforce refuses a Lead without Company; add-lead says so, the creation stays queued
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "crm refused the lead's write-back" in err and "[Company]" in err and "retried" in err
    assert vendor.records_keyed(lead.lead_id) == []
    # entered again with the company: the same lead (by email), its queued creation takes the new values
    assert main([*args, "--field", "company=Lee & Co"]) == 0
    assert "refused" not in capsys.readouterr().err
    made = vendor.records_keyed(lead.lead_id)
    assert len(made) == 1 and vendor.record(made[0], "a@b.example")["Company"] == "Lee & Co"
    # once the record exists, entering the lead again is refused: the change belongs in that record
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"is salesforce record {vendor.records_keyed(lead.lead_id)[0]} already" in err


@pytest.mark.parametrize("vendor", ["marketo"], indirect=True)
def test_the_console_form_enters_a_lead_into_an_api_source(make_console, clients, vendor):
    world = make_console()
    client = clients(world).sign_in(SUPPLIER)
    form = client.http.get("/console/leads/new", params={"source": "crm"})
    assert form.status_code == 200 and 'id="f_email"' in form.text, form.text
    assert "becomes a new marketo record of crm" in form.text
    page = client.post("/console/leads/new", {"source": "crm", "f_email": "lin@lovelace.example",
                                              "f_last_name": "Lovelace", "f_company": "Engines Ltd"})
    assert page.status_code == 200, page.text
    found = re.search(r'id="entered-record">Record (\S+) created in crm', page.text)
    assert found, page.text
    record_id = found.group(1)
    with world.store.begin() as conn:
        lead = conn.execute(sa.select(tables.leads.c.lead_id, tables.source_files.c.file_name)
                            .join(tables.source_files, tables.source_files.c.batch_id == tables.leads.c.batch_id)
                            .where(tables.leads.c.email == "lin@lovelace.example")).one()
    assert lead.file_name.startswith(f"manual entry by Pat Ops <{SUPPLIER}>")
    assert vendor.records_keyed(lead.lead_id) == [record_id]
    assert vendor.record(record_id, "lin@lovelace.example")[WRITEBACK["marketo"]["partner_name"]] == "Northwind Networks"
