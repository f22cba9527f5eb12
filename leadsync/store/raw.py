"""Raw rows as received, as columns: on DuckDB one typed table per source, `raw_<source>` (batch_id,
row_number, c0, c1, …); on Postgres each block of a batch as a compressed Arrow stream (`raw_blocks.py`).

Every value stays the text the source sent (nothing lost, nothing typed yet); each header name a source has
ever sent gets a physical column of its own (`raw_columns` says which), so a batch is read back as the columns
it arrived with. Rows are appended, never updated: what the intake has mapped is its own ledger
(`intake_batches`). Batches arrive whole and in order, so DuckDB's min-max zonemaps find one batch's rows
without an index. A Postgres store written before the blocks keeps its raw_<source> tables, read as before.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from leadsync.store import raw_blocks
from leadsync.store.engine import LeadStore
from leadsync.store.raw_blocks import quoted
from leadsync.store.tables import metadata

T = TypeVar("T")

raw_columns = sa.Table(
    "raw_columns",
    metadata,
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("name", sa.String, primary_key=True),  # the header name as received
    sa.Column("physical", sa.String, nullable=False),  # its physical column (raw_<source>, a block): c0, c1, …
)


def table_name(source: str) -> str:
    return f"raw_{source}"


def has_table(conn: sa.Connection, source: str) -> bool:
    return sa.inspect(conn).has_table(table_name(source))


def physical_columns(conn: sa.Connection, source: str) -> dict[str, str]:
    """Header name → physical column (of raw_<source>, of a block), for every name the source has sent."""
    rc = raw_columns
    return dict(conn.execute(sa.select(rc.c.name, rc.c.physical).where(rc.c.source == source)).all())


def _ensure_columns(store: LeadStore, conn: sa.Connection, source: str, names: list[str]) -> dict[str, str]:
    """The physical column of each of `names`, a new one for a name the source never sent. DuckDB: a column of
    raw_<source>. Postgres: the blocks carry their columns (raw_blocks); only the names are recorded."""
    in_table = store.dialect == "duckdb"
    table = quoted(conn, table_name(source))
    if in_table:
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {table} (batch_id VARCHAR NOT NULL, row_number BIGINT NOT NULL)")
    else:
        raw_blocks.ensure(conn, source)
    known = physical_columns(conn, source)
    for name in names:
        if name in known:
            continue
        physical = f"c{len(known)}"
        if in_table:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {quoted(conn, physical)} VARCHAR")
        conn.execute(sa.insert(raw_columns).values(source=source, name=name, physical=physical))
        known[name] = physical
    return known


def index_legacy_table(conn: sa.Connection, source: str) -> None:
    """Postgres: the source's raw table of an earlier leadsync, if any, gets the index its batches are read by
    (batch_id, row_number); without it each page of a batch scanned every row the source ever sent."""
    if not has_table(conn, source):
        return
    index = quoted(conn, f"ix_{table_name(source)}_batch_row")
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {index} ON {quoted(conn, table_name(source))} "
                         "(batch_id, row_number)")


def append(store: LeadStore, conn: sa.Connection, source: str, batch_id: str, rows: pa.Table,
           row_numbers: pa.Array) -> int:
    """Append one batch: `rows` has one string column per header name (as received), `row_numbers` the row of
    each in its file or page. Runs in the caller's transaction, with the batch's ledger row."""
    return append_blocks(store, conn, source, batch_id, list(rows.column_names), [(rows, row_numbers)])


def append_blocks(store: LeadStore, conn: sa.Connection, source: str, batch_id: str, names: list[str],
                  blocks: Iterable[tuple[pa.Table, pa.Array]]) -> int:
    """Append one batch arriving in blocks, each `(rows, row_numbers)` as for `append`, with the same columns
    `names`. Runs in the caller's transaction.

    `blocks` may be a stream (an iterator: a large file read block by block): it is then read a block or two
    ahead in a thread of its own, so reading the next block overlaps storing this one, and an exception while
    the blocks come (the file turns out bad halfway) is raised as it is, rolling back the blocks before it
    with the rest. On DuckDB a stream feeds one INSERT as an Arrow stream, which the engine writes out as it
    goes (one INSERT per block would keep the whole uncommitted batch in memory); blocks given as a list go
    in as one table. On Postgres, one compressed Arrow block per block (raw_blocks)."""
    store.hold(conn, f"raw:{source}")  # two pulls of one source must not both add the same new column
    streamed = not isinstance(blocks, Sequence)
    blocks = iter(blocks)
    first = next((block for block in blocks if block[0].num_rows), None)
    if first is None:
        return 0  # a batch without rows adds no table or column
    known = _ensure_columns(store, conn, source, names)
    physical = [known[n] for n in names]
    staged = (_staged(batch_id, physical, rows, numbers) for rows, numbers in itertools.chain([first], blocks)
              if rows.num_rows)
    target = quoted(conn, table_name(source))
    cols = ", ".join(quoted(conn, c) for c in ["batch_id", "row_number", *physical])
    with _ReadAhead(staged) if streamed else contextlib.nullcontext(staged) as tables:
        if store.dialect != "duckdb":
            return sum(raw_blocks.append(conn, source, batch_id, _nul_as_symbol(table.drop_columns(["batch_id"])))
                       for table in tables)
        if not streamed:
            table = pa.concat_tables(list(tables))
            _duckdb_insert(conn, target, cols, table)
            return table.num_rows
        return _duckdb_insert_stream(conn, target, cols, tables)


def _duckdb_insert(conn: sa.Connection, target: str, cols: str, data: pa.Table | pa.RecordBatchReader) -> None:
    stage = f"raw_stage_{uuid.uuid4().hex[:12]}"
    driver = conn.connection.driver_connection
    driver.register(stage, data)
    try:
        conn.exec_driver_sql(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage}")
    except Exception:
        # The transaction is aborted and refuses even to unregister; its rollback drops the view.
        with contextlib.suppress(Exception):
            driver.unregister(stage)
        raise
    driver.unregister(stage)


def _duckdb_insert_stream(conn: sa.Connection, target: str, cols: str, tables: Iterator[pa.Table]) -> int:
    """One INSERT reading `tables` as an Arrow stream; an exception raised by `tables` is raised as it is
    (DuckDB would report it as a failed read of the stream)."""
    first = next(tables)
    appended, failure = 0, []

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal appended
        try:
            for table in itertools.chain([first], tables):
                appended += table.num_rows
                yield from table.to_batches()
        except BaseException as exc:
            failure.append(exc)
            raise

    try:
        _duckdb_insert(conn, target, cols, pa.RecordBatchReader.from_batches(first.schema, batches()))
    except Exception:
        if failure:
            raise failure[0] from None
        raise
    return appended


class _ReadAhead:
    """Iterate `items` in a thread of its own, up to `depth` items ahead of the consumer: while the consumer
    stores one block, the next one is read and decoded. An exception in `items` reaches the consumer in its
    place. Leaving the `with` block stops the thread (closing `items`) and waits for it."""

    _END = object()

    def __init__(self, items: Iterator[T], depth: int = 2):
        self._items = items
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="leadsync-read-ahead", daemon=True)

    def __enter__(self) -> Iterator[T]:
        self._thread.start()
        return self._consume()

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)  # free a producer waiting to put

    def _put(self, entry: tuple[object, BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put((item, None)):
                    break
            else:
                self._put((self._END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put((self._END, exc))
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()  # in this thread, the only one that ran the generator

    def _consume(self) -> Iterator[T]:
        while True:
            item, exc = self._queue.get()
            if item is self._END:
                if exc is not None:
                    raise exc
                return
            yield item


# Postgres text cannot hold NUL: a raw row keeps it as the symbol for NUL (U+2400), which the intake treats
# as the control character it stands for (leadsync/intake/plan.py: stripped or quarantined).
NUL_SYMBOL = "\u2400"


def _nul_as_symbol(table: pa.Table) -> pa.Table:
    for i, column in enumerate(table.columns):
        if pa.types.is_string(column.type) and pc.any(pc.match_substring(column, "\x00")).as_py():
            table = table.set_column(i, table.field(i), pc.replace_substring(column, "\x00", NUL_SYMBOL))
    return table


def _staged(batch_id: str, physical: list[str], rows: pa.Table, row_numbers: pa.Array) -> pa.Table:
    arrays = [pa.repeat(pa.scalar(batch_id, pa.string()), rows.num_rows), row_numbers.cast(pa.int64())]
    arrays += [c.cast(pa.string()) for c in rows.columns]
    return pa.Table.from_arrays(arrays, names=["batch_id", "row_number", *physical])


def batch_relation(conn: sa.Connection, source: str, batch_id: str, columns: dict[str, str]) -> str:
    """SQL for one batch's rows: row_number and the batch's columns (physical names). `batch_id` is a hex id
    leadsync made, bound as a literal."""
    cols = ", ".join(quoted(conn, p) for p in columns.values())
    literal = "'" + batch_id.replace("'", "''") + "'"
    return (f"(SELECT row_number{', ' + cols if cols else ''} FROM {quoted(conn, table_name(source))} "
            f"WHERE batch_id = {literal})")


def batch_columns(conn: sa.Connection, source: str, names: list[str]) -> dict[str, str]:
    """The batch's header names → their physical columns (the names recorded in its ledger row)."""
    known = physical_columns(conn, source)
    return {n: known[n] for n in names if n in known}


