"""The SFTP pull as a stream: a lead file is downloaded to a temporary file (hashed on the way), read block by
block, and stored in one transaction, so memory stays flat whatever the file's size."""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from leadsync.connectors.sftp import lead_csv
from leadsync.connectors.sftp.errors import LeadFileError, SftpFileNotFoundError
from leadsync.connectors.sftp.lead_files import ROW_NUMBER, open_lead_file, read_lead_file
from leadsync.connectors.sftp.seed import write_demo_leads
from leadsync.config.loader import load_source
from leadsync.pull.sftp_files import pull_inbox
from leadsync.store import LeadStore, raw, tables

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HEADER = "Email,First Name,Last Name,Note\r\n"


@pytest.fixture
def small_blocks(monkeypatch):
    """Read 64 bytes at a time, parse 256-byte blocks, hand on tables of about 512 bytes: a file of a few kB
    spans many of each."""
    monkeypatch.setattr(lead_csv, "CHUNK", 64)
    monkeypatch.setattr(lead_csv, "BLOCK", 256)
    monkeypatch.setattr(lead_csv, "BATCH", 512)


def lead_rows(n: int) -> tuple[bytes, list[tuple[str, int]]]:
    """A CSV of n lines below the header with blank, whitespace-only and multi-line rows among them, and
    the (email, row number) of each lead in it."""
    lines, expected = [], []
    for row in range(1, n + 1):
        if row % 7 == 0:
            lines.append(",,,")  # empty cells only: dropped, numbered
        elif row % 11 == 0:
            lines.append("   \t")  # whitespace only
        elif row % 13 == 0:
            lines.append("")  # a blank line
        else:
            note = f'"two\r\nlines, {row}"' if row % 5 == 0 else f"note {row}"
            lines.append(f"lead{row}@x.com,Zoë,Lee,{note}")
            expected.append((f"lead{row}@x.com", row))
    return (HEADER + "\r\n".join(lines) + "\r\n").encode("utf-8"), expected


# ------------------------------------------------------------------------------------------ reading in blocks


def test_row_numbers_stay_true_across_blocks(small_blocks):
    data, expected = lead_rows(600)
    with open_lead_file("a.csv", data) as reader:
        assert reader.columns == ["Email", "First Name", "Last Name", "Note"] and reader.encoding == "utf-8"
        blocks = list(reader)
    assert len(blocks) > 10
    got = [(r["Email"], r[ROW_NUMBER]) for b in blocks for r in b.rows.to_pylist()]
    assert got == expected
    assert blocks[-1].rows.to_pylist()[-1]["Note"] == "two\r\nlines, 600"
    notes = {r["Email"]: r["Note"] for b in blocks for r in b.rows.to_pylist()}
    assert notes["lead5@x.com"] == "two\r\nlines, 5"


@pytest.mark.parametrize("encoding, prefix", [("utf-8", b""), ("utf-8-sig", b"\xef\xbb\xbf"), ("cp1252", b"")])
def test_small_and_large_blocks_read_the_same(monkeypatch, encoding, prefix):
    data, _ = lead_rows(300)
    data = prefix + (data.decode("utf-8").encode("cp1252") if encoding == "cp1252" else data)
    whole = read_lead_file("a.csv", data)
    monkeypatch.setattr(lead_csv, "CHUNK", 17)
    monkeypatch.setattr(lead_csv, "BLOCK", 128)
    monkeypatch.setattr(lead_csv, "BATCH", 1)
    blocks = read_lead_file("a.csv", data)
    assert whole.encoding == blocks.encoding == encoding
    assert whole.rows.to_pylist() == blocks.rows.to_pylist()
    assert whole.frame.loc[0, "First Name"] == "Zoë"


def test_a_cp1252_line_near_the_end_of_a_utf8_file_is_set_aside_not_turned_into_mojibake(small_blocks):
    data, expected = lead_rows(200)
    t = read_lead_file("a.csv", data + "last@x.com,Zoé,Lee,x\r\n".encode("cp1252"))
    assert t.encoding == "utf-8"  # most non-ASCII lines are UTF-8
    assert t.frame.loc[0, "First Name"] == "Zoë"
    assert t.frame["Email"].tolist() == [email for email, _ in expected]


