"""The same content uploaded again under another name: skipped with a warning naming the earlier file by
default; `warn` stores it again with the warning, `ingest` silently."""

from __future__ import annotations

import pytest
from hostile_inputs import HEADER, edit_source, lead_line
from jobs import raw_row_count

from leadsync.connectors.sftp import inbox_readiness
from leadsync import pipeline

CONTENT = HEADER + "".join(lead_line(n) for n in range(4))


@pytest.fixture(autouse=True)
def settled(monkeypatch):
    monkeypatch.setattr(inbox_readiness, "wait", lambda seconds: None)


def test_content_received_before_under_another_name_is_skipped_naming_the_earlier_file(project, paths, store,
                                                                                       sandbox, uploader,
                                                                                       duckdb_url):
    uploader.put("monday.csv", CONTENT)
    assert pipeline.pull(paths, store, "sftp_demo").rows_stored == 4
    uploader.put("monday_copy.csv", CONTENT)
    report = pipeline.pull(paths, store, "sftp_demo")
    (outcome,) = report.files
    assert (outcome.status, outcome.rows) == ("duplicate", 0)
    assert "same content as monday.csv" in outcome.reason and "duplicate_files" in outcome.reason
    assert report.warnings == [outcome]
    assert raw_row_count(duckdb_url, "sftp_demo") == 4
    assert (sandbox.root / "processed/monday_copy.csv").exists()  # handled: out of the inbox
    uploader.put("monday_copy.csv", CONTENT)  # and again under that name: already handled, nothing stored
    assert pipeline.pull(paths, store, "sftp_demo").files[0].status == "already_stored"
    assert raw_row_count(duckdb_url, "sftp_demo") == 4


@pytest.mark.parametrize(("policy", "warned"), [("warn", True), ("ingest", False)])
def test_warn_and_ingest_store_the_copy_again(project, paths, store, uploader, duckdb_url, policy, warned):
    edit_source(project, files={"duplicate_files": policy})
    uploader.put("monday.csv", CONTENT)
    pipeline.pull(paths, store, "sftp_demo")
    uploader.put("again.csv", CONTENT)
    (outcome,) = pipeline.pull(paths, store, "sftp_demo").files
    assert (outcome.status, outcome.rows) == ("stored", 4)
    assert (outcome.reason is not None and "monday.csv" in outcome.reason) == warned
    assert raw_row_count(duckdb_url, "sftp_demo") == 8
