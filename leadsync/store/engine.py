"""Opening the store and moving DataFrames in and out of it fast."""

from __future__ import annotations

import os
import re
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import PrimaryKeyConstraint

from leadsync.store import faults, tables
from leadsync.store.tables import metadata
from leadsync.store.warm_file import WarmFile, warm_file

Conflict = Literal["error", "nothing", "update"]

# Rows per Arrow record batch when a stage streams a large result.
BATCH_ROWS = 250_000


@compiles(PrimaryKeyConstraint, "duckdb")
def _no_art_on_append_only(constraint, compiler, **kw):
    """DuckDB builds an ART index for every PRIMARY KEY; on the append-only tables it would cost more to keep
    up on bulk loads than it saves (their keys are kept by insert_frame's set-based inserts)."""
    if constraint.table is not None and constraint.table.name in tables.APPEND_ONLY_TABLES:
        return None
    return compiler.visit_primary_key_constraint(constraint, **kw)


def _utc_session(dbapi_connection, _record) -> None:
    """Naive times are UTC (see leadsync/intake/apply.py `utc`)."""
    from leadsync.intake.apply import utc

    utc(dbapi_connection)


def duckdb_settings() -> dict[str, str]:
    """Connection settings of the embedded store: a memory cap (DuckDB would take 80% of RAM for its buffers;
    $LEADSYNC_DUCKDB_MEMORY_LIMIT changes it), no insertion order kept where a query does not ask for one
    (lets large inserts and exports stream), and a checkpoint once the write-ahead log holds 256 MB rather
    than DuckDB's 16 MB: stages commit in units (an API pull's 100k records, an intake slice), and a
    checkpoint after each took a third of an API pull's time. The log is still made durable at every commit;
    the last connection's close checkpoints whatever is left."""
    return {"memory_limit": os.environ.get("LEADSYNC_DUCKDB_MEMORY_LIMIT", "1GB"),
            "preserve_insertion_order": "false", "checkpoint_threshold": "256MB"}


def _lock_key(section: str) -> int:
    """The advisory-lock key of a critical section: the same name gives the same key in every process."""
    return zlib.crc32(f"leadsync:{section}".encode())


def hold_section(conn: sa.Connection, section: str, shared: bool = False) -> None:
    """LeadStore.hold for code that has the transaction's connection only."""
    if conn.dialect.name == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.execute(sa.text(f"SELECT {function}(:key)"), {"key": _lock_key(section)})


def _int4(key: int) -> int:
    """A _lock_key as Postgres's int4 (the two-key advisory functions take a pair of them)."""
    return key - (1 << 32) if key >= 1 << 31 else key


def stored_version(conn: sa.Connection) -> str | None:
    """The schema version recorded in the store, or None (a new store, or one from before versions)."""
    if not sa.inspect(conn).has_table(tables.store_meta.name):
        return None
    meta = tables.store_meta
    return conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()


class StoreSchemaError(RuntimeError):
    """The store was created by a leadsync with differently shaped tables."""


def default_store_url() -> str:
    """$LEADSYNC_STORE_URL, else a DuckDB file under $DAGSTER_HOME (or the repo's dagster_home/)."""
    if url := os.environ.get("LEADSYNC_STORE_URL"):
        return url
    home = os.environ.get("DAGSTER_HOME") or str(Path(__file__).resolve().parents[2] / "dagster_home")
    return f"duckdb:///{Path(home).resolve() / 'leadsync.duckdb'}"


