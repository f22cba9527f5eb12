"""A Marketo source end to end on the sandbox: a large delta is pulled by Bulk Extract; statuses land on the
Marketo leads (matched by lead id); writeback echoes are not pulled back as changes. (The REST path for
small deltas is covered in tests/connectors/marketo/test_marketo_source_pull.py.)"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from connectors.marketo.sandbox import MarketoSandbox
from leadsync.defs.build import build_definitions
from leadsync.store import LeadStore, tables

SEEDED = 200


@pytest.fixture
def mkto():
    with MarketoSandbox(seed_leads=SEEDED, seed=5) as sandbox:
        yield sandbox


@pytest.fixture
def project(project: Path, mkto: MarketoSandbox, monkeypatch) -> Path:
    (project / "mappings/sources/sftp_demo.yaml").unlink()
    source = {
        "name": "mkto", "type": "marketo", "contacts": ["marketing-ops@supplier.example"],
        "connection": {"base_url": mkto.url, "client_id_env": "MKTO_ID", "client_secret_env": "MKTO_SECRET",
                       "export_poll_s": 0.05, "timeout_s": 10},
        # 200 changed leads are above the threshold: a Bulk Extract; the seed's leads are all younger than
        # 181 days, so start there rather than read two empty years in 31-day windows
        "pull": {"bulk_threshold": 100,
                 "since": (datetime.now(UTC) - timedelta(days=181)).isoformat()},
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
    (project / "mappings/sources/mkto.yaml").write_text(yaml.safe_dump(source, sort_keys=False))
    monkeypatch.setenv("MKTO_ID", mkto.client_id)
    monkeypatch.setenv("MKTO_SECRET", mkto.client_secret)
    return project


def run(project: Path, store_url: str) -> dg.ExecuteInProcessResult:
    return build_definitions(project / "mappings", store_url).resolve_job_def("leadsync").execute_in_process(
        raise_on_error=False)


def frame(store_url: str, table: sa.Table) -> pd.DataFrame:
    store = LeadStore(store_url)
    with store.begin() as conn:
        return store.read_frame(conn, sa.select(table))


def metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key)
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_leads_pulled_by_bulk_extract_routed_and_written_back(project, mkto, duckdb_url):
    result = run(project, duckdb_url)
    assert result.success
    assert "bulk" in metadata(result, "mkto/raw_rows")["by_path"]
    leads = frame(duckdb_url, tables.leads)
    assert len(leads) == SEEDED
    decisions = frame(duckdb_url, tables.assignments).merge(leads, on="lead_id")
    routed = decisions[decisions["status"] == "routed"].head(10)
    assert len(routed)
    for _, lead in routed.iterrows():
        row = mkto.leads.row(int(lead["source_record_id"]))
        assert row["leadsyncDistributionStatus"] == "Routed" and row["leadsyncPartner"]

    changed = leads.iloc[3]
    mc = mkto.client()
    mc.execute(method="create_update_leads", leads=[{"id": int(changed["source_record_id"]), "title": "Head of IT"}],
               action="updateOnly", lookupField="id")
    again = run(project, duckdb_url)
    assert again.success
    pulled = metadata(again, "mkto/raw_rows")
    # our own writeback touched all 200 leads: they come back from Marketo, but only the real edit is stored
    assert pulled["dagster/row_count"] == 1 and pulled["already_had"] >= SEEDED - 1
    after = frame(duckdb_url, tables.leads).set_index("lead_id")
    assert len(after) == SEEDED and after.loc[changed["lead_id"], "title"] == "Head of IT"


def test_wrong_client_secret_fails_without_retry(project, mkto, duckdb_url, monkeypatch):
    monkeypatch.setenv("MKTO_SECRET", "nope")
    result = run(project, duckdb_url)
    assert not result.success
    message = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").step_failure_data.error.message
    assert "mkto.yaml" in message and mkto.url in message
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
