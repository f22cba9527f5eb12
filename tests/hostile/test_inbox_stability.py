"""A file still being uploaded under its final name is never read half: it is read once its size and time have
held (or its done-marker is there), and kept only if it is still the very file that was read."""

from __future__ import annotations

from hostile_inputs import HEADER, edit_source, lead_line
from jobs import raw_row_count

from leadsync.connectors.sftp import inbox_readiness
from leadsync.connectors.sftp.client import SftpClient
from leadsync import pipeline

ROWS = [lead_line(n) for n in range(20)]


def inbox_names(sandbox) -> set[str]:
    return {p.name for p in (sandbox.root / "inbox").iterdir()}


def test_a_file_growing_while_it_is_watched_is_left_for_the_next_run(project, paths, store, sandbox, uploader,
                                                                      duckdb_url, monkeypatch):
    with uploader.open("slowup.csv") as upload:
        upload.write(HEADER + "".join(ROWS[:10]))
        upload.flush()

        def more_arrives(seconds: float) -> None:  # the uploader writes on while the run watches the file
            upload.write("".join(ROWS[10:15]))
            upload.flush()
        monkeypatch.setattr(inbox_readiness, "wait", more_arrives)
        report = pipeline.pull(paths, store, "sftp_demo")
        assert [(f.name, f.status) for f in report.files] == [("slowup.csv", "waiting")]
        assert "still being written" in report.files[0].reason and "done_marker" in report.files[0].reason
        assert raw_row_count(duckdb_url, "sftp_demo") == 0 and "slowup.csv" in inbox_names(sandbox)
        upload.write("".join(ROWS[15:]))
    monkeypatch.setattr(inbox_readiness, "wait", lambda seconds: None)  # the upload has ended: nothing moves
    report = pipeline.pull(paths, store, "sftp_demo")
    assert [(f.name, f.status, f.rows) for f in report.files] == [("slowup.csv", "stored", 20)]
    assert (sandbox.root / "processed/slowup.csv").read_text().count("\n") == 21


def test_a_file_that_changes_while_it_is_read_keeps_nothing_and_stays(project, paths, store, sandbox, uploader,
                                                                      duckdb_url, monkeypatch):
    monkeypatch.setattr(inbox_readiness, "wait", lambda seconds: None)  # it looked settled
    with uploader.open("slowup.csv") as upload:
        upload.write(HEADER + "".join(ROWS[:10]))
        upload.flush()
        download = SftpClient.download_to

        def download_then_more_arrives(self, name, target):
            got = download(self, name, target)
            upload.write("".join(ROWS[10:]))
            upload.flush()
            return got
        monkeypatch.setattr(SftpClient, "download_to", download_then_more_arrives)
        report = pipeline.pull(paths, store, "sftp_demo")
    assert [(f.name, f.status) for f in report.files] == [("slowup.csv", "waiting")]
    assert "changed while it was read" in report.files[0].reason
    assert raw_row_count(duckdb_url, "sftp_demo") == 0 and "slowup.csv" in inbox_names(sandbox)
    monkeypatch.setattr(SftpClient, "download_to", download)
    assert pipeline.pull(paths, store, "sftp_demo").rows_stored == 20
    assert raw_row_count(duckdb_url, "sftp_demo") == 20


def test_with_a_done_marker_a_file_waits_for_it_and_the_marker_goes_with_the_file(project, paths, store, sandbox,
                                                                                 uploader, monkeypatch):
    edit_source(project, files={"done_marker": ".done", "settle_seconds": 0})
    uploader.put("leads.csv", HEADER + "".join(ROWS[:3]))
    report = pipeline.pull(paths, store, "sftp_demo")
    assert [(f.name, f.status) for f in report.files] == [("leads.csv", "waiting")]
    assert "leads.csv.done" in report.files[0].reason
    uploader.put("leads.csv.done", "")
    report = pipeline.pull(paths, store, "sftp_demo")
    assert [(f.name, f.status, f.rows) for f in report.files] == [("leads.csv", "stored", 3)]
    assert inbox_names(sandbox) == set()