def test_stray_lines_keep_the_true_row_numbers_of_the_rows_after_them(small_blocks):
    data, expected = lead_rows(60)  # multi-line values among them: lines and rows differ
    stray = "odd@x.com,Zoé,Lee,x\r\n".encode("cp1252")
    with open_lead_file("a.csv", data + stray + b"after@x.com,Ann,Lee,y\r\n") as reader:
        rows = [r for block in reader for r in block.rows.to_pylist()]
    assert [(r["Email"], r[ROW_NUMBER]) for r in rows] == [*expected, ("after@x.com", 62)]
    ((row, line),) = reader.undecodable
    assert row == 61 and line.line == data.count(b"\n") + 1 and line.offending == b"\xe9"
    assert reader.stray_encoding == "cp1252"


def test_a_malformed_row_in_a_later_block_is_raised_while_reading(small_blocks):
    data, _ = lead_rows(400)
    data += b"bad@x.com,Lee, Ann,Acme,extra\r\n"
    with open_lead_file("r.csv", data) as reader:
        blocks = iter(reader)
        assert next(blocks).rows.num_rows > 0  # the first blocks come before the problem is seen
        with pytest.raises(LeadFileError, match=r"^r\.csv: cannot read the file as comma-separated values "
                                                r"\(a row .*has 5 columns where the header has 4"):
            list(blocks)


def test_a_malformed_row_is_reported_before_an_earlier_unnamed_column_with_values(small_blocks):
    data, _ = lead_rows(200)
    data = data.replace(b"Email,First Name,Last Name,Note", b"Email,First Name,,Note", 1)
    with pytest.raises(LeadFileError, match=r"column 3 has values \(first in data row 1\) but no name"):
        read_lead_file("n.csv", data)
    with pytest.raises(LeadFileError, match=r"cannot read the file as comma-separated values"):
        read_lead_file("n.csv", data + b"a,b,c,d,e\r\n")


def test_an_unclosed_quote_is_named_as_the_likely_cause_of_an_endless_row(monkeypatch):
    monkeypatch.setattr(lead_csv, "BLOCK", 1000)
    data = b'Email,Note\na@x.com,"unclosed\n' + b"b@x.com,y\n" * 300
    with pytest.raises(LeadFileError, match=r"^q\.csv: cannot read the file as comma-separated values \(a row is "
                                            r"longer than 1,000 bytes; most likely a quote opened in it is never "
                                            r"closed, else a value far over any field's max_length\); "
                                            r"every row needs"):
        read_lead_file("q.csv", data)


def test_duplicate_names_are_refused_without_yielding_any_block(small_blocks):
    data, _ = lead_rows(200)
    data = data.replace(b"Last Name", b"email", 1)
    with open_lead_file("d.csv", data) as reader:
        blocks = iter(reader)
        with pytest.raises(LeadFileError, match=r"duplicate column names in the header row: 'Email' \(column 1\) "
                                                r"and 'email' \(column 3\)"):
            next(blocks)


def test_whitespace_lines_and_carriage_returns_at_every_block_boundary(monkeypatch):
    data = b"Email;Name\r\n" + b"".join(
        [b"a@x.com;Ann\r\n", b"  \r\n", b"\t\n", b'b@x.com;"x\r\n  \r\ny"\r\n', b" ;  \r\n", b"\r\n"] * 20)
    whole = read_lead_file("w.csv", data)
    for chunk in (1, 2, 3, 5, 8):
        monkeypatch.setattr(lead_csv, "CHUNK", chunk)
        monkeypatch.setattr(lead_csv, "BLOCK", 64)
        assert read_lead_file("w.csv", data).rows.to_pylist() == whole.rows.to_pylist()
    assert [r[ROW_NUMBER] for r in whole.rows.to_pylist()][:4] == [1, 4, 7, 10]
    assert whole.frame.loc[1, "Name"] == "x\r\n\r\ny"  # a whitespace-only line inside quotes is emptied too


