"""Raw rows as received, one typed table per source: `raw_<source>` (batch_id, row_number, c0, c1, …).

Every value stays the text the source sent (nothing lost, nothing typed yet); each header name a source has
ever sent gets a column of its own (`raw_columns` says which), so a batch is read back as the columns it
arrived with. Rows are appended, never updated: what the intake has mapped is its own ledger
(`intake_batches`). Batches arrive whole and in order, so DuckDB's min-max zonemaps find one batch's rows
without an index.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator

import pyarrow as pa
import sqlalchemy as sa

from leadsync.store.engine import LeadStore, copy_arrow
from leadsync.store.tables import metadata

raw_columns = sa.Table(
    "raw_columns",
    metadata,
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("name", sa.String, primary_key=True),  # the header name as received
    sa.Column("physical", sa.String, nullable=False),  # its column in raw_<source>: c0, c1, …
)


def table_name(source: str) -> str:
    return f"raw_{source}"


def _quoted(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def has_table(conn: sa.Connection, source: str) -> bool:
    return sa.inspect(conn).has_table(table_name(source))


def physical_columns(conn: sa.Connection, source: str) -> dict[str, str]:
    """Header name → column of raw_<source>, for every name the source has sent."""
    rc = raw_columns
    return dict(conn.execute(sa.select(rc.c.name, rc.c.physical).where(rc.c.source == source)).all())


def _ensure_columns(store: LeadStore, conn: sa.Connection, source: str, names: list[str]) -> dict[str, str]:
    table = _quoted(conn, table_name(source))
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {table} (batch_id VARCHAR NOT NULL, row_number BIGINT NOT NULL)")
    known = physical_columns(conn, source)
    for name in names:
        if name in known:
            continue
        physical = f"c{len(known)}"
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {_quoted(conn, physical)} VARCHAR")
        conn.execute(sa.insert(raw_columns).values(source=source, name=name, physical=physical))
        known[name] = physical
    return known


def append(store: LeadStore, conn: sa.Connection, source: str, batch_id: str, rows: pa.Table,
           row_numbers: pa.Array) -> int:
    """Append one batch: `rows` has one string column per header name (as received), `row_numbers` the row of
    each in its file or page. Runs in the caller's transaction, with the batch's ledger row."""
    return append_blocks(store, conn, source, batch_id, list(rows.column_names), [(rows, row_numbers)])


def append_blocks(store: LeadStore, conn: sa.Connection, source: str, batch_id: str, names: list[str],
                  blocks: Iterable[tuple[pa.Table, pa.Array]]) -> int:
    """Append one batch arriving in blocks (a large file read as a stream), each `(rows, row_numbers)` as for
    `append`, with the same columns `names`. Runs in the caller's transaction: a block that fails to come
    (the file turns out bad halfway) rolls back the ones before it with the rest."""
    store.hold(conn, f"raw:{source}")  # two pulls of one source must not both add the same new column
    physical: list[str] | None = None
    appended = 0
    for rows, row_numbers in blocks:
        if not rows.num_rows:
            continue
        if physical is None:  # not before the first rows: a batch without any adds no table or column
            known = _ensure_columns(store, conn, source, names)
            physical = [known[n] for n in names]
        _insert(store, conn, source, batch_id, physical, rows, row_numbers)
        appended += rows.num_rows
    return appended


def _insert(store: LeadStore, conn: sa.Connection, source: str, batch_id: str, physical: list[str],
            rows: pa.Table, row_numbers: pa.Array) -> None:
    arrays = [pa.array([batch_id] * rows.num_rows, pa.string()), row_numbers.cast(pa.int64())]
    arrays += [c.cast(pa.string()) for c in rows.columns]
    staged = pa.Table.from_arrays(arrays, names=["batch_id", "row_number", *physical])
    cols = ", ".join(_quoted(conn, c) for c in staged.column_names)
    target = _quoted(conn, table_name(source))
    if store.dialect == "duckdb":
        stage = f"raw_stage_{uuid.uuid4().hex[:12]}"
        driver = conn.connection.driver_connection
        driver.register(stage, staged)
        try:
            conn.exec_driver_sql(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage}")
        finally:
            driver.unregister(stage)
    else:
        copy_arrow(conn, f"COPY {target} ({cols}) FROM STDIN WITH (FORMAT csv)", staged)


def batch_relation(conn: sa.Connection, source: str, batch_id: str, columns: dict[str, str]) -> str:
    """SQL for one batch's rows: row_number and the batch's columns (physical names). `batch_id` is a hex id
    leadsync made, bound as a literal."""
    cols = ", ".join(_quoted(conn, p) for p in columns.values())
    literal = "'" + batch_id.replace("'", "''") + "'"
    return (f"(SELECT row_number{', ' + cols if cols else ''} FROM {_quoted(conn, table_name(source))} "
            f"WHERE batch_id = {literal})")


def batch_columns(conn: sa.Connection, source: str, names: list[str]) -> dict[str, str]:
    """The batch's header names → their physical columns (the names recorded in its ledger row)."""
    known = physical_columns(conn, source)
    return {n: known[n] for n in names if n in known}


def read_batch(store: LeadStore, conn: sa.Connection, source: str, batch_id: str, names: list[str],
               rows: int) -> Iterator[pa.RecordBatch]:
    """One batch's rows in record batches of about `rows` rows, in row order, columns physical."""
    columns = batch_columns(conn, source, names)
    sql = f"SELECT * FROM {batch_relation(conn, source, batch_id, columns)} AS b ORDER BY row_number"
    query = sa.select(sa.column("row_number", sa.BigInteger), *[sa.column(p, sa.String) for p in columns.values()])
    yield from store.read_sql_batches(conn, sql, query.selected_columns, rows)


def row_count(conn: sa.Connection, source: str) -> int:
    if not has_table(conn, source):
        return 0
    return conn.exec_driver_sql(f"SELECT count(*) FROM {_quoted(conn, table_name(source))}").scalar_one()