class LeadStore:
    """One store, reached through SQLAlchemy.

    A DuckDB file admits one writer process at a time: every transaction holds a file lock, and the file is
    closed soon after the process's last transaction (warm_file.py: it lingers a moment for the next one), so a
    Dagster run, the CLI and the UI never collide.
    """

    lock_wait: float | None = None  # seconds a store fault worth waiting for is waited for (None: faults.wait_seconds())

    def __init__(self, url: str | None = None, create: bool = True):
        """`create=False` opens the store as it is (no tables created, no version checked): for
        `leadsync store migrate`."""
        self.url = url or default_store_url()
        parsed = sa.engine.make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "duckdb":
            path = Path(parsed.database or "")
            path.parent.mkdir(parents=True, exist_ok=True)
            self._settings = duckdb_settings()
            self._file: Path | None = Path(os.path.abspath(path))
            self.engine = sa.create_engine(self.url, poolclass=NullPool, connect_args={"config": self._settings})
            sa.event.listen(self.engine, "connect", _utc_session)
        else:
            if parsed.drivername == "postgresql":
                self.url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
            self._file = None
            self.engine = sa.create_engine(self.url, pool_pre_ping=True)
        if not create:
            return
        # not lingering: a store just made is closed at once, its tables checkpointed into the file
        with self.begin(linger=False) as conn:
            # Workers starting together would race on CREATE TABLE; the first creates, the others wait.
            self.hold(conn, "schema")
            if stored_version(conn) not in (None, str(tables.SCHEMA_VERSION)):
                self._check_schema(conn)  # refuses before anything is created in a store of another version
            metadata.create_all(conn)
            self._check_schema(conn)
            if self.dialect == "postgresql":
                _reconcile_postgres_indexes(conn)

    def _check_schema(self, conn: sa.Connection) -> None:
        meta = tables.store_meta
        found = next(iter(conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalars().all()), None)
        if found is None:
            in_use = conn.execute(sa.select(sa.func.count()).select_from(tables.source_files)).scalar_one()
            if not in_use:
                conn.execute(sa.insert(meta).values(key="schema_version", value=str(tables.SCHEMA_VERSION)))
                return
            found = "1"
        if found != str(tables.SCHEMA_VERSION):
            raise StoreSchemaError(
                f"the lead store at {sa.engine.make_url(self.url).render_as_string()} was written with schema "
                f"version {found}; this leadsync needs version {tables.SCHEMA_VERSION}. "
                + ("Migrate it in place with `leadsync store migrate` (back it up first), or move it aside "
                   if found in tables.MIGRATABLE_VERSIONS else "Move that store aside ")
                + "(for the demo store: delete dagster_home/leadsync.duckdb) or set LEADSYNC_STORE_URL to a new one.")

    @contextmanager
    def begin(self, linger: bool = True) -> Iterator[sa.Connection]:
        """A transaction. A file locked by another process or a server refusing connections is waited for
        (bounded, with back-off); those and a full disk raise a StoreFault naming the cause and the fix (faults.py).
        DuckDB: the file stays open a moment after it (warm_file.py) unless `linger` is False."""
        with faults.translated(self.url), self.turn(linger), faults.opened(self.engine.begin, self.lock_wait) as conn:
            self.keep_open(conn)
            yield conn

    @property
    def memory_cap(self) -> str | None:
        """DuckDB: the store's memory cap ($LEADSYNC_DUCKDB_MEMORY_LIMIT or 1GB); a stage may lower it for a while,
        never raise it above this. None for other engines."""
        return self._settings["memory_limit"] if self.dialect == "duckdb" else None

    def memory_limit(self, conn: sa.Connection, size: str) -> AbstractContextManager[None]:
        """DuckDB: the instance's memory cap is `size` for the block, but never above the store's own cap, then
        what it was (a stage's session may have lowered it: see `session`); nothing on other engines."""
        if self.dialect != "duckdb":
            return nullcontext()
        return _set_for_block(conn, "memory_limit", f"'{smaller_size(size, self.memory_cap)}'")

    @property
    def _warm(self) -> WarmFile | None:
        """The process's turn-taker at the DuckDB file (looked up each time: a forked child gets its own)."""
        return warm_file(self._file) if self._file is not None else None

    def turn(self, linger: bool = True):
        """DuckDB: this process's turn at the file (the file lock held); other engines: nothing to take."""
        warm = self._warm
        return warm.turn(self._settings, linger) if warm is not None else nullcontext()

    def keep_open(self, conn: sa.Connection) -> None:
        """DuckDB, in a turn that lingers: keep `conn`'s database instance open after the turn."""
        warm = self._warm
        if warm is not None:
            warm.keep(self._open_anchor, self._settings)

    def _open_anchor(self):
        """Another connection to the open instance, made as the engine makes its own (DuckDB joins an open
        instance only with the very same settings, and duckdb_engine adds some) but outside its pool: no
        "connect" event, which tests count. A cursor or duplicate() of a pooled connection would not do: it is
        closed with it."""
        dialect = self.engine.dialect
        args, kwargs = dialect.create_connect_args(self.engine.url)
        return dialect.connect(*args, **{**kwargs, "config": dict(self._settings)})

    @contextmanager
    def session(self, duckdb_threads: int | None = None,
                duckdb_memory_limit: str | None = None) -> Iterator[StoreSession]:
        """One connection kept across several transactions (a stage storing unit after unit), each of them
        `session.begin()`. DuckDB then opens its file once, not per transaction (opening it costs as much as
        storing a small unit), and checkpoints when its WAL fills rather than at every close. The file lock
        is held while the connection is open; `session.release()` closes it (a stage waiting on its source
        lets other processes in), the next `begin()` opens it again. `duckdb_memory_limit` replaces the store's
        memory cap while the session's connection is open: DuckDB keeps every block the connection read or wrote
        cached up to its cap, so a stage walking a whole large store in one session (routing) grows with the store
        unless the cap is below what it touches. `duckdb_threads` caps DuckDB's threads
        while the session's connection is open (a stage whose other threads keep the cores busy)."""
        duckdb = self.dialect == "duckdb"
        session = StoreSession(self, duckdb_threads if duckdb else None, duckdb_memory_limit if duckdb else None)
        try:
            yield session
        except BaseException:
            # raised between two transactions (an interrupt, say): the connection may hold what a session made
            # (a temporary table, a session-level lock such as routing's recording in flight) and must not go
            # back to the pool with it
            session.release(discard=True)
            raise
        session.release()

    def dispose(self) -> None:
        """Close what is open (a lingering DuckDB file too, unless a transaction is under way)."""
        self.engine.dispose()
        warm = self._warm
        if warm is not None:
            warm.cool()

    @contextmanager
    def exclusive(self, section: str) -> Iterator[None]:
        """Hold a critical section across several transactions (e.g. one partner's CRM work: HTTP calls
        between store writes). Postgres: a session-level advisory lock on a connection of its own, freed on
        exit, on an exception (unlocked, then the connection discarded: on an interrupt, only discarded, and the
        server frees the lock as it ends the session) or when the process dies. DuckDB: nothing, since the
        embedded default runs one writer step at a time (the lead_store pool)."""
        if self.dialect != "postgresql":
            yield
            return
        key = _lock_key(section)
        with self.engine.connect() as conn:
            try:
                conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
                conn.commit()
                yield
            except BaseException as exc:
                # the lock may be held (an interrupt between taking it and the block): this connection must not go
                # back to the pool with it, where every later holder of the section would wait for ever. The block
                # failed (an error, not an interrupt): the lock is given back at once, since a discarded
                # connection's server session ends (and frees it) only some moments after the socket closes
                if isinstance(exc, Exception) and not conn.closed:
                    with suppress(Exception):
                        conn.rollback()
                        conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                        conn.commit()
                if not conn.closed:
                    conn.invalidate()
                raise
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()

    def hold(self, conn: sa.Connection, section: str, shared: bool = False) -> None:
        """Enter a critical section shared by every process and machine using this store, held until
        `conn`'s transaction ends (commit, rollback, or the process dying: the server frees it). `shared`: with
        any number of other shared holders, while no one holds it alone (a holder alone waits for them all).

        Postgres: a transaction-level advisory lock (re-entrant within the transaction). DuckDB: nothing to
        do, since every transaction already holds the file lock (one writer at a time)."""
        hold_section(conn, section, shared)

    def hold_shared(self, conn: sa.Connection, group: str, name: str) -> None:
        """Hold the mark `name` of `group`, shared, for the rest of `conn`'s session: until release_shared on the
        same connection or the session ending (a discarded connection, a dead process). wait_for_shared(group)
        waits for it. Postgres: a session-level shared advisory lock (key pair: group, name). DuckDB: nothing,
        since one writer works at a time."""
        if self.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_lock_shared(:g, :n)"),
                         {"g": _int4(_lock_key(group)), "n": _int4(_lock_key(name))})

    def release_shared(self, conn: sa.Connection, group: str, name: str) -> None:
        if self.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_unlock_shared(:g, :n)"),
                         {"g": _int4(_lock_key(group)), "n": _int4(_lock_key(name))})

    def drawn(self, conn: sa.Connection, sequence: sa.Sequence) -> int | None:
        """Postgres: the last number `sequence` has handed out to anyone (0 before the first), committed or not:
        every number drawn so far is at most this, every one drawn later above it (the sequence keeps no
        per-session cache). None on other engines."""
        if self.dialect != "postgresql":
            return None
        value, called = conn.exec_driver_sql(f"SELECT last_value, is_called FROM {sequence.name}").one()
        return int(value) if called else int(value) - 1

    def wait_for_holders(self, conn: sa.Connection, section: str, poll: float = 0.02) -> None:
        """Postgres: wait until the transactions that hold `section` now (taken with `hold`, shared or not) have
        ended; those taking it from now on are not waited for, nor kept waiting: nothing is queued on the lock, so
        a holder that keeps taking it anew never meets this wait (as it would behind a lock asked for alone).
        Polls pg_locks. DuckDB: nothing, one writer works at a time."""
        if self.dialect != "postgresql":
            return
        key = _lock_key(section)
        holders = ("SELECT virtualtransaction FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
                   "AND classid = (:high)::bigint::oid AND objid = (:low)::bigint::oid AND granted "
                   "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                   "AND pid <> pg_backend_pid()")
        params = {"high": key >> 32, "low": key & 0xFFFFFFFF}
        waiting = set(conn.execute(sa.text(holders), params).scalars())
        while waiting:
            time.sleep(poll)
            waiting &= set(conn.execute(sa.text(holders), params).scalars())

    def wait_for_shared(self, conn: sa.Connection, group: str, but: str | None = None) -> None:
        """Wait until the marks of `group` other sessions hold (those named `but` aside) are released, each
        taken exclusively for the rest of `conn`'s transaction. Run where no new mark can be taken meanwhile (the
        caller's critical section), so the wait ends."""
        if self.dialect != "postgresql":
            return
        held = conn.execute(sa.text(
            "SELECT DISTINCT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted "
            "AND classid = (:g)::bigint::oid "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
            {"g": _lock_key(group)}).scalars().all()
        skip = None if but is None else _lock_key(but)  # pg_locks shows the keys unsigned, as _lock_key makes them
        for name in held:
            if name != skip:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:g, :n)"),
                             {"g": _int4(_lock_key(group)), "n": _int4(int(name))})

    # ------------------------------------------------------------------------------------ bulk I/O

    def keyless(self, table: sa.Table) -> bool:
        """True where the table has no PRIMARY KEY in the engine (DuckDB's append-only tables)."""
        return self.dialect == "duckdb" and table.name in tables.APPEND_ONLY_TABLES

    def insert_frame(
        self,
        conn: sa.Connection,
        table: sa.Table,
        frame: pd.DataFrame | pa.Table,
        conflict: Conflict = "error",
        update: Sequence[str] = (),
    ) -> int:
        """Bulk insert `frame` (a DataFrame or an Arrow table, columns named as the table's) set-based.

        conflict='nothing' skips rows whose key exists (a retried insert adds nothing);
        conflict='update' overwrites the `update` columns of existing rows. Keys are the table's primary key
        columns; on a keyless table (see `keyless`) the same rules are kept by an anti-join and an
        UPDATE … FROM, touching only the rows that conflict."""
        rows = frame.num_rows if isinstance(frame, pa.Table) else len(frame)
        if rows == 0:
            return 0
        cols = list(frame.column_names if isinstance(frame, pa.Table) else frame.columns)
        stage = f"stage_{uuid.uuid4().hex[:12]}"
        if self.dialect == "duckdb":
            raw = conn.connection.driver_connection
            raw.register(stage, frame)
            try:
                if self.keyless(table):
                    self._merge_keyless(conn, table, stage, cols, conflict, update)
                else:
                    self._insert_from_stage(conn, table, stage, cols, conflict, update)
            finally:
                raw.unregister(stage)
        elif self.dialect == "postgresql" and conflict == "error":
            self.append(conn, table, frame if isinstance(frame, pa.Table) else
                        pa.Table.from_pandas(frame, preserve_index=False), cols)
        elif self.dialect == "postgresql":
            self._copy_into_temp(conn, table, stage, frame)
            self._insert_from_stage(conn, table, stage, cols, conflict, update)
        else:
            if isinstance(frame, pa.Table):
                frame = frame.to_pandas()
            stmt = sa.insert(table)
            conn.execute(stmt, frame.astype(object).where(frame.notna(), None).to_dict("records"))
        return rows

    @staticmethod
    def _insert_from_stage(conn, table, relation, cols, conflict, update) -> None:
        """`relation`: SQL after FROM (a staged table's name, or a parenthesised SELECT leadsync wrote)."""
        source = sa.select(*[sa.column(c) for c in cols]).select_from(sa.text(f"{relation} AS s"))
        stmt = pg_insert(table).from_select(cols, source)
        pk = [c.name for c in table.primary_key.columns]
        if conflict == "nothing":
            stmt = stmt.on_conflict_do_nothing(index_elements=pk)
        elif conflict == "update":
            stmt = stmt.on_conflict_do_update(index_elements=pk, set_={c: stmt.excluded[c] for c in update})
        conn.execute(stmt)

    @staticmethod
    def _merge_keyless(conn, table, relation, cols, conflict, update) -> None:
        prep = conn.dialect.identifier_preparer
        target, staged = prep.format_table(table), relation
        keys = [c.name for c in table.primary_key.columns]
        same = " AND ".join(f"t.{prep.quote(k)} = s.{prep.quote(k)}" for k in keys)
        if conflict == "update" and update:
            sets = ", ".join(f"{prep.quote(c)} = s.{prep.quote(c)}" for c in update)
            conn.exec_driver_sql(f"UPDATE {target} AS t SET {sets} FROM {staged} AS s WHERE {same}")
        col_list = ", ".join(prep.quote(c) for c in cols)
        select = f"SELECT {', '.join('s.' + prep.quote(c) for c in cols)} FROM {staged} AS s"
        if conflict != "error":
            select += f" WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {same})"
        conn.exec_driver_sql(f"INSERT INTO {target} ({col_list}) {select}")

    @staticmethod
    def _copy_into_temp(conn: sa.Connection, table: sa.Table, stage: str, frame: pd.DataFrame | pa.Table) -> None:
        prep = conn.dialect.identifier_preparer
        names = list(frame.column_names if isinstance(frame, pa.Table) else frame.columns)
        col_list = ", ".join(prep.quote(c) for c in names)
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {prep.quote(stage)} ON COMMIT DROP AS "
            f"SELECT {col_list} FROM {prep.format_table(table)} WITH NO DATA"
        )
        copy_arrow(conn, prep.quote(stage), names, frame)

    def read_frame(self, conn: sa.Connection, query: sa.Select) -> pd.DataFrame:
        """Run a query into a DataFrame. On DuckDB the result comes out columnar (no per-row Python);
        values are rendered by SQLAlchemy's literal binding, never by string formatting."""
        if self.dialect == "duckdb":
            frame = conn.connection.driver_connection.sql(self.render(conn, query)).df()
        else:
            result = conn.execute(query)
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        # One timestamp type whatever the engine: DuckDB says Etc/UTC in microseconds, psycopg gives objects.
        for col in frame.columns:
            if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
                frame[col] = frame[col].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
        return frame

    @staticmethod
    def render(conn: sa.Connection, query: sa.Select) -> str:
        """SQL text of a SQLAlchemy query with its values bound as literals by SQLAlchemy (never by string
        formatting), for the engines' own bulk paths (DuckDB relations, Postgres COPY)."""
        return str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))

    def read_batches(self, conn: sa.Connection, query: sa.Select, rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Stream a query's result as Arrow record batches of about `rows` rows: memory stays flat however
        many rows match. DuckDB hands out its own vectors; Postgres streams COPY … TO STDOUT as CSV."""
        if self.dialect not in ("duckdb", "postgresql"):
            frame = self.read_frame(conn, query)
            for start in range(0, len(frame), rows):
                yield pa.RecordBatch.from_pandas(frame.iloc[start:start + rows], preserve_index=False)
            return
        yield from self.read_sql_batches(conn, self.render(conn, query), query.selected_columns, rows)

    def read_sql_batches(self, conn: sa.Connection, sql: str, columns, rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """`read_batches` for SQL text leadsync generated (`columns` name and type the result's columns)."""
        if self.dialect == "duckdb":
            yield from conn.connection.driver_connection.sql(sql).to_arrow_reader(rows)
            return
        yield from _copy_out_batches(conn, sql, list(columns), rows)

    def append(self, conn: sa.Connection, table: sa.Table, data: pa.Table | pa.RecordBatchReader,
               cols: Sequence[str]) -> None:
        """Insert rows that are new by construction (a key already there is an error): on DuckDB the data is
        read where it lies (a stream stays one); on Postgres it is COPYed into the table itself, with no
        staging table to fill and read back (that took half of each routing slice's time)."""
        if self.dialect == "duckdb":
            data, cols = _numbered(conn, table, data, cols)
            with insertion_order_kept(conn), self.staged(conn, data) as stage:
                self.insert_from(conn, table, stage, cols)
            return
        if self.dialect != "postgresql":
            with self.staged(conn, data) as stage:
                self.insert_from(conn, table, stage, cols)
            return
        if isinstance(data, pa.RecordBatchReader):
            data = data.read_all()
        copy_arrow(conn, conn.dialect.identifier_preparer.format_table(table), list(cols), data)

    @contextmanager
    def staged(self, conn: sa.Connection, frame: pa.Table | pd.DataFrame, reads: int = 1) -> Iterator[str]:
        """`frame` as a relation the engine can join (its name is yielded), for set-based work against the
        store. DuckDB reads the frame where it lies, or, when the caller will read it `reads` > 1 times, copies
        it once into a temporary table (a DataFrame of Python strings would be converted at every read);
        Postgres gets a temporary table filled by COPY."""
        stage = f"stage_{uuid.uuid4().hex[:12]}"
        if self.dialect == "duckdb":
            driver = conn.connection.driver_connection
            driver.register(f"{stage}_in", frame)
            try:
                if reads > 1:
                    driver.execute(f"CREATE TEMP TABLE {stage} AS SELECT * FROM {stage}_in")
                    driver.unregister(f"{stage}_in")
                    yield stage
                else:
                    yield f"{stage}_in"
            finally:
                if reads > 1:
                    driver.execute(f"DROP TABLE IF EXISTS {stage}")
                else:
                    driver.unregister(f"{stage}_in")
            return
        if isinstance(frame, pd.DataFrame):
            frame = pa.Table.from_pandas(frame, preserve_index=False)
        prep = conn.dialect.identifier_preparer
        cols = ", ".join(f"{prep.quote(f.name)} {_pg_type(f.type)}" for f in frame.schema)
        conn.exec_driver_sql(f"CREATE TEMP TABLE {stage} ({cols}) ON COMMIT DROP")
        copy_arrow(conn, stage, frame.column_names, frame)
        yield stage
        # dropped as soon as it is done with, not at the commit: a transaction staging many frames (a migration's
        # chunks) would keep them all
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}")

    def insert_from(self, conn: sa.Connection, table: sa.Table, relation: str, cols: Sequence[str],
                    conflict: Conflict = "error", update: Sequence[str] = ()) -> None:
        """insert_frame's rules for rows already in the engine: `relation` is a temp table's name or a
        parenthesised SELECT (SQL leadsync wrote, values bound as literals) with columns named as `cols`."""
        if self.keyless(table):
            self._merge_keyless(conn, table, relation, list(cols), conflict, update)
        else:
            self._insert_from_stage(conn, table, relation, list(cols), conflict, update)


class StoreSession:
    """A connection of `store` held across transactions (see LeadStore.session); opened at the first
    `begin()` and after each `release()`."""

    def __init__(self, store: LeadStore, duckdb_threads: int | None = None, duckdb_memory_limit: str | None = None):
        self.store, self._threads, self._memory = store, duckdb_threads, duckdb_memory_limit
        self._held: ExitStack | None = None
        self._conn: sa.Connection | None = None

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A transaction on the session's connection: committed when the block ends, rolled back (and the
        connection discarded, so the next transaction starts afresh on a new one: nothing it made, such as a
        temporary table, lingers on a pooled connection) on an exception. Store faults are waited for and named
        as `LeadStore.begin` does (faults.py)."""
        with faults.translated(self.store.url):
            if self._conn is None:
                held = ExitStack()
                try:
                    # not lingering: release() lets other processes in at once, and the instance its SET threads /
                    # memory_limit changed is closed with it
                    held.enter_context(self.store.turn(linger=False))
                    self._conn = held.enter_context(faults.opened(self.store.engine.connect, self.store.lock_wait))
                    if self._threads:
                        self._conn.exec_driver_sql(f"SET threads = {int(self._threads)}")
                    if self._memory:
                        self._conn.exec_driver_sql(
                            f"SET memory_limit = '{smaller_size(self._memory, self.store.memory_cap)}'")
                    if self._threads or self._memory:
                        self._conn.commit()
                except BaseException:
                    held.close()
                    self._conn = None
                    raise
                self._held = held
            try:
                with self._conn.begin():
                    yield self._conn
            except BaseException:
                self.release(discard=True)
                raise

    def unsaved_bytes(self) -> int:
        """DuckDB: the bytes of the rows committed on this connection and not yet checkpointed into the file,
        which DuckDB holds in memory, uncompressed, until a checkpoint (closing the connection checkpoints);
        0 on Postgres or while the session is closed."""
        if self._conn is None or self.store.dialect != "duckdb":
            return 0
        driver = self._conn.connection.driver_connection  # not through SQLAlchemy: it would open a transaction
        return int(driver.sql("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
                              "WHERE tag = 'IN_MEMORY_TABLE'").fetchall()[0][0])

    def release(self, discard: bool = False) -> None:
        """Close the connection (and free the file lock) until the next `begin()`; `discard`: the connection is
        not returned to the pool (the server ends its session)."""
        held, conn, self._held, self._conn = self._held, self._conn, None, None
        if discard and conn is not None and not conn.closed:
            conn.invalidate()
        if held is not None:
            held.close()


def _numbered(conn: sa.Connection, table: sa.Table, data: pa.Table | pa.RecordBatchReader,
              cols: Sequence[str]) -> tuple[pa.Table | pa.RecordBatchReader, list[str]]:
    """DuckDB: rows for a table with a column its sequence numbers (the outbox's seq), numbered here in their
    order, from that sequence. Evaluated by the INSERT, the nextval default holds the whole append to one thread
    (a routing slice's 245,760 outbox events: 0.9 s on one core, 0.5 s on two numbered here); the values are
    the sequence's own all the same (drawn by one statement, sorted: other writers' draws interleave, never
    repeat)."""
    numbered = [c for c in table.columns if isinstance(c.default, sa.Sequence) and c.name not in cols]
    if not numbered:
        return data, list(cols)
    rows = data.read_all() if isinstance(data, pa.RecordBatchReader) else data
    driver = conn.connection.driver_connection
    for column in numbered:
        drawn = driver.sql(f"SELECT nextval('{column.default.name}') AS n FROM range({int(rows.num_rows)})"
                           ).fetchnumpy()["n"]
        drawn.sort()
        rows = rows.append_column(column.name, pa.array(drawn, pa.int64()))
    reader = pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches())
    return reader, [*cols, *(c.name for c in numbered)]


@contextmanager
def _set_for_block(conn: sa.Connection, name: str, value: str) -> Iterator[None]:
    """DuckDB: setting `name` is `value` (SQL) for the block, then what the connection had. A RESET would put
    DuckDB's default in its place, not the store's (duckdb_settings) or a session's."""
    before = conn.exec_driver_sql(f"SELECT current_setting('{name}')").scalar_one()
    conn.exec_driver_sql(f"SET {name} = {value}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"SET {name} = {_sql_value(before)}")


def _sql_value(value: object) -> str:
    """A setting's value as current_setting gives it, back as SQL: booleans bare, memory sizes checked, quoted."""
    return ("true" if value else "false") if isinstance(value, bool) else f"'{_size(str(value))}'"


def insertion_order_kept(conn: sa.Connection):
    """DuckDB: statements in the block keep their rows' order (an append stores rows as given, a CREATE … AS
    SELECT … ORDER BY or a COPY writes them as ordered); the store opens with it off (duckdb_settings)."""
    return _set_for_block(conn, "preserve_insertion_order", "true")


def smaller_size(size: str, at_most: str | None) -> str:
    """The smaller of two DuckDB memory sizes (`size` when `at_most` is None)."""
    if at_most is None or _bytes(size) <= _bytes(at_most):
        return _size(size)
    return _size(at_most)


def _bytes(text: str) -> float:
    """A memory size in bytes; a percentage (DuckDB takes `80%`) of the machine's memory."""
    number, prefix, binary = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(?:([KMGT])(i?)B|%)", _size(text), re.IGNORECASE).groups()
    if prefix is None:
        return float(number) / 100 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return float(number) * (1024 if binary else 1000) ** ("KMGT".index(prefix.upper()) + 1)


def _size(text: str) -> str:
    """A DuckDB memory size such as `256MB`, refused unless it is one (it goes into a SET statement)."""
    if not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B|%)", text.strip(), re.IGNORECASE):
        raise ValueError(f"{text!r} is not a memory size like 256MB or 1GB")
    return text.strip()


def _reconcile_postgres_indexes(conn: sa.Connection) -> None:
    """A Postgres store made by an earlier leadsync gets today's secondary indexes (tables.POSTGRES_INDEXES) and
    loses the retired ones. Looked up first: CREATE INDEX IF NOT EXISTS and DROP INDEX IF EXISTS lock their table
    even when there is nothing to do, and every process opens the store."""
    present = set(conn.exec_driver_sql(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()").scalars())
    for name in tables.RETIRED_POSTGRES_INDEXES:
        if name in present:
            conn.exec_driver_sql(f"DROP INDEX {name}")
    for table, names in tables.POSTGRES_INDEXES.items():
        for name in names:
            if name not in present:
                conn.exec_driver_sql(tables.postgres_index_sql(table, name))


def copy_arrow(conn: sa.Connection, target: str, columns: Sequence[str], frame: pd.DataFrame | pa.Table) -> None:
    """COPY `frame` into `columns` of `target` (a quoted relation name) in Postgres's binary format, encoded from
    Arrow by pgpq, in slices: no whole-table copy of the wire bytes in memory. Each column is first cast to its
    target column's type (the binary format carries no text for the server to convert). The server reads binary
    rows at about twice the rate of CSV ones: a routing slice's 245,760 outbox events took 0.64 s against 1.36 s
    (the CSV parser is the cost, most of all for long text fields)."""
    import pgpq

    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    table = _as_columns(table, _column_types(conn, target, columns), target)
    encoder = pgpq.ArrowToPostgresBinaryEncoder(table.schema)
    prep = conn.dialect.identifier_preparer
    names = ", ".join(prep.quote(c) for c in columns)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {target} ({names}) FROM STDIN WITH (FORMAT binary)") as copy:
        copy.write(encoder.write_header())
        for batch in table.to_batches(max_chunksize=50_000):
            copy.write(encoder.write_batch(batch))
        copy.write(encoder.finish())


# The Arrow type whose binary encoding each Postgres column type reads (the types the store's tables use).
ARROW_FOR_PG = {
    "text": pa.string(), "character varying": pa.string(), "smallint": pa.int16(), "integer": pa.int32(),
    "bigint": pa.int64(), "boolean": pa.bool_(), "real": pa.float32(), "double precision": pa.float64(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"), "timestamp without time zone": pa.timestamp("us"),
    "date": pa.date32(),
}


def _column_types(conn: sa.Connection, target: str, columns: Sequence[str]) -> dict[str, str]:
    """Postgres type of each of `columns` of `target` (temporary tables included), from the catalog."""
    found = dict(conn.exec_driver_sql(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%(t)s) AND attnum > 0 AND NOT attisdropped", {"t": target}).all())
    missing = [c for c in columns if c not in found]
    if missing:
        raise ValueError(f"COPY into {target}: no column {', '.join(missing)} there")
    return {c: found[c] for c in columns}


def _as_columns(table: pa.Table, types: dict[str, str], target: str) -> pa.Table:
    """`table`'s columns in the order and Arrow types of the target's: dictionary text decoded, naive times
    taken as UTC (as the store writes them), integers narrowed where the column is (an overflow raises)."""
    import pyarrow.compute as pc

    columns = []
    for name, pg_type in types.items():
        want = ARROW_FOR_PG.get(pg_type)
        if want is None:
            raise TypeError(f"COPY into {target}: column {name} is {pg_type}, which leadsync does not write")
        column = table.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_timestamp(want) and pa.types.is_timestamp(column.type):
            if column.type.tz is None and want.tz is not None:
                column = pc.assume_timezone(column, want.tz)
            column = column.cast(want, safe=False)  # nanoseconds are cut to microseconds, as Postgres keeps them
        elif column.type != want:
            column = column.cast(want)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=list(types))


# COPY output is parsed in pieces of about this size as it streams in.
COPY_PARSE_BYTES = 32 << 20


def _copy_out_batches(conn: sa.Connection, sql: str, columns, rows: int) -> Iterator[pa.RecordBatch]:
    """COPY (query) TO STDOUT as CSV, parsed by pyarrow's streaming reader into typed batches."""
    import pyarrow.csv as pacsv

    names = [c.name for c in columns]
    types = {c.name: _arrow_type(c.type) for c in columns}
    cursor = conn.connection.driver_connection.cursor()
    pending = bytearray()

    def parse(chunk: bytes) -> Iterator[pa.RecordBatch]:
        reader = pacsv.open_csv(
            pa.BufferReader(chunk),
            read_options=pacsv.ReadOptions(column_names=names, block_size=max(1 << 20, rows * 64)),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            # Postgres writes booleans as t/f in CSV
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                                 quoted_strings_can_be_null=False,
                                                 true_values=["t"], false_values=["f"]))
        yield from reader

    # Parsed as the COPY streams in, handed out only once it has ended: the caller may run statements on this
    # connection between batches, and a connection in the middle of a COPY takes none (psycopg would wait on
    # its own lock for ever). A caller reading more than fits in memory reads in slices (raw.read_batch).
    parsed: list[pa.RecordBatch] = []
    with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
        for data in copy:
            pending += data
            if len(pending) >= COPY_PARSE_BYTES:
                cut = _last_record_end(pending)
                if cut:
                    parsed.extend(parse(bytes(pending[:cut])))
                    del pending[:cut]
    if pending:
        parsed.extend(parse(bytes(pending)))
    # The parser's blocks follow bytes, not rows (a wide row makes them small): handed out as batches of `rows`
    # rows, so that a caller working batch by batch (the intake's plan over each) pays its fixed costs per
    # `rows`, not per block.
    if parsed:
        whole = pa.Table.from_batches(parsed)
        del parsed[:]
        parsed = (whole.combine_chunks() if whole.column(0).num_chunks > 1 else whole).to_batches(max_chunksize=rows)
    yield from parsed


def _last_record_end(buf: bytearray) -> int:
    """Offset after the last complete CSV record in `buf` (quotes balanced before a line break), or 0."""
    end = len(buf)
    while True:
        nl = buf.rfind(b"\n", 0, end)
        if nl < 0:
            return 0
        if buf.count(b'"', 0, nl) % 2 == 0:
            return nl + 1
        end = nl


def _pg_type(type_: pa.DataType) -> str:
    if pa.types.is_timestamp(type_):
        return "TIMESTAMPTZ"
    if pa.types.is_boolean(type_):
        return "BOOLEAN"
    if pa.types.is_integer(type_):
        return "BIGINT"
    if pa.types.is_floating(type_):
        return "DOUBLE PRECISION"
    return "TEXT"


def _arrow_type(type_: sa.types.TypeEngine) -> pa.DataType:
    if isinstance(type_, sa.DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(type_, sa.Boolean):
        return pa.bool_()
    if isinstance(type_, sa.Integer):
        return pa.int64()
    if isinstance(type_, sa.Float):
        return pa.float64()
    return pa.string()
