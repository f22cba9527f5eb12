"""On DuckDB a status file's rows are joined and sorted once (leadsync/writeback/status_rows.py) and each part is
a row-id range of them: a part reads its own row groups, not every lead and event again. DuckDB's profile of
each part's query counts the row groups and rows it scanned."""

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from leadsync.store import LeadStore, tables
from leadsync.writeback import outbox, sftp_status_file, status_rows
from leadsync.writeback.sftp_status_file import status_file_parts, status_query

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
EVENTS = 20_000
ROW_GROUP = 2_048  # DuckDB's smallest row group: several of them in a small test
PART_ROWS = 2 * ROW_GROUP


@pytest.fixture
def batch_in_store(duckdb_url, monkeypatch):
    monkeypatch.setattr(status_rows, "ROW_GROUP", ROW_GROUP)
    monkeypatch.setattr(sftp_status_file, "PART_ROWS", PART_ROWS)
    store = LeadStore(duckdb_url)
    # lead and event ids in no relation to the order rows are stored in (like the hashed ids of real leads)
    keys = pd.util.hash_array(pd.RangeIndex(EVENTS).to_numpy()).astype(str)
    lead_ids = pd.Series([f"sftp_demo-{k}" for k in keys])
    leads = pd.DataFrame({"lead_id": lead_ids, "source": "sftp_demo", "batch_id": "b1",
                          "row_number": range(1, EVENTS + 1), "lead_key": keys,
                          "email": [f"lead{i}@example.com" for i in range(EVENTS)],
                          "received_at": NOW, "updated_at": NOW})
    events = pd.DataFrame({"event_id": lead_ids + ":1:distribution_status", "source": "sftp_demo",
                           "lead_id": lead_ids, "kind": "distribution_status",
                           "distribution_status": "Routed", "partner_id": "p1", "created_at": NOW})
    with store.begin() as conn:
        conn.execute(sa_insert_file())
        store.insert_frame(conn, tables.leads, leads)
        store.insert_frame(conn, tables.writeback_outbox, events.sample(frac=1, random_state=3))
    batch = outbox.prepare_batch(store, "sftp_demo", NOW, sftp_status_file.status_file_name("sftp_demo"))
    yield store, batch
    store.dispose()


def sa_insert_file():
    return tables.source_files.insert().values(
        batch_id="b1", source="sftp_demo", file_name="leads.csv", content_sha256="0" * 64, size_bytes=1,
        status="stored", row_count=EVENTS, received_at=NOW)


def scanned(connection, sql: str, profile) -> dict:
    """Row groups and rows DuckDB's scans read for `sql` (from its JSON profile)."""
    connection.execute("PRAGMA enable_profiling = 'json'")
    connection.execute(f"SET profiling_output = '{profile}'")
    connection.execute("SET tracked_metrics = ['*']")
    connection.execute(sql).fetchall()
    connection.execute("PRAGMA disable_profiling")
    query = json.loads(profile.read_text())["query"]
    return {"row_groups": query["total_row_groups_scanned"], "of": query["total_row_groups_to_scan"],
            "rows": query["total_rows_scanned"]}


def test_each_part_reads_only_its_row_range(batch_in_store, tmp_path):
    store, batch = batch_in_store
    query = status_query(batch, store.dialect)
    with status_rows.sorted_rows(store, query, tmp_path) as rows:
        assert rows.count == EVENTS
        ranges = list(rows.ranges(PART_ROWS))
        assert len(ranges) == -(-EVENTS // PART_ROWS)
        for first, last in ranges:
            seen = scanned(rows.connection, rows.part_sql(first, last), tmp_path / "profile.json")
            assert seen["of"] == -(-EVENTS // ROW_GROUP)  # the table's row groups
            assert seen["row_groups"] <= PART_ROWS // ROW_GROUP, seen  # … of which the part's own
            assert seen["rows"] == last - first + 1, seen
        # the same query without a row-id range reads them all: the check above can fail
        everything = scanned(rows.connection, "SELECT * FROM status_rows WHERE email LIKE '%@%'",
                             tmp_path / "profile.json")
        assert everything["rows"] == EVENTS and everything["row_groups"] == everything["of"]
    assert not list(tmp_path.glob(".status-rows-*"))  # the scratch file is gone


def test_parts_are_the_file_in_event_id_order(batch_in_store, tmp_path):
    store, batch = batch_in_store
    parts = list(status_file_parts(store, batch, tmp_path))
    assert len(parts) == -(-EVENTS // PART_ROWS)
    text = b"".join(p.read_bytes() for p in parts).decode()
    lines = text.split("\r\n")
    assert lines[0].startswith("lead_id,source_file,source_row,email,event,") and lines[-1] == ""
    body = [line.split(",") for line in lines[1:-1]]
    assert len(body) == EVENTS
    ids = [f"{row[0]}:1:distribution_status" for row in body]
    assert ids == sorted(ids)
    first = body[0]
    n = int(first[2]) - 1  # the lead's own row: file, row number and email joined from the store
    assert first[1] == "leads.csv" and first[3] == f"lead{n}@example.com"
    assert not list(tmp_path.glob(".status-rows-*"))


def test_a_caller_that_stops_removes_the_scratch_rows(batch_in_store, tmp_path):
    store, batch = batch_in_store
    parts = status_file_parts(store, batch, tmp_path)
    next(parts)
    parts.close()
    assert not list(tmp_path.glob(".status-rows-*"))
