"""Storing a received batch of source rows (one file, one page of records): its ledger row in source_files
and its rows, as received, in the source's raw storage (leadsync/store/raw.py: a raw table on DuckDB,
compressed blocks on Postgres)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from leadsync.store import LeadStore, raw, tables


def batch_id_for(source: str, name: str, content_sha256: str) -> str:
    """A batch is identified by what arrived: the same name with the same bytes is the same batch."""
    return hashlib.sha1(f"{source}\0{name}\0{content_sha256}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BatchInfo:
    batch_id: str
    source: str
    file_name: str
    content_sha256: str
    size_bytes: int
    encoding: str | None = None


def ledger_status(store: LeadStore, batch_id: str) -> tuple[str, str | None] | None:
    """(status, error) of a batch already received, or None."""
    with store.begin() as conn:
        row = conn.execute(
            sa.select(tables.source_files.c.status, tables.source_files.c.error).where(
                tables.source_files.c.batch_id == batch_id
            )
        ).first()
    return (row.status, row.error) if row else None


def rows_as_json(frame: pd.DataFrame) -> np.ndarray:
    """One JSON object per row, keys as the column names. DuckDB's to_json writes them (C++, several
    threads). Timestamps are written as ISO 8601 text first, so they read back the same whichever engine
    wrote them. For small side tables (campaign details); lead rows are never stored as JSON."""
    if frame.empty:
        return np.array([], dtype=object)
    frame = frame.reset_index(drop=True)
    for col in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[col]):
            frame[col] = frame[col].map(lambda ts: ts.isoformat() if pd.notna(ts) else None).astype(object)
    con = duckdb.connect()
    try:
        con.register("leadsync_rows", frame)
        return con.sql("SELECT to_json(leadsync_rows)::VARCHAR AS j FROM leadsync_rows").fetchnumpy()["j"]
    finally:
        con.close()


def store_batch(store: LeadStore, info: BatchInfo, rows: pa.Table, row_numbers: pa.Array, now: datetime,
                also: Callable[[sa.Connection], None] | None = None, conn: sa.Connection | None = None) -> int:
    """Store the ledger entry and the batch's rows (as received, one string column per header name) in one
    transaction; a batch already in the ledger adds nothing. `also` runs in the same transaction (an API pull
    moves its watermark there: stored and read-up-to move together). With `conn`, all of it runs in that
    connection's transaction (the caller's, e.g. a store session's) instead of one of its own."""
    return store_blocks(store, info, list(rows.column_names), [(rows, row_numbers)], now, also, conn)


# The embedded store's memory while a file streams in (store_stream). DuckDB keeps every block it writes cached
# up to its cap (the store's 1 GB), so under that cap a pull grew with its file: 692 MB at 1M leads, 880 MB at
# 5M, a single transaction or one per million rows alike. The append needs little: about a block per column
# and thread for the row group being built (a file of 150 columns failed at 64 MB, stored at 128 MB), so the
# cap is 64 MB plus 1 MB a column, on two threads; under it the insert peaks the same at 1M and 5M leads.
STREAM_DUCKDB_MEMORY_MB = 64
STREAM_DUCKDB_MEMORY_MB_PER_COLUMN = 1
STREAM_DUCKDB_THREADS = 2


def store_stream(store: LeadStore, info: BatchInfo, columns: list[str], blocks: Iterable[tuple[pa.Table, pa.Array]],
                 now: datetime, also: Callable[[sa.Connection], None] | None = None) -> int:
    """`store_blocks` for a file read as a stream, in one transaction, on a connection whose block cache is
    capped (on DuckDB): memory stays that of a few blocks whatever the file's length."""
    memory = f"{STREAM_DUCKDB_MEMORY_MB + STREAM_DUCKDB_MEMORY_MB_PER_COLUMN * len(columns)}MB"
    with store.session(duckdb_threads=STREAM_DUCKDB_THREADS, duckdb_memory_limit=memory) as session, \
            session.begin() as conn:
        return store_blocks(store, info, columns, blocks, now, also, conn)


