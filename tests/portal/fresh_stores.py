"""Stores as fresh as new ones, without paying for a new one each test: fixtures replacing tests/conftest.py's
`duckdb_url` and `postgres_url` where a conftest imports them (the portal's and the console's).

Making a store's tables took 0.3-0.9 s a test on DuckDB; on PostgreSQL a CREATE DATABASE, the tables and a DROP
DATABASE took about 2 s. Instead, DuckDB tests get a copy of a file that `LeadStore` made once per session, and
PostgreSQL tests share one database per session that is emptied back to the state `LeadStore` left it in (no
sequences, no foreign keys in the store: its first rows back, and what came later dropped, it is a new store)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import fresh_database, postgres_unreachable

from leadsync.store import LeadStore

SYSTEM_SCHEMAS = {"information_schema", "pg_catalog", "pg_toast"}


def template_duckdb(folder: Path) -> Path:
    """A DuckDB store with every table, made by LeadStore itself; closed (its log checkpointed into the file)."""
    path = folder / "leadsync.duckdb"
    LeadStore(f"duckdb:///{path}")
    assert not Path(f"{path}.wal").exists()  # the whole store is in the one file copied
    return path


def duckdb_copy(template: Path, folder: Path) -> str:
    path = folder / "leadsync.duckdb"
    shutil.copyfile(template, path)
    return f"duckdb:///{path}"


class FreshPostgres:
    """One PostgreSQL database for the session; `reset()` brings it back to the state right after `LeadStore`
    created its tables."""

    def __init__(self, url: str):
        self.url = url
        self.engine = sa.create_engine(url)
        LeadStore(url).engine.dispose()
        self.made = self._relations()
        with self.engine.connect() as conn:  # the rows a new store has (its schema version)
            self.rows = {t: [dict(r) for r in conn.exec_driver_sql(f'SELECT * FROM "{t[0]}"."{t[1]}"').mappings()]
                         for t in sorted(self.made["tables"])}

    def _relations(self) -> dict[str, set[tuple[str, str]]]:
        """Schemas, and the tables and views of each (schema, name)."""
        with self.engine.connect() as conn:
            inspector = sa.inspect(conn)
            schemas = {s for s in inspector.get_schema_names() if s not in SYSTEM_SCHEMAS}
            return {"schemas": {(s, "") for s in schemas},
                    "tables": {(s, t) for s in schemas for t in inspector.get_table_names(schema=s)},
                    "views": {(s, v) for s in schemas for v in inspector.get_view_names(schema=s)}}

    def reset(self) -> None:
        now = self._relations()
        with self.engine.begin() as conn:
            for schema, _ in now["schemas"] - self.made["schemas"]:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            for kind in ("views", "tables"):
                for schema, name in now[kind] - self.made[kind]:
                    if (schema, "") in self.made["schemas"]:
                        conn.exec_driver_sql(f'DROP {kind[:-1].upper()} IF EXISTS "{schema}"."{name}" CASCADE')
            for (schema, name), rows in self.rows.items():
                conn.exec_driver_sql(f'DELETE FROM "{schema}"."{name}"')
                if rows:
                    conn.execute(sa.Table(name, sa.MetaData(), schema=schema, autoload_with=conn).insert(), rows)

    def disconnect_others(self) -> None:
        """End the connections the test's stores left open (as DROP DATABASE ... WITH (FORCE) did)."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()")

    def dispose(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="session")
def duckdb_template(tmp_path_factory) -> Path:
    return template_duckdb(tmp_path_factory.mktemp("store-template"))


@pytest.fixture
def duckdb_url(tmp_path, duckdb_template) -> str:
    """A new DuckDB store (tests/conftest.py's, with its tables made ahead: a copy of the template file)."""
    return duckdb_copy(duckdb_template, tmp_path)


@pytest.fixture(scope="session")
def postgres_store() -> Iterator[FreshPostgres]:
    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    with fresh_database() as url:
        fresh = FreshPostgres(url)
        yield fresh
        fresh.dispose()


@pytest.fixture
def postgres_url(postgres_store) -> Iterator[str]:
    """A PostgreSQL store as a new one is (tests/conftest.py's, without a CREATE and a DROP DATABASE a test)."""
    postgres_store.reset()
    yield postgres_store.url
    postgres_store.disconnect_others()
