"""A status file's rows on DuckDB: joined and sorted once into a scratch database of their own, then read back
part by part by row-id ranges.

The rows of a status file come from four tables (bindings, outbox events, leads, source files) joined by string
keys, in event-id order. DuckDB cannot skip row groups by such keys (its string zone maps keep 8-byte prefixes,
and every id starts with the source's name), so a part cut by a range of event ids read every lead and every
event again: the work of a file grew with leads × parts, and its memory with the leads. Here the engine does
the join and the sort once, writing the sorted rows into a DuckDB file in the caller's temporary folder
(spilling to disk past its memory limit, not holding the rows); a part is then `WHERE rowid BETWEEN …` on
that table, which DuckDB answers from the part's own row groups. The store is let go once the rows are out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import sqlalchemy as sa

from leadsync.store import LeadStore

# Rows per row group of the scratch table: DuckDB's own default, named so that parts can be whole row groups.
ROW_GROUP = 122_880
SCRATCH = "status_scratch"
# DuckDB's memory cap while the rows are joined and sorted: past it the join and the sort spill to disk, so the
# write-back's memory is the same for a million rows or five (measured: 596 MiB at 1M, 664 MiB at 5M).
MEMORY_LIMIT = os.environ.get("LEADSYNC_STATUS_ROWS_MEMORY", "384MB")
TABLE = "status_rows"


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class SortedRows:
    """The sorted rows in their scratch file, opened by a connection of their own (not the store's)."""

    def __init__(self, path: Path):
        # insertion order kept: a scan (and so a COPY) gives the rows in row-id order, the file's order
        self.connection = duckdb.connect(str(path), config={"preserve_insertion_order": "true"})
        self.count = self.connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]

    def ranges(self, rows: int) -> Iterator[tuple[int, int]]:
        """Row-id ranges (first, last) of `rows` rows each, in order; one (empty) range when there are none, so
        that a file of no rows still gets its header."""
        for first in range(0, max(self.count, 1), rows):
            yield first, min(first + rows, max(self.count, 1)) - 1

    def part_sql(self, first: int, last: int, select: str = f"SELECT * FROM {TABLE}") -> str:
        """`select` (a query of the table, no WHERE) for the rows first … last (row ids)."""
        return f"{select} WHERE rowid BETWEEN {int(first)} AND {int(last)}"

    def copy(self, first: int, last: int, target: Path, header: bool, select: str = f"SELECT * FROM {TABLE}") -> None:
        """`select` of rows first … last (row ids) as CSV in `target` (CRLF line ends, a header when asked)."""
        self.connection.execute(f"COPY ({self.part_sql(first, last, select)}) TO {_literal(target)} "
                                f"(FORMAT csv, HEADER {str(header).lower()}, NEW_LINE '\\r\\n')")

    def close(self) -> None:
        self.connection.close()


@contextmanager
def sorted_rows(store: LeadStore, query: sa.Select, folder: Path) -> Iterator[SortedRows]:
    """`query` (a DuckDB store's; its ORDER BY is the order kept) run once into a scratch file under `folder`,
    removed on exit. One store transaction reads the store: every part comes from the same snapshot."""
    scratch = Path(tempfile.mkdtemp(prefix=".status-rows-", dir=folder))
    path = scratch / "status_rows.duckdb"
    try:
        with store.session(duckdb_memory_limit=MEMORY_LIMIT) as session:
            with session.begin() as conn:
                conn.exec_driver_sql(f"ATTACH {_literal(path)} AS {SCRATCH} (ROW_GROUP_SIZE {ROW_GROUP})")
                conn.exec_driver_sql("SET preserve_insertion_order = true")  # the ORDER BY is the row-id order
                try:
                    conn.exec_driver_sql(f"CREATE TABLE {SCRATCH}.{TABLE} AS {store.render(conn, query)}")
                finally:
                    conn.exec_driver_sql("RESET preserve_insertion_order")
            with session.begin() as conn:  # detached before another connection opens the file
                conn.exec_driver_sql(f"DETACH {SCRATCH}")
        rows = SortedRows(path)
        try:
            yield rows
        finally:
            rows.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