def read_batch(store: LeadStore, conn: sa.Connection, source: str, batch_id: str, names: list[str],
               rows: int, between: tuple[int, int] | None = None) -> Iterator[pa.RecordBatch]:
    """One batch's rows (those numbered within `between`, both ends included, if given) in record batches of
    about `rows` rows, in row order, columns physical."""
    columns = batch_columns(conn, source, names)
    blocks = raw_blocks.spans(conn, source, batch_id) if store.dialect != "duckdb" else None
    if blocks is not None:
        yield from raw_blocks.read(conn, source, batch_id, blocks, list(columns.values()), rows, between)
        return
    if store.dialect == "duckdb":
        relation = _in_range(batch_relation(conn, source, batch_id, columns), between)
        sql = f"SELECT * FROM {relation} AS b ORDER BY row_number"
        yield from store.read_sql_batches(conn, sql, _selected(columns.values()), rows)
        return
    # Postgres, a raw table of an earlier leadsync: a slice per COPY, by row number, each read whole before it is
    # handed out (the caller writes on this connection between slices), so a batch of millions of rows is never
    # in memory at once. The table has no column for a name first sent after the blocks came: read as null.
    if not has_table(conn, source):
        return  # nothing stored (a batch without rows makes no table)
    held = {c["name"] for c in sa.inspect(conn).get_columns(table_name(source))}
    relation = _in_range(batch_relation(conn, source, batch_id, {n: p for n, p in columns.items() if p in held}),
                         between)
    stored = [p for p in columns.values() if p in held]
    after = None
    while True:
        more = "" if after is None else f" WHERE row_number > {int(after)}"
        sql = f"SELECT * FROM {relation} AS b{more} ORDER BY row_number LIMIT {int(rows)}"
        got = list(store.read_sql_batches(conn, sql, _selected(stored), rows))
        yield from (_with_nulls(b, list(columns.values())) for b in got)
        if sum(b.num_rows for b in got) < rows:
            return
        after = got[-1].column(0)[-1].as_py()


