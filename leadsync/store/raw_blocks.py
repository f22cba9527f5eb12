"""Raw rows on Postgres: each block of a batch as it arrived, one compressed Arrow IPC stream per row of
`raw_<source>_blocks` (batch_id, first_row, last_row, row_count, data).

Raw rows are written once, read back whole by the intake (a batch's slices of row numbers, in row order) and
never queried value by value, so Postgres holds them as the columns they are, not as rows: a block of 100,000
rows of 14 text columns was 100,000 heap tuples with their B-tree entries and WAL records, a COPY in and a COPY
out each costing the server seconds per million rows; as one zstd-compressed Arrow stream it is a few MB of
bytea the server stores and hands back without looking inside (`STORAGE EXTERNAL`: no second compression). The
columns are the source's physical ones (`raw_columns`: c0, c1, …) and `row_number`; every value is the text the
source sent (NUL kept as raw.NUL_SYMBOL, as in a Postgres raw table).

A store written before this (one typed table per source, `raw_<source>`) keeps its batches where they are; they
are read from there (raw.py asks `blocks` first). A batch lies wholly in one of the two: it is stored in one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

# zstd at its fastest level: raw text compresses 5-10× at several hundred MB/s, faster than the rows would
# travel uncompressed
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions(compression=pa.Codec("zstd", compression_level=1))


def table_name(source: str) -> str:
    return f"raw_{source}_blocks"


def quoted(conn: sa.Connection, name: str) -> str:
    """`name` as an SQL identifier of the connection's dialect."""
    return conn.dialect.identifier_preparer.quote(name)


def exists(conn: sa.Connection, source: str) -> bool:
    return conn.exec_driver_sql("SELECT to_regclass(%(name)s)",
                                {"name": quoted(conn, table_name(source))}).scalar() is not None


def ensure(conn: sa.Connection, source: str) -> None:
    """The source's block table, made at its first batch. Looked up first: CREATE TABLE IF NOT EXISTS takes a
    lock that would hold up the source's other writers even when the table exists."""
    if exists(conn, source):
        return
    table = quoted(conn, table_name(source))
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {table} (batch_id VARCHAR NOT NULL, first_row BIGINT NOT NULL, "
                         "last_row BIGINT NOT NULL, row_count BIGINT NOT NULL, data BYTEA NOT NULL, "
                         "PRIMARY KEY (batch_id, first_row))")
    conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN data SET STORAGE EXTERNAL")


def encode(rows: pa.Table) -> memoryview:
    """A block (row_number and the physical columns) as a compressed Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema, options=_WRITE_OPTIONS) as writer:
        writer.write_table(rows)
    return memoryview(sink.getvalue())  # the stream's own buffer, not a copy of it


def decode(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


# Rows per stored block at most: a block as the pull hands it over (an API page of 50,000 records) is stored in
# pieces, so the compressed copy and the statement carrying it stay a few MB (a whole page of Salesforce records
# added ~45 MiB to the pull's peak), and a page of row numbers decodes little beyond itself.
BLOCK_ROWS = 16_384


def append(conn: sa.Connection, source: str, batch_id: str, rows: pa.Table) -> int:
    """Store one block of a batch: `rows` is row_number and the physical columns. A batch's blocks come in row
    order (each block's numbers above the one before's, as every pull numbers its rows); within a block the rows
    are put in row order here, so a batch reads back in row order block after block."""
    numbers = rows.column("row_number").combine_chunks()
    if len(numbers) > 1 and not pc.all(pc.greater(numbers[1:], numbers[:-1])).as_py():
        rows = rows.sort_by("row_number")
    for start in range(0, rows.num_rows, BLOCK_ROWS):
        piece = rows.slice(start, BLOCK_ROWS)
        numbers = piece.column("row_number")
        conn.exec_driver_sql(
            f"INSERT INTO {quoted(conn, table_name(source))} (batch_id, first_row, last_row, row_count, data) "
            "VALUES (%(batch)s, %(first)s, %(last)s, %(n)s, %(data)s)",
            {"batch": batch_id, "first": pc.min(numbers).as_py(), "last": pc.max(numbers).as_py(),
             "n": piece.num_rows, "data": encode(piece)})
    return rows.num_rows


def spans(conn: sa.Connection, source: str, batch_id: str) -> list[tuple[int, int, int]] | None:
    """The batch's blocks as (first_row, last_row, row_count) in row order; None when the batch has none (it
    is in the source's raw table, or was never stored)."""
    if not exists(conn, source):
        return None
    found = conn.exec_driver_sql(
        f"SELECT first_row, last_row, row_count FROM {quoted(conn, table_name(source))} "
        "WHERE batch_id = %(batch)s ORDER BY first_row", {"batch": batch_id}).all()
    return [tuple(row) for row in found] or None


def read(conn: sa.Connection, source: str, batch_id: str, blocks: list[tuple[int, int, int]], columns: list[str],
         rows: int, between: tuple[int, int] | None) -> Iterator[pa.RecordBatch]:
    """The batch's rows numbered within `between` (both ends included; all when None), in row order, as
    record batches of `rows` rows (the last one the rest): row_number, then `columns` (physical names; a
    column the batch did not come with is null). One block is fetched and decoded at a time, each read whole
    before anything is handed out (the caller writes on this connection in between)."""
    low, high = between if between is not None else (None, None)
    wanted = [first for first, last, _ in blocks
              if (low is None or last >= low) and (high is None or first <= high)]
    table = quoted(conn, table_name(source))
    pending: list[pa.Table] = []
    held = 0
    for first in wanted:
        data = conn.exec_driver_sql(f"SELECT data FROM {table} WHERE batch_id = %(batch)s AND first_row = %(first)s",
                                    {"batch": batch_id, "first": first}).scalar_one()
        block = _selected(decode(data), columns)
        if between is not None:
            numbers = block.column("row_number")
            block = block.filter(pc.and_(pc.greater_equal(numbers, low), pc.less_equal(numbers, high)))
        pending.append(block)
        held += block.num_rows
        while held >= rows:
            joined = pa.concat_tables(pending)
            yield from joined.slice(0, rows).combine_chunks().to_batches()
            rest = joined.slice(rows)
            pending, held = [rest], rest.num_rows
    if held:
        yield from pa.concat_tables(pending).combine_chunks().to_batches()


def _selected(block: pa.Table, columns: list[str]) -> pa.Table:
    arrays = [block.column("row_number")]
    for name in columns:
        arrays.append(block.column(name) if name in block.column_names else pa.nulls(block.num_rows, pa.string()))
    return pa.Table.from_arrays(arrays, names=["row_number", *columns])


def row_range(blocks: list[tuple[int, int, int]], after: int | None) -> tuple[int | None, int | None]:
    """Least and greatest row numbers of a batch's blocks (`spans`) past `after`: a range covering those rows
    (the least may be a number no row has, as raw row ranges may have gaps anyway)."""
    past = [(first, last) for first, last, _ in blocks if after is None or last > after]
    if not past:
        return None, None
    low = past[0][0] if after is None else max(past[0][0], after + 1)
    return low, past[-1][1]


def row_count(conn: sa.Connection, source: str) -> int:
    if not exists(conn, source):
        return 0
    return int(conn.exec_driver_sql(
        f"SELECT coalesce(sum(row_count), 0) FROM {quoted(conn, table_name(source))}").scalar_one())
