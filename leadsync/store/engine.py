"""Opening the store and moving DataFrames in and out of it fast."""

from __future__ import annotations

import io
import os
import uuid
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Literal

import pandas as pd
import sqlalchemy as sa
from filelock import FileLock
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.pool import NullPool

from leadsync.store import tables
from leadsync.store.tables import metadata

Conflict = Literal["error", "nothing", "update"]


def _lock_key(section: str) -> int:
    """The advisory-lock key of a critical section: the same name gives the same key in every process."""
    return zlib.crc32(f"leadsync:{section}".encode())


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

    A DuckDB file admits one writer process at a time: every transaction holds a file lock and the
    connection is closed afterwards (NullPool), so a Dagster run, the CLI and the UI never collide.
    """

    def __init__(self, url: str | None = None):
        self.url = url or default_store_url()
        parsed = sa.engine.make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "duckdb":
            path = Path(parsed.database or "")
            path.parent.mkdir(parents=True, exist_ok=True)
            self._lock: FileLock | None = FileLock(f"{path}.lock")
            # DuckDB takes up to 80% of RAM for its buffers unless told; a supplier can cap it.
            config = {"memory_limit": limit} if (limit := os.environ.get("LEADSYNC_DUCKDB_MEMORY_LIMIT")) else {}
            self.engine = sa.create_engine(self.url, poolclass=NullPool, connect_args={"config": config})
        else:
            if parsed.drivername == "postgresql":
                self.url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
            self._lock = None
            self.engine = sa.create_engine(self.url, pool_pre_ping=True)
        with self.begin() as conn:
            # Workers starting together would race on CREATE TABLE; the first creates, the others wait.
            self.hold(conn, "schema")
            metadata.create_all(conn)
            self._check_schema(conn)

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
                f"version {found}; this leadsync needs version {tables.SCHEMA_VERSION}. Move that store aside "
                "(for the demo store: delete dagster_home/leadsync.duckdb) or set LEADSYNC_STORE_URL to a new one.")

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        with self._lock if self._lock is not None else nullcontext(), self.engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def exclusive(self, section: str) -> Iterator[None]:
        """Hold a critical section across several transactions (e.g. one partner's CRM work: HTTP calls
        between store writes). Postgres: a session-level advisory lock on a connection of its own, freed on
        exit or when the process dies (the server drops the session). DuckDB: nothing, since the embedded
        default runs one writer step at a time (the lead_store pool)."""
        if self.dialect != "postgresql":
            yield
            return
        key = _lock_key(section)
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()

    def hold(self, conn: sa.Connection, section: str) -> None:
        """Enter a critical section shared by every process and machine using this store, held until
        `conn`'s transaction ends (commit, rollback, or the process dying: the server frees it).

        Postgres: a transaction-level advisory lock (re-entrant within the transaction). DuckDB: nothing to
        do, since every transaction already holds the file lock (one writer at a time)."""
        if self.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(section)})

    # ------------------------------------------------------------------------------------ bulk I/O

    def insert_frame(
        self,
        conn: sa.Connection,
        table: sa.Table,
        frame: pd.DataFrame,
        conflict: Conflict = "error",
        update: Sequence[str] = (),
    ) -> int:
        """Bulk insert `frame` (columns named as the table's) in one statement.

        conflict='nothing' skips rows whose primary key exists (a retried insert adds nothing);
        conflict='update' overwrites the `update` columns of existing rows."""
        if frame.empty:
            return 0
        cols = list(frame.columns)
        stage = f"stage_{uuid.uuid4().hex[:12]}"
        if self.dialect == "duckdb":
            raw = conn.connection.driver_connection
            raw.register(stage, frame)
            try:
                self._insert_from_stage(conn, table, stage, cols, conflict, update)
            finally:
                raw.unregister(stage)
        elif self.dialect == "postgresql":
            self._copy_into_temp(conn, table, stage, frame)
            self._insert_from_stage(conn, table, stage, cols, conflict, update)
        else:
            stmt = sa.insert(table)
            conn.execute(stmt, frame.astype(object).where(frame.notna(), None).to_dict("records"))
        return len(frame)

    @staticmethod
    def _insert_from_stage(conn, table, stage, cols, conflict, update) -> None:
        source = sa.select(*[sa.column(c) for c in cols]).select_from(sa.table(stage))
        stmt = pg_insert(table).from_select(cols, source)
        pk = [c.name for c in table.primary_key.columns]
        if conflict == "nothing":
            stmt = stmt.on_conflict_do_nothing(index_elements=pk)
        elif conflict == "update":
            stmt = stmt.on_conflict_do_update(index_elements=pk, set_={c: stmt.excluded[c] for c in update})
        conn.execute(stmt)

    @staticmethod
    def _copy_into_temp(conn: sa.Connection, table: sa.Table, stage: str, frame: pd.DataFrame) -> None:
        prep = conn.dialect.identifier_preparer
        col_list = ", ".join(prep.quote(c) for c in frame.columns)
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {prep.quote(stage)} ON COMMIT DROP AS "
            f"SELECT {col_list} FROM {prep.format_table(table)} WITH NO DATA"
        )
        buf = io.StringIO()
        frame.to_csv(buf, header=False, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {prep.quote(stage)} ({col_list}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buf.getvalue())

    def read_frame(self, conn: sa.Connection, query: sa.Select) -> pd.DataFrame:
        """Run a query into a DataFrame. On DuckDB the result comes out columnar (no per-row Python);
        values are rendered by SQLAlchemy's literal binding, never by string formatting."""
        if self.dialect == "duckdb":
            sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            frame = conn.connection.driver_connection.sql(sql).df()
        else:
            result = conn.execute(query)
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        # One timestamp type whatever the engine: DuckDB says Etc/UTC in microseconds, psycopg gives objects.
        for col in frame.columns:
            if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
                frame[col] = frame[col].dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
        return frame
