"""A Marketo source end to end on the sandbox: a large delta is pulled by Bulk Extract; statuses land on the
Marketo leads (matched by lead id); writeback echoes are not pulled back as changes. (The REST path for
small deltas is covered in tests/connectors/marketo/test_marketo_source_pull.py.)"""

from pathlib import Path

import pytest
from jobs import failure_message, materialization, read_table, retried, run_job
from three_sources import marketo_source, write_source

from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.store import tables

SEEDED = 200


@pytest.fixture
def mkto():
    with MarketoSandbox(seed_leads=SEEDED, seed=5) as sandbox:
        yield sandbox


@pytest.fixture
def project(project: Path, mkto: MarketoSandbox, monkeypatch) -> Path:
    (project / "mappings/sources/sftp_demo.yaml").unlink()
    write_source(project / "mappings", marketo_source(mkto))
    monkeypatch.setenv("MKTO_ID", mkto.client_id)
    monkeypatch.setenv("MKTO_SECRET", mkto.client_secret)
    return project








def test_leads_pulled_by_bulk_extract_routed_and_written_back(project, mkto, duckdb_url):
    result = run_job(project, duckdb_url)
    assert result.success
    assert "bulk" in materialization(result, "mkto/raw_rows")["by_path"]
    leads = read_table(duckdb_url, tables.leads)
    assert len(leads) == SEEDED
    decisions = read_table(duckdb_url, tables.assignments).merge(leads, on="lead_id")
    routed = decisions[decisions["status"] == "routed"].head(10)
    assert len(routed)
    for _, lead in routed.iterrows():
        row = mkto.leads.row(int(lead["source_record_id"]))
        assert row["leadsyncDistributionStatus"] == "Routed" and row["leadsyncPartner"]

    changed = leads.iloc[3]
    mc = mkto.client()
    mc.execute(method="create_update_leads", leads=[{"id": int(changed["source_record_id"]), "title": "Head of IT"}],
               action="updateOnly", lookupField="id")
    again = run_job(project, duckdb_url)
    assert again.success
    pulled = materialization(again, "mkto/raw_rows")
    # our own writeback touched all 200 leads: they come back from Marketo, but only the real edit is stored
    assert pulled["dagster/row_count"] == 1 and pulled["already_had"] >= SEEDED - 1
    after = read_table(duckdb_url, tables.leads).set_index("lead_id")
    assert len(after) == SEEDED and after.loc[changed["lead_id"], "title"] == "Head of IT"


def test_wrong_client_secret_fails_without_retry(project, mkto, duckdb_url, monkeypatch):
    monkeypatch.setenv("MKTO_SECRET", "nope")
    result = run_job(project, duckdb_url)
    assert not result.success
    message = failure_message(result)
    assert "mkto.yaml" in message and mkto.url in message
    assert not retried(result)


def test_a_mapped_field_marketo_does_not_have_fails_with_field_and_file(project, mkto, duckdb_url):
    path = project / "mappings/sources/mkto.yaml"
    path.write_text(path.read_text().replace("column: title", "column: jobTitle"))
    result = run_job(project, duckdb_url)
    assert not result.success and not retried(result)
    message = failure_message(result)
    assert "mkto.yaml" in message and "Marketo lead has no field 'jobTitle'" in message