def _in_range(relation: str, between: tuple[int, int] | None) -> str:
    if between is None:
        return relation
    return f"(SELECT * FROM {relation} AS r WHERE row_number BETWEEN {int(between[0])} AND {int(between[1])})"


def _selected(physical) -> list:
    return [sa.column("row_number", sa.BigInteger), *[sa.column(p, sa.String) for p in physical]]


def _with_nulls(batch: pa.RecordBatch, physical: list[str]) -> pa.RecordBatch:
    """`batch` (row_number and some of `physical`) with every one of `physical`, in order, null where absent."""
    if batch.num_columns == len(physical) + 1:
        return batch
    arrays = [batch.column(0)] + [batch.column(batch.schema.get_field_index(p)) if p in batch.schema.names
                                  else pa.nulls(batch.num_rows, pa.string()) for p in physical]
    return pa.RecordBatch.from_arrays(arrays, names=["row_number", *physical])


def row_range(store: LeadStore, conn: sa.Connection, source: str, batch_id: str,
              after: int | None = None) -> tuple[int | None, int | None]:
    """Least and greatest row numbers of the batch's rows numbered past `after` (None, None when there are
    none); a range covering those rows, whose ends need not be rows (row numbers may have gaps)."""
    blocks = raw_blocks.spans(conn, source, batch_id) if store.dialect != "duckdb" else None
    if blocks is not None:
        return raw_blocks.row_range(blocks, after)
    if not has_table(conn, source):
        return None, None
    relation = batch_relation(conn, source, batch_id, {})
    where = "" if after is None else f" WHERE row_number > {int(after)}"
    low, high = conn.exec_driver_sql(f"SELECT min(row_number), max(row_number) FROM {relation} AS b{where}").one()
    return low, high


