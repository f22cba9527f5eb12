"""Where the tests find PostgreSQL (imported by name: pytest puts tests/ on sys.path)."""

import os
import socket

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
