"""Shared fixtures: lead stores (DuckDB file, Postgres when reachable), an isolated project folder."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("LEADSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    """None when usable, else the reason it is not."""
    url = sa.engine.make_url(PG_ADMIN_URL)
    try:
        with socket.create_connection((url.host, url.port or 5432), timeout=1):
            pass
    except OSError as exc:
        return f"PostgreSQL not reachable at {url.host}:{url.port}: {exc}"
    return None


@pytest.fixture
def duckdb_url(tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'leadsync.duckdb'}"


@pytest.fixture
def postgres_url() -> str:
    """A fresh database per test on the local PostgreSQL server, dropped afterwards."""
    reason = _postgres_reachable()
    if reason:
        pytest.skip(reason)
    name = f"leadsync_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def mail_sandbox(tmp_path):
    """A real SMTP server on loopback keeping messages as .eml files (partner notification emails)."""
    from connectors.smtp_sandbox import SmtpSandbox

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with SmtpSandbox(tmp_path / "mail", port=port) as smtp:
        yield smtp


@pytest.fixture
def project(tmp_path, mail_sandbox, monkeypatch) -> Path:
    """A copy of the repo's mappings/ in a temporary project root, free to edit in a test; partner emails
    go to `mail_sandbox`."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "mappings", root / "mappings")
    lifecycle = root / "mappings/lifecycle.yaml"
    lifecycle.write_text(lifecycle.read_text().replace("port: 8025", f"port: {mail_sandbox.port}"))
    monkeypatch.setenv("LEADSYNC_LIFECYCLE_SECRET", "test-lifecycle-secret")
    return root
