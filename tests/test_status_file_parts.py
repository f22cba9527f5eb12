"""The SFTP status file is rendered in parts by the engine, one part ahead of the upload in a thread of its own:
the parts concatenate into the bytes of a one-part file, and a caller that stops early stops the rendering."""

import threading
import time
from datetime import UTC, datetime

import pandas as pd
import pytest

from leadsync.store import LeadStore, tables
from leadsync.writeback import outbox, sftp_status_file
from leadsync.writeback.sftp_status_file import status_file_parts

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["duckdb", "postgres"])
def batch_in_store(request, tmp_path):
    url = request.getfixturevalue("duckdb_url" if request.param == "duckdb" else "postgres_url")
    store = LeadStore(url)
    events = pd.DataFrame({"event_id": [f"e{i:04d}" for i in range(25)], "source": "sftp_demo",
                           "lead_id": [f"L{i}" for i in range(25)], "kind": "distribution_status",
                           "distribution_status": ["Routed", "Not Routed"] * 12 + ["Routed"], "created_at": NOW})
    with store.begin() as conn:
        store.insert_frame(conn, tables.writeback_outbox, events)
    batch = outbox.prepare_batch(store, "sftp_demo", NOW, sftp_status_file.status_file_name("sftp_demo"))
    yield store, batch
    store.dispose()


def renderers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("status-file-")]


def test_parts_concatenate_into_the_one_part_file(batch_in_store, monkeypatch, tmp_path):
    store, batch = batch_in_store
    whole = sftp_status_file.render_status_csv(store, batch)
    for rows in (4, 5, 25, 30):  # a last part short, full, the only one, and larger than the file
        monkeypatch.setattr(sftp_status_file, "PART_ROWS", rows)
        folder = tmp_path / f"parts{rows}"
        folder.mkdir()
        parts = list(status_file_parts(store, batch, folder))
        assert len(parts) == -(-25 // rows), (rows, parts)
        assert b"".join(p.read_bytes() for p in parts) == whole
        assert parts[0].read_bytes().count(b"\n") == min(rows, 25) + 1  # the header and the part's rows
    assert whole.count(b"\n") == 26 and whole.startswith(b"lead_id,source_file,source_row,email,event,")
    assert sftp_status_file.render_status_csv(store, batch) == whole  # and again: the same bytes
    assert renderers() == []


def test_the_next_part_is_rendered_while_the_caller_holds_one_and_closing_stops_it(batch_in_store, monkeypatch,
                                                                                     tmp_path):
    store, batch = batch_in_store
    monkeypatch.setattr(sftp_status_file, "PART_ROWS", 4)
    parts = status_file_parts(store, batch, tmp_path)
    first = next(parts)
    deadline = time.monotonic() + 30
    while not (tmp_path / "part00001.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.name == "part00000.csv" and (tmp_path / "part00001.csv").exists()  # without being asked
    parts.close()  # the upload failed: the caller stops
    assert renderers() == []
    rendered = sorted(p.name for p in tmp_path.iterdir())
    assert len(rendered) < 7, rendered  # it stopped: not every part was made
    monkeypatch.setattr(sftp_status_file, "PART_ROWS", 100)
    assert sftp_status_file.render_status_csv(store, batch).count(b"\n") == 26  # the store serves on