def row_count(conn: sa.Connection, source: str) -> int:
    """Raw rows the source has stored (all batches)."""
    n = 0
    if conn.dialect.name != "duckdb":
        n += raw_blocks.row_count(conn, source)
    if has_table(conn, source):
        n += conn.exec_driver_sql(f"SELECT count(*) FROM {quoted(conn, table_name(source))}").scalar_one()
    return n


def source_rows(store: LeadStore, conn: sa.Connection, source: str) -> pa.Table:
    """Every raw row the source has stored, batch by batch in the order received (per the file ledger; batches
    it does not know last, by id) and in row order within a batch: batch_id, row_number and a column per header name the source ever sent (named as received; null
    where a batch did not have it). For inspection and tests: it holds the whole source in memory."""
    from leadsync.store.tables import source_files as f

    names = physical_columns(conn, source)
    held = set()
    for table, exists in ((raw_blocks.table_name(source), conn.dialect.name != "duckdb" and raw_blocks.exists(
            conn, source)), (table_name(source), has_table(conn, source))):
        if exists:
            held.update(conn.exec_driver_sql(f"SELECT DISTINCT batch_id FROM {quoted(conn, table)}").scalars())
    ledger = {batch_id: (at, columns) for batch_id, at, columns in conn.execute(
        sa.select(f.c.batch_id, f.c.received_at, f.c.columns).where(f.c.source == source)).all()}
    batches = sorted(held, key=lambda b: (b not in ledger, ledger.get(b, (0,))[0] or 0, b))
    parts = []
    for batch_id in batches:
        # the batch's own header names where the ledger has them (a raw table of an earlier leadsync has no
        # column for a name first sent after it), else every name
        own = json.loads(ledger[batch_id][1]) if ledger.get(batch_id, (None, None))[1] else list(names)
        found = list(read_batch(store, conn, source, batch_id, own, 100_000))
        if not found:
            continue
        table = pa.Table.from_batches(found)
        arrays = [pa.repeat(pa.scalar(batch_id, pa.string()), table.num_rows), table.column("row_number")]
        arrays += [table.column(p) if p in table.column_names else pa.nulls(table.num_rows, pa.string())
                   for p in names.values()]
        parts.append(pa.Table.from_arrays(arrays, names=["batch_id", "row_number", *names]))
    if not parts:
        return pa.table({"batch_id": pa.array([], pa.string()), "row_number": pa.array([], pa.int64()),
                         **{n: pa.array([], pa.string()) for n in names}})
    return pa.concat_tables(parts)
