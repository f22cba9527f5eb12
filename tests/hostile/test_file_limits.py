"""What one file and one run may cost: a zip-bomb workbook refused from its central directory before a cell is
read; files over their byte or row limit moved to error/ naming the limit and the setting; files past the
run's allowance left for the next run."""

from __future__ import annotations

import io
import resource
import time
import zipfile

import openpyxl
import pytest
from hostile_inputs import HEADER, edit_source, lead_line
from jobs import raw_row_count

from leadsync.connectors.sftp import inbox_readiness
from leadsync import pipeline

ROW_XML = b'<row><c t="inlineStr"><is><t>zoe@bomb.example</t></is></c><c t="inlineStr"><is><t>Lee</t></is></c></row>'


@pytest.fixture(autouse=True)
def settled(monkeypatch):
    monkeypatch.setattr(inbox_readiness, "wait", lambda seconds: None)


def zip_bomb_xlsx(inflated_mb: int) -> bytes:
    """A valid workbook (header Email, Last Name) whose sheet repeats one row until it inflates to about
    `inflated_mb` MB: a megabyte or so on the wire."""
    book = openpyxl.Workbook()
    book.active.append(["Email", "Last Name"])
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(item, body)
                continue
            head, _, tail = body.partition(b"</row>")
            with dst.open(item.filename, "w", force_zip64=True) as sheet:
                sheet.write(head + b"</row>")
                chunk = ROW_XML * ((1 << 20) // len(ROW_XML))
                for _ in range(inflated_mb):
                    sheet.write(chunk)
                sheet.write(tail)
    return out.getvalue()


def test_a_workbook_inflating_to_300_mb_is_refused_before_it_is_read(project, paths, store, sandbox, uploader,
                                                                     duckdb_url):
    bomb = zip_bomb_xlsx(300)
    assert len(bomb) < 2 << 20
    uploader.put("bomb.xlsx", bomb)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    (outcome,) = pipeline.pull(paths, store, "sftp_demo").files
    assert time.monotonic() - started < 10
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 100 * 1024  # KiB: no 300 MB read
    assert outcome.status == "error" and outcome.moved_to == "error/bomb.xlsx"
    assert "inflates to" in outcome.reason and "files.max_file_bytes" in outcome.reason
    assert "nothing of it was read" in outcome.reason
    assert "files.max_file_bytes" in (sandbox.root / "error/bomb.xlsx.error.txt").read_text()
    assert raw_row_count(duckdb_url, "sftp_demo") == 0


def test_files_over_their_byte_or_row_limit_go_to_error_naming_the_setting(project, paths, store, sandbox,
                                                                          uploader, duckdb_url):
    edit_source(project, files={"max_file_rows": 5, "max_file_bytes": 4000})
    uploader.put("long.csv", HEADER + "".join(lead_line(n) for n in range(6)))
    uploader.put("big.csv", HEADER + "".join(lead_line(n, company="X" * 900) for n in range(5)))
    outcomes = {f.name: f for f in pipeline.pull(paths, store, "sftp_demo").files}
    assert outcomes["long.csv"].status == "error" and "files.max_file_rows" in outcomes["long.csv"].reason
    assert "more than 5" in outcomes["long.csv"].reason
    assert outcomes["big.csv"].status == "error" and "files.max_file_bytes" in outcomes["big.csv"].reason
    assert sorted(p.name for p in (sandbox.root / "error").glob("*.csv")) == ["big.csv", "long.csv"]
    assert raw_row_count(duckdb_url, "sftp_demo") == 0


def test_files_past_the_runs_allowance_wait_for_the_next_run(project, paths, store, sandbox, uploader,
                                                             duckdb_url):
    edit_source(project, files={"max_run_rows": 5})
    uploader.put("a.csv", HEADER + "".join(lead_line(n) for n in range(4)))
    uploader.put("b.csv", HEADER + "".join(lead_line(n) for n in range(4, 8)))
    first = {f.name: f for f in pipeline.pull(paths, store, "sftp_demo").files}
    stored = [n for n, f in first.items() if f.status == "stored"]
    waiting = [f for f in first.values() if f.status == "waiting"]
    assert len(stored) == 1 and len(waiting) == 1 and "files.max_run_rows" in waiting[0].reason
    assert raw_row_count(duckdb_url, "sftp_demo") == 4
    (second,) = pipeline.pull(paths, store, "sftp_demo").files
    assert second.status == "stored" and raw_row_count(duckdb_url, "sftp_demo") == 8
