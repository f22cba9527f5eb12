"""Where the tests find PostgreSQL (imported by name: pytest puts tests/ on sys.path)."""

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("LEADSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_unreachable() -> str | None:
    """None when PostgreSQL answers, else why not (the skip reason)."""
    url = sa.engine.make_url(PG_ADMIN_URL)
    try:
        with socket.create_connection((url.host, url.port or 5432), timeout=1):
            pass
    except OSError as exc:
        return f"PostgreSQL not reachable at {url.host}:{url.port}: {exc}"
    return None


def rabbitmq_unreachable(host: str = "127.0.0.1", port: int = 5672) -> str | None:
    """None when RabbitMQ's AMQP port answers, else why not (the skip reason)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            pass
    except OSError as exc:
        return f"RabbitMQ not reachable at {host}:{port}: {exc}"
    return None


@contextmanager
def fresh_database(prefix: str = "leadsync_test") -> Iterator[str]:
    """A new database on the local PostgreSQL server, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
