"""A wide file streams into the store under the pull's memory cap: DuckDB builds a row group with a block per
column and thread, so the cap grows with the file's columns (leadsync/pull/raw_batches.py store_stream)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from leadsync.pull import raw_batches
from leadsync.pull.raw_batches import BatchInfo, store_stream
from leadsync.store import LeadStore, raw

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
COLUMNS = [f"Column {i}" for i in range(150)]
ROWS = 30_000


def wide_blocks():
    for start in range(0, ROWS, 10_000):
        numbers = pa.array(range(start + 1, start + 10_001), pa.int64())
        text = pa.array([f"a cell of some length, row {n}" for n in numbers.to_pylist()])
        yield pa.table({name: text for name in COLUMNS}), numbers


def stored(store: LeadStore) -> int:
    info = BatchInfo("wide0000000000aa", "wide", "wide.csv", "sha", 1)
    return store_stream(store, info, COLUMNS, wide_blocks(), NOW)


def test_a_file_of_150_columns_is_stored_under_the_cap(duckdb_url):
    """DuckDB only: Postgres has no such cap (its COPY holds a block at a time in this process)."""
    store = LeadStore(duckdb_url)
    try:
        assert stored(store) == ROWS
        with store.begin() as conn:
            assert raw.row_count(conn, "wide") == ROWS
            assert len(raw.physical_columns(conn, "wide")) == len(COLUMNS)
    finally:
        store.dispose()


def test_the_cap_without_its_share_per_column_is_too_small_for_it(duckdb_url, monkeypatch):
    """The share per column is what lets it through: the flat part alone runs out of memory."""
    monkeypatch.setattr(raw_batches, "STREAM_DUCKDB_MEMORY_MB_PER_COLUMN", 0)
    store = LeadStore(duckdb_url)
    try:
        with pytest.raises(Exception, match="Out of Memory"):
            stored(store)
    finally:
        store.dispose()
