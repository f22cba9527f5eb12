"""Dagster's Postgres storage for the scale instance (dagster_home/scale/dagster.yaml), with its connections kept.

dagster-postgres gives each storage (runs, events, schedules) an engine without a pool (NullPool: "to prevent
accumulating connections per DagsterInstance"), so every event a step logs and every run lookup opens a new
Postgres connection: a backend forked, authenticated and its caches built, then thrown away. Two sync runs of
seven steps opened 678 connections (the same at 1,000 and at 1,000,000 leads), ~3.5 ms of server CPU each, and
an event took 5.5 ms to store against 0.9 ms on an open connection (a run lookup 12.9 against 1.7 ms). Dagster
itself pools only in its webserver (`optimize_for_webserver`); the daemon, run processes and Celery workers, where
a scale run's events are written, do not (dagster-io/dagster#20325, #33935).

Here the three storages of every instance a process makes share one engine per database: a small pool kept for
the life of the process (a Celery worker makes a new instance for every step it runs), overflow connections
closed as they come back, so a burst of threads never waits for a connection; each connection is checked with a
ping before use (a server restart or an idle timeout costs a reconnect, not a failed event). A process forked
with an engine gets a new one (engines are per process id): a connection is never shared across a fork. The
tables are looked up once per process and database, where each storage did it on every construction.

A run hands its workers an instance ref naming this storage (dagster.yaml's `storage: custom:`), so every
process of the run uses it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import sqlalchemy as sa
from dagster._serdes import ConfigurableClassData
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.storage import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# Connections a process keeps open per database. A run's orchestrator and a worker's step write from one thread
# (one connection); the daemon's threads and a step's own threads may use more at once: those are opened beyond
# the pool and closed when returned (max_overflow=-1: never a wait for a connection).
POOL_SIZE = 2
RECYCLE_S = 3600  # a connection is replaced after an hour, as the webserver's are by default

_engines: dict[tuple[int, str], sa.Engine] = {}
_tables_known: set[tuple[int, str, str]] = set()
_lock = threading.Lock()


def shared_engine(postgres_url: str, token_provider: Any = None) -> sa.Engine:
    """This process's pooled engine for `postgres_url` (made on first use)."""
    key = (os.getpid(), postgres_url)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_pg_engine(postgres_url, token_provider, isolation_level="AUTOCOMMIT",
                                      pool_size=POOL_SIZE, max_overflow=-1, pool_recycle=RECYCLE_S,
                                      pool_pre_ping=True)
            _engines[key] = engine
        return engine


def _tables_key(kind: type, postgres_url: str) -> tuple[int, str, str]:
    return os.getpid(), postgres_url, kind.__name__


def _adopt(storage: Any, postgres_url: str, token_provider: Any) -> None:
    """Give `storage` the process's shared engine in place of the pool-less one dagster-postgres made."""
    storage._engine.dispose()  # holds no connection (NullPool); dropped for the shared one
    storage._engine = shared_engine(postgres_url, token_provider)


def _kwargs(inst_data: ConfigurableClassData | None, config_value: dict) -> dict:
    return {"inst_data": inst_data, "postgres_url": pg_url_from_config(config_value),
            "should_autocreate_tables": config_value.get("should_autocreate_tables", True),
            "token_provider": get_token_provider_from_config(config_value)}


class _Pooled:
    """One of dagster-postgres's storages on the process's shared engine (mixed in before the storage class)."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None):
        # the tables are looked up (and made if missing) once per process, database and kind of storage
        key = _tables_key(type(self), postgres_url)
        super().__init__(postgres_url, should_autocreate_tables and key not in _tables_known,  # type: ignore[call-arg]
                         inst_data, token_provider=token_provider)
        _tables_known.add(key)
        self.should_autocreate_tables = should_autocreate_tables
        _adopt(self, postgres_url, token_provider)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(**_kwargs(inst_data, config_value))


class PooledPostgresRunStorage(_Pooled, PostgresRunStorage):
    pass


class PooledPostgresEventLogStorage(_Pooled, PostgresEventLogStorage):
    pass


class PooledPostgresScheduleStorage(_Pooled, PostgresScheduleStorage):
    pass


class PooledPostgresStorage(DagsterPostgresStorage):
    """dagster.yaml `storage: custom:` with this module and class, and the `postgres:` block's config."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None):
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        self._run_storage = PooledPostgresRunStorage(postgres_url, should_autocreate_tables,
                                                     token_provider=token_provider)
        self._event_log_storage = PooledPostgresEventLogStorage(postgres_url, should_autocreate_tables,
                                                                token_provider=token_provider)
        self._schedule_storage = PooledPostgresScheduleStorage(postgres_url, should_autocreate_tables,
                                                               token_provider=token_provider)
        super(DagsterPostgresStorage, self).__init__()

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(**_kwargs(inst_data, config_value))
