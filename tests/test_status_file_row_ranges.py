"""On DuckDB each part of a status file is a range of outbox seq, read from the outbox alone (the events carry
their lead's file, row and email): a part reads the row groups holding its range, not every event and lead
again. DuckDB's profile of each part's query counts the row groups and rows it scanned."""

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from leadsync.store import LeadStore, tables
from leadsync.writeback import outbox, sftp_status_file
from leadsync.writeback.sftp_status_file import _part_bounds, status_file_parts, status_query

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
ROW_GROUP = 122_880  # DuckDB's row group
EVENTS = 3 * ROW_GROUP + 20_000  # four row groups, the last one partly filled
PART_ROWS = ROW_GROUP


@pytest.fixture(scope="module")
def batch_in_store(tmp_path_factory):
    url = f"duckdb:///{tmp_path_factory.mktemp('ranges') / 'store.duckdb'}"
    store = LeadStore(url)
    # event ids in no relation to the order they are queued in (like the hashed ids of real leads)
    order = pa.array(range(EVENTS), pa.int64())
    keys = pa.compute.cast(pa.compute.multiply(pa.compute.add(order, 7919), 104729), pa.string())
    lead_ids = pa.compute.binary_join_element_wise("sftp_demo", keys, "-")
    events = pa.table({
        "event_id": pa.compute.binary_join_element_wise(lead_ids, "1:distribution_status", ":"),
        "source": pa.repeat("sftp_demo", EVENTS), "lead_id": lead_ids, "kind": pa.repeat("distribution_status", EVENTS),
        "email": pa.compute.binary_join_element_wise("lead", pa.compute.cast(order, pa.string()), ""),
        "source_file": pa.repeat("leads.csv", EVENTS), "source_row": pa.compute.add(order, 1),
        "distribution_status": pa.repeat("Routed", EVENTS), "partner_id": pa.repeat("p1", EVENTS),
        "created_at": pa.repeat(pa.scalar(NOW, pa.timestamp("us", "UTC")), EVENTS)})
    with store.begin() as conn:
        store.append(conn, tables.writeback_outbox, events, events.column_names)
    batch = outbox.prepare_batch(store, "sftp_demo", NOW, sftp_status_file.status_file_name("sftp_demo"))
    yield store, batch
    store.dispose()


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


def test_each_part_reads_only_the_row_groups_of_its_seq_range(batch_in_store, tmp_path, monkeypatch):
    store, batch = batch_in_store
    monkeypatch.setattr(sftp_status_file, "PART_ROWS", PART_ROWS)
    with store.begin() as conn:
        bounds = [None, *_part_bounds(conn, batch), None]
        assert len(bounds) - 1 == -(-EVENTS // PART_ROWS)
        raw = conn.connection.driver_connection
        everything = scanned(raw, LeadStore.render(conn, status_query(batch, store.dialect)), tmp_path / "p.json")
        # the control: without a range the outbox's four row groups are all read (the batch is one span)
        assert batch.span is not None
        assert everything["rows"] >= EVENTS and everything["row_groups"] >= 4, everything
        for low, high in zip(bounds, bounds[1:]):
            sql = LeadStore.render(conn, status_query(batch, store.dialect, low, high))
            seen = scanned(raw, sql, tmp_path / "p.json")
            # the part's own rows in the outbox: at most two row groups
            assert seen["row_groups"] <= 2 and seen["rows"] <= 2 * ROW_GROUP, seen


def test_parts_are_the_file_in_seq_order_from_the_events_alone(batch_in_store, tmp_path, monkeypatch):
    store, batch = batch_in_store
    monkeypatch.setattr(sftp_status_file, "PART_ROWS", PART_ROWS)
    parts = list(status_file_parts(store, batch, tmp_path))
    assert len(parts) == -(-EVENTS // PART_ROWS)
    text = b"".join(p.read_bytes() for p in parts).decode()
    lines = text.split("\r\n")
    assert lines[0].startswith("lead_id,source_file,source_row,email,event,") and lines[-1] == ""
    body = [line.split(",") for line in lines[1:-1]]
    assert len(body) == EVENTS
    # in the order queued (the events went in by source row), though their ids sort otherwise
    assert [int(row[2]) for row in body] == list(range(1, EVENTS + 1))
    assert [row[0] for row in body] != sorted(row[0] for row in body)
    assert body[41][1:4] == ["leads.csv", "42", "lead41"]  # the lead as its event carries it