def test_a_large_file_is_read_in_bounded_memory(tmp_path, monkeypatch):
    """Memory follows the block sizes, not the file's size (here scaled down: 256 kB reads, 64 kB blocks,
    of which pyarrow reads up to 32 ahead)."""
    monkeypatch.setattr(lead_csv, "CHUNK", 1 << 18)
    monkeypatch.setattr(lead_csv, "BLOCK", 1 << 16)
    monkeypatch.setattr(lead_csv, "BATCH", 1 << 19)
    path = write_demo_leads(tmp_path / "big.csv", 100_000)  # about 16 MB
    size = path.stat().st_size
    tracemalloc.start()
    arrow_peak, rows, last = 0, 0, 0
    try:
        with open_lead_file("big.csv", path) as reader:
            for block in reader:
                rows += block.rows.num_rows
                last = block.row_numbers[-1].as_py()
                arrow_peak = max(arrow_peak, pa.total_allocated_bytes())
                del block
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == last == 100_000
    assert python_peak < size / 4, (python_peak, size)  # a few reads and blocks, never the file
    assert arrow_peak < size / 4, (arrow_peak, size)


# ------------------------------------------------------------------------------------------ download


def test_download_to_streams_into_a_file_and_hashes_it(client, drop, tmp_path):
    data = bytes(range(256)) * 20_000  # 5 MB, several prefetch requests
    drop("inbox", "big.csv", data)
    got = client.download_to("big.csv", tmp_path / "local")
    assert got.path.read_bytes() == data
    assert got.sha256 == hashlib.sha256(data).hexdigest() and got.size == len(data)


def test_download_to_of_a_vanished_file_names_it(client, tmp_path):
    with pytest.raises(SftpFileNotFoundError, match="gone.csv is not on"):
        client.download_to("gone.csv", tmp_path / "local")


# ------------------------------------------------------------------------------------------ the pull


@pytest.fixture
def cfg():
    return load_source(REPO / "mappings/sources/sftp_demo.yaml")


@pytest.fixture
def store(store_url):
    store = LeadStore(store_url)
    yield store
    store.dispose()