def store_blocks(store: LeadStore, info: BatchInfo, columns: list[str],
                 blocks: Iterable[tuple[pa.Table, pa.Array]], now: datetime,
                 also: Callable[[sa.Connection], None] | None = None, conn: sa.Connection | None = None) -> int:
    """`store_batch` for a batch arriving in blocks (a lead file read as a stream): every block's rows and
    then the ledger entry with their count, all in one transaction (`conn`'s when given). An exception while
    the blocks come (the file turns out bad halfway) rolls all of it back: nothing of the batch is stored.
    The blocks are not read at all when the batch is already in the ledger."""
    if conn is None:
        with store.begin() as own:
            return store_blocks(store, info, columns, blocks, now, also, own)
    if _known(conn, info.batch_id):
        stored = 0
    else:
        stored = raw.append_blocks(store, conn, info.source, info.batch_id, columns, blocks)
        store.insert_frame(conn, tables.source_files, _ledger_row(info, "stored", stored, None, now, columns))
    if also is not None:
        also(conn)
    return stored


def _known(conn: sa.Connection, batch_id: str) -> bool:
    f = tables.source_files
    return conn.execute(sa.select(sa.func.count()).where(f.c.batch_id == batch_id)).scalar_one() > 0


def earlier_copy(store: LeadStore, info: BatchInfo) -> str | None:
    """The name of a file of the same source with the same content stored earlier under another name (its
    first such file), or None: the ledger keeps every file's SHA-256."""
    f = tables.source_files
    with store.begin() as conn:
        return conn.execute(
            sa.select(f.c.file_name).where(f.c.source == info.source, f.c.content_sha256 == info.content_sha256,
                                           f.c.status == "stored", f.c.file_name != info.file_name)
            .order_by(f.c.received_at, f.c.file_name).limit(1)).scalar()


def record_duplicate(store: LeadStore, info: BatchInfo, reason: str, now: datetime) -> None:
    """Ledger row of a file skipped because its content was stored before: no rows, the warning kept."""
    with store.begin() as conn:
        store.insert_frame(conn, tables.source_files, _ledger_row(info, "duplicate", 0, reason, now),
                           conflict="nothing")


def quarantine_stray_lines(store: LeadStore, conn: sa.Connection, info: BatchInfo, reader, now: datetime) -> int:
    """Quarantine rows for the file's lines that are not in its encoding (`reader.undecodable`: data row
    number and line, see connectors/sftp/mixed_encoding.py), in the batch's transaction. Returns how many."""
    if not reader.undecodable:
        return 0
    rows = [{"batch_id": info.batch_id, "row_number": row, "source": info.source, "file_name": info.file_name,
             "payload": json.dumps({"line": stray.line, "bytes": stray.offending.hex(" "), "text": stray.text,
                                    "encoding": reader.stray_encoding}, ensure_ascii=False),
             "reason": (f"line {stray.line}: the bytes {stray.offending.hex(' ')} are not {reader.encoding} like "
                        f"the rest of the file (the line reads as {reader.stray_encoding}: {stray.text[:200]!r}); "
                        "it is not stored as a lead. Save the file in one encoding (UTF-8) and upload this row "
                        "again"),
             "quarantined_at": now} for row, stray in reader.undecodable]
    store.insert_frame(conn, tables.quarantine, pd.DataFrame(rows))
    return len(rows)


def record_error(store: LeadStore, info: BatchInfo, reason: str, now: datetime) -> None:
    with store.begin() as conn:
        store.insert_frame(conn, tables.source_files, _ledger_row(info, "error", 0, reason, now), conflict="nothing")


def _ledger_row(info: BatchInfo, status: str, rows: int, error: str | None, now: datetime,
                columns: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame([{
        "batch_id": info.batch_id, "source": info.source, "file_name": info.file_name,
        "content_sha256": info.content_sha256, "size_bytes": info.size_bytes, "status": status,
        "row_count": rows, "encoding": info.encoding, "error": error, "received_at": now, "moved_to": None,
        "columns": json.dumps(columns) if columns is not None else None,
    }])


def record_moved(store: LeadStore, batch_id: str, moved_to: str) -> None:
    with store.begin() as conn:
        conn.execute(
            sa.update(tables.source_files)
            .where(tables.source_files.c.batch_id == batch_id)
            .values(moved_to=moved_to)
        )
