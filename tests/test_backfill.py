"""History in time windows (`<source>/backfill`, one partition per month here): each window reads only its
records and keeps its own watermark; a window that fails (the org's API quota spent) reruns alone, resumes,
and stores nothing twice; the sync maps and routes what the windows stored."""

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml
from jobs import failure_message, raw_rows, read_table, run_job
from three_sources import SF_STATUS

from leadsync.connectors.salesforce.sandbox import SalesforceSandbox
from leadsync.defs.build import build_definitions
from leadsync.store import tables


@pytest.fixture
def org():
    with SalesforceSandbox() as sandbox:
        sandbox.seed(leads=150, seed=3)
        yield sandbox


def months_ago(n: int) -> datetime:
    now = datetime.now(UTC)
    month = now.month - n
    year = now.year + (month - 1) // 12
    return datetime(year, (month - 1) % 12 + 1, 1, tzinfo=UTC)


@pytest.fixture
def project(project: Path, org: SalesforceSandbox, monkeypatch) -> Path:
    (project / "mappings/sources/sftp_demo.yaml").unlink()
    source = {
        "name": "sfdc", "type": "salesforce", "contacts": ["crm-admin@supplier.example"],
        "connection": {"login_url": org.url, "auth": "client_credentials", "consumer_key_env": "SFDC_KEY",
                       "consumer_secret_env": "SFDC_SECRET", "ca_bundle": str(org.ca_pem_path), "timeout_s": 10},
        "pull": {"backfill": {"start": months_ago(4).date().isoformat(), "window": "month"}},
        "writeback": {"fields": {"distribution_status": "LeadSync_Distribution_Status__c"},
                      "distribution_status_values": SF_STATUS},
        "fields": [
            {"column": "Email", "field": "email", "format": "email", "required": True},
            {"column": "Company", "field": "company"},
            {"column": "Country", "field": "country"},
        ],
    }
    (project / "mappings/sources/sfdc.yaml").write_text(yaml.safe_dump(source, sort_keys=False))
    monkeypatch.setenv("SFDC_KEY", org.credentials.client_id)
    monkeypatch.setenv("SFDC_SECRET", org.credentials.client_secret)
    return project


def backfill(project: Path, store_url: str, partition: str):
    job = build_definitions(project / "mappings", store_url).resolve_job_def("sfdc_backfill")
    return job.execute_in_process(partition_key=partition, raise_on_error=False)


def stored_record_ids(store_url: str) -> pd.Series:
    return raw_rows(store_url, "sfdc")["Id"]


def test_windows_read_their_own_records_and_a_failed_window_reruns_alone(project, org, duckdb_url, tmp_path):
    defs = build_definitions(project / "mappings", duckdb_url)
    windows = defs.resolve_job_def("sfdc_backfill").partitions_def.get_partition_keys()
    assert windows == [months_ago(n).strftime("%Y-%m-%d") for n in (4, 3, 2, 1)]  # completed months only
    history = {k.to_user_string() for k in defs.resolve_job_def("sfdc_backfill").asset_layer.selected_asset_keys}
    assert history == {"sfdc/backfill"}
    for job in ("leadsync", "sfdc_sync"):  # windows are launched as backfills, never inside a sync
        assert "sfdc/backfill" not in {k.to_user_string() for k in defs.resolve_job_def(job).asset_layer
                                       .selected_asset_keys}

    first, *middle, last = windows
    assert backfill(project, duckdb_url, first).success
    org.faults.exhaust_api_limit()  # the org's daily allocation is spent while the third window runs
    failed = backfill(project, duckdb_url, middle[0])
    assert not failed.success and "REQUEST_LIMIT_EXCEEDED" in failure_message(failed)
    org.faults.reset_api_limit()
    for window in [middle[1], last, middle[0]]:  # the failed window reruns alone, after the others
        assert backfill(project, duckdb_url, window).success
    assert backfill(project, duckdb_url, middle[0]).success  # and once more: nothing new, nothing twice

    records = org.connect().query_all("SELECT Id, SystemModstamp FROM Lead")["records"]
    stamps = pd.Series([pd.Timestamp(r["SystemModstamp"]).tz_convert("UTC") for r in records])
    cutoff, begin = months_ago(0), months_ago(4)
    in_history = {r["Id"] for r, t in zip(records, stamps, strict=True) if begin <= t < cutoff}

    # a watermark per window that had records (an empty window has nothing to resume), none for the sync,
    # each inside its own window
    marks = read_table(duckdb_url, tables.source_watermarks).set_index("stream")
    with_records = {w for w in windows
                    if ((stamps >= pd.Timestamp(w, tz="UTC")) & (stamps < pd.Timestamp(w, tz="UTC")
                                                                 + pd.DateOffset(months=1))).any()}
    assert len(with_records) >= 3
    assert set(marks.index) == {f"records@{w}" for w in with_records}
    for w in with_records:
        start = pd.Timestamp(w, tz="UTC")
        assert start <= marks.loc[f"records@{w}", "watermark"] < start + pd.DateOffset(months=1)
    ids = stored_record_ids(duckdb_url)
    assert set(ids) == in_history and not ids.duplicated().any()

    # the sync maps and routes what the windows stored and pulls the current month itself: the same leads
    # as a sync alone into an empty store
    assert run_job(project, duckdb_url, "sfdc_sync").success
    alone = f"duckdb:///{tmp_path / 'alone.duckdb'}"
    assert run_job(project, alone, "sfdc_sync").success
    columns = ["source_record_id", "email", "company"]
    leads = read_table(duckdb_url, tables.leads)[columns].sort_values(columns).reset_index(drop=True)
    pd.testing.assert_frame_equal(leads, read_table(alone, tables.leads)[columns].sort_values(columns)
                                  .reset_index(drop=True))
    assert len(read_table(duckdb_url, tables.assignments)) == len(leads)
