"""`uniqueness: {mode: every_send}` against `every_record`, end to end through the Dagster job: a Marketo lead
(an Eloqua contact) changed in the sandbox between two pulls is a second lead under every_send (a duplicate
holding the new version, routed on its own) and the same lead, updated, under every_record. A run with
nothing new sent adds no lead in either mode."""

from pathlib import Path

import pytest
import yaml
from jobs import materialization, read_table, run_job
from three_sources import marketo_source, write_source

from leadsync.connectors.eloqua.sandbox import EloquaSandbox
from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.config.schema import SOURCE_MODELS
from leadsync.store import tables

MODES = ["every_send", "every_record"]


def leads_of(store_url: str, source: str):
    leads = read_table(store_url, tables.leads)
    return leads[leads["source"] == source]


def assert_one_record_sent_twice(store_url: str, source: str, mode: str, record_id: str, seeded: int,
                                 field: str, old: str, new: str) -> None:
    leads = leads_of(store_url, source)
    of_record = leads[leads["source_record_id"] == record_id]
    if mode == "every_send":
        assert len(leads) == seeded + 1
        assert sorted(of_record[field].fillna("")) == sorted([old or "", new])
        decided = read_table(store_url, tables.assignments)
        assert set(of_record["lead_id"]) <= set(decided["lead_id"])  # the second send is routed as a lead too
    else:
        assert len(leads) == seeded
        assert of_record[field].tolist() == [new]


@pytest.fixture
def mkto():
    with MarketoSandbox(seed_leads=30, seed=5) as sandbox:
        yield sandbox


def marketo_project(project: Path, mkto: MarketoSandbox, monkeypatch, mode: str) -> Path:
    (project / "mappings/sources/sftp_demo.yaml").unlink()
    source = marketo_source(mkto)
    source["pull"]["bulk_threshold"] = 1000
    source["uniqueness"] = {"mode": mode}
    write_source(project / "mappings", source)
    monkeypatch.setenv("MKTO_ID", mkto.client_id)
    monkeypatch.setenv("MKTO_SECRET", mkto.client_secret)
    return project


@pytest.mark.parametrize("mode", MODES)
def test_a_marketo_lead_sent_twice(project, mkto, duckdb_url, monkeypatch, mode):
    project = marketo_project(project, mkto, monkeypatch, mode)
    assert run_job(project, duckdb_url).success
    first = leads_of(duckdb_url, "mkto")
    assert len(first) == 30
    changed = first.iloc[2]
    mkto.client().execute(method="create_update_leads", action="updateOnly", lookupField="id",
                          leads=[{"id": int(changed["source_record_id"]), "title": "Head of IT"}])

    again = run_job(project, duckdb_url)
    assert again.success
    assert materialization(again, "mkto/raw_rows")["dagster/row_count"] == 1
    assert_one_record_sent_twice(duckdb_url, "mkto", mode, changed["source_record_id"], 30, "title",
                                 changed["title"], "Head of IT")

    quiet = run_job(project, duckdb_url)  # our own writeback comes back from Marketo: not a send
    assert quiet.success
    assert len(leads_of(duckdb_url, "mkto")) == (31 if mode == "every_send" else 30)


@pytest.fixture
def eloqua():
    with EloquaSandbox(seed_contacts=25, sync_delay_s=0.005) as sandbox:
        yield sandbox


def eloqua_project(project: Path, eloqua: EloquaSandbox, monkeypatch, mode: str) -> Path:
    (project / "mappings/sources/sftp_demo.yaml").unlink()
    source = {
        "name": "elq", "type": "eloqua", "contacts": ["ops@supplier.example"], "uniqueness": {"mode": mode},
        "connection": {"login_url": eloqua.url, "site": eloqua.site, "username": eloqua.username,
                       "password_env": "ELQ_PASSWORD", "sync_poll_s": 0.01, "timeout_s": 10},
        "writeback": {"fields": {"distribution_status": "C_LeadSync_Distribution_Status1",
                                 "partner_name": "C_LeadSync_Partner1"}},
        "fields": [
            {"column": "C_EmailAddress", "field": "email", "format": "email", "required": True},
            {"column": "C_Company", "field": "company"},
            {"column": "C_Country", "field": "country"},
            {"column": "C_Title", "field": "title"},
        ],
    }
    (project / "mappings/sources/elq.yaml").write_text(yaml.safe_dump(source, sort_keys=False))
    monkeypatch.setenv("ELQ_PASSWORD", eloqua.password)
    return project


@pytest.mark.parametrize("mode", MODES)
def test_an_eloqua_contact_sent_twice(project, eloqua, duckdb_url, monkeypatch, mode):
    project = eloqua_project(project, eloqua, monkeypatch, mode)
    assert run_job(project, duckdb_url).success
    first = leads_of(duckdb_url, "elq")
    assert len(first) == 25
    changed = first.iloc[4]
    eloqua.clock.advance(3600)
    session = eloqua.session()
    updated = session.session.put(  # the REST API, as a marketer editing the contact would
        f"{session.base_url}/api/REST/1.0/data/contact/{changed['source_record_id']}",
        json={"id": changed["source_record_id"], "emailAddress": changed["email"], "title": "Chief Buyer"})
    assert updated.status_code == 200, updated.text

    again = run_job(project, duckdb_url)
    assert again.success
    assert materialization(again, "elq/raw_rows")["dagster/row_count"] == 1
    assert_one_record_sent_twice(duckdb_url, "elq", mode, changed["source_record_id"], 25, "title",
                                 changed["title"], "Chief Buyer")


@pytest.mark.parametrize("kind", ["sftp", "salesforce", "marketo", "eloqua"])
def test_every_send_takes_no_key_on_any_source(kind):
    model = SOURCE_MODELS[kind]
    with pytest.raises(ValueError, match="'key' is only used with mode 'key', not 'every_send'"):
        model.model_validate({"name": "s", "type": kind, "uniqueness": {"mode": "every_send", "key": ["email"]},
                              "fields": [{"column": "Email", "field": "email"}]})