@pytest.fixture
def temp_folder(tmp_path, monkeypatch) -> Path:
    """Where the pull's temporary files go, to see that none is left behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def ledger(store: LeadStore) -> dict[str, dict]:
    with store.begin() as conn:
        rows = conn.execute(sa.select(tables.source_files)).mappings().all()
    return {r["file_name"]: dict(r) for r in rows}


def stored_rows(store: LeadStore, batch_id: str, names: list[str]) -> list[dict]:
    with store.begin() as conn:
        batches = list(raw.read_batch(store, conn, "sftp_demo", batch_id, names, 1000))
        physical = raw.batch_columns(conn, "sftp_demo", names)
    by_physical = {p: n for n, p in physical.items()}
    table = pa.Table.from_batches(batches)
    return [{by_physical.get(k, k): v for k, v in r.items()} for r in table.to_pylist()]


def raw_count(store: LeadStore) -> int:
    with store.begin() as conn:
        return raw.row_count(conn, "sftp_demo")


def test_a_file_of_many_blocks_is_stored_whole_with_true_row_numbers_and_its_hash(
        cfg, client, drop, store, sandbox, small_blocks, temp_folder):
    data, expected = lead_rows(500)
    drop("inbox", "many.csv", data)
    report = pull_inbox(cfg, client, store, NOW)

    [outcome] = report.files
    assert (outcome.status, outcome.rows, outcome.moved_to) == ("stored", len(expected), "processed/many.csv")
    entry = ledger(store)["many.csv"]
    assert entry["content_sha256"] == hashlib.sha256(data).hexdigest() and entry["size_bytes"] == len(data)
    assert (entry["status"], entry["row_count"], entry["encoding"]) == ("stored", len(expected), "utf-8")
    assert json.loads(entry["columns"]) == ["Email", "First Name", "Last Name", "Note"]
    rows = stored_rows(store, entry["batch_id"], json.loads(entry["columns"]))
    assert [(r["Email"], r["row_number"]) for r in rows] == expected
    assert rows[4]["Note"] == "two\r\nlines, 5" and rows[0]["First Name"] == "Zoë"
    assert (sandbox.root / "processed/many.csv").read_bytes() == data
    assert not list(temp_folder.iterdir())

    drop("inbox", "many.csv", data)  # delivered again: recognised by name and hash, only moved
    [again] = pull_inbox(cfg, client, store, NOW).files
    assert again.status == "already_stored" and raw_count(store) == len(expected)


def test_a_malformed_row_in_a_later_block_stores_nothing_and_the_file_goes_to_error(
        cfg, client, drop, store, sandbox, small_blocks, temp_folder):
    good, expected = lead_rows(50)
    drop("inbox", "a_good.csv", good, mtime=1_700_000_000)
    bad, _ = lead_rows(500)
    bad += b"late@x.com,Lee, Ann,Acme,Inc\r\n"  # comma not quoted, far below the first block
    drop("inbox", "b_bad.csv", bad, mtime=1_700_000_100)

    report = pull_inbox(cfg, client, store, NOW)

    assert [(f.name, f.status) for f in report.files] == [("a_good.csv", "stored"), ("b_bad.csv", "error")]
    reason = report.files[1].reason
    assert reason.startswith("b_bad.csv: cannot read the file as comma-separated values (a row")
    assert "has 5 columns where the header has 4" in reason and "Fix the file and upload it again" in reason
    assert raw_count(store) == len(expected)  # the good file's rows only: none of the bad file's blocks
    entry = ledger(store)["b_bad.csv"]
    assert (entry["status"], entry["row_count"], entry["error"]) == ("error", 0, reason)
    assert entry["content_sha256"] == hashlib.sha256(bad).hexdigest()
    assert (sandbox.root / "error/b_bad.csv").read_bytes() == bad
    assert (sandbox.root / "error/b_bad.csv.error.txt").read_text() == reason + "\n"
    assert not list((sandbox.root / "inbox").iterdir()) and not list(temp_folder.iterdir())
    assert not [t for t in threading.enumerate() if t.name == "leadsync-read-ahead"]  # the reading thread ended


def test_a_missing_required_column_stores_nothing(cfg, client, drop, store, sandbox, small_blocks):
    data, _ = lead_rows(100)
    drop("inbox", "no_email.csv", data.replace(b"Email,", b"E-mail,", 1))
    [outcome] = pull_inbox(cfg, client, store, NOW).files
    assert outcome.status == "error" and "Email" in outcome.reason and outcome.reason.startswith("no_email.csv: ")
    assert raw_count(store) == 0 and (sandbox.root / "error/no_email.csv").exists()


def test_an_xlsx_file_is_downloaded_to_disk_and_stored(cfg, client, drop, store, temp_folder):
    import io

    import openpyxl

    book = openpyxl.Workbook()
    for row in (["Email", "Last Name"], ["a@x.com", "Lee"], [None, None], ["b@x.com", "Ray"]):
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    drop("inbox", "leads.xlsx", buf.getvalue())
    [outcome] = pull_inbox(cfg, client, store, NOW).files
    assert (outcome.status, outcome.rows) == ("stored", 2)
    entry = ledger(store)["leads.xlsx"]
    assert entry["encoding"] == "xlsx" and entry["content_sha256"] == hashlib.sha256(buf.getvalue()).hexdigest()
    rows = stored_rows(store, entry["batch_id"], ["Email", "Last Name"])
    assert [(r["Email"], r["row_number"]) for r in rows] == [("a@x.com", 1), ("b@x.com", 3)]
    assert not list(temp_folder.iterdir())
