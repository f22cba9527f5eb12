"""The store's tables as an in-process DuckDB database, so every report is DuckDB SQL whatever the store.

Each report names the columns it reads; those are read through `LeadStore.read_frame` (columnar on DuckDB,
one query per table on Postgres) into DuckDB tables typed from the store's own schema, so an empty table
or a column of NULLs still has its real type. Timestamps are UTC without a zone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import duckdb
import pandas as pd
import sqlalchemy as sa

from leadsync.lifecycle import tables as lt
from leadsync.store import LeadStore


def _duckdb_type(column: sa.Column) -> str:
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return "TIMESTAMP"
    if isinstance(kind, sa.Date):
        return "DATE"
    if isinstance(kind, sa.Boolean):
        return "BOOLEAN"
    if isinstance(kind, sa.Float):
        return "DOUBLE"
    if isinstance(kind, sa.Integer):
        return "BIGINT"
    return "VARCHAR"


def _normalise(frame: pd.DataFrame, table: sa.Table) -> pd.DataFrame:
    for name in frame.columns:
        if isinstance(table.c[name].type, sa.DateTime):
            frame[name] = pd.to_datetime(frame[name], utc=True).dt.tz_localize(None)
    return frame


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def report_db(store: LeadStore, reads: Mapping[sa.Table, Sequence[str]],
              frames: Mapping[str, pd.DataFrame] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection holding, for each table of `reads`, the listed columns of the store's
    table of the same name, plus `frames` (small lookup tables given by the caller) under their names."""
    db = duckdb.connect()
    try:
        with store.begin() as conn:
            lt.ensure_tables(conn)  # a store opened before the lifecycle tables were registered
            loaded = {table: store.read_frame(conn, sa.select(*(table.c[c] for c in columns)))
                      for table, columns in reads.items()}
        for table, frame in loaded.items():
            columns = reads[table]
            ddl = ", ".join(f"{_quote(c)} {_duckdb_type(table.c[c])}" for c in columns)
            db.execute(f"CREATE TABLE {_quote(table.name)} ({ddl})")
            if not frame.empty:
                stage = f"stage_{table.name}"
                db.register(stage, _normalise(frame, table))
                db.execute(f"INSERT INTO {_quote(table.name)} SELECT {', '.join(map(_quote, columns))} "
                           f"FROM {_quote(stage)}")
                db.unregister(stage)
        for name, frame in (frames or {}).items():
            db.register(name, frame)
        yield db
    finally:
        db.close()


def query(db: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object] | None = None) -> pd.DataFrame:
    """Run `sql`, values only as `$name` parameters, and return a DataFrame with a fresh index."""
    return db.execute(sql, dict(params or {})).df().reset_index(drop=True)
