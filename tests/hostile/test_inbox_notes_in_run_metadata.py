"""The Dagster job's raw_rows metadata says which inbox files were left for the next run, and why."""

from __future__ import annotations

from hostile_inputs import HEADER, edit_source, lead_line
from jobs import materialization, run_job


def test_a_file_waiting_for_its_done_marker_is_noted_in_the_runs_metadata(project, duckdb_url, uploader):
    edit_source(project, files={"done_marker": ".done", "settle_seconds": 0})
    uploader.put("leads.csv", HEADER + lead_line(1))
    result = run_job(project, duckdb_url)
    assert result.success
    meta = materialization(result, "sftp_demo/raw_rows")
    assert meta["dagster/row_count"] == 0
    assert "waiting" in meta["files"] and "leads.csv.done" in meta["files"]
    uploader.put("leads.csv.done", "")
    meta = materialization(run_job(project, duckdb_url), "sftp_demo/raw_rows")
    assert meta["dagster/row_count"] == 1 and "stored" in meta["files"]
