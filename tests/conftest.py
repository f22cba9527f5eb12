"""Shared fixtures: lead stores (DuckDB file, Postgres when reachable), an isolated project folder."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from databases import fresh_database, postgres_unreachable
from project_copies import without_partner_crms

REPO = Path(__file__).resolve().parents[1]
VENDOR_EXAMPLES = ("salesforce_demo.yaml", "marketo_demo.yaml", "eloqua_demo.yaml")
# `make test` runs the suite on two pytest-xdist workers, a file at a time (`--dist loadfile`): a file's
# module-scoped fixtures (the UI's `leadsync dev`, the scale profile's embedded reference) start once. xdist
# hands out files in collection order, one to each worker and then to whichever is free, so the longest
# files go first, one per worker, and the many short ones fill in around them. Slowest first:
LONGEST_FILES = ("scale/test_scale_kills.py", "test_ui.py", "scale/test_scale_profile.py", "test_wheel.py", "test_demo.py",
                 "test_end_to_end.py", "partner_crm/test_partner_crm_closed_loop.py", "test_api_source_salesforce.py")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        path = item.path.relative_to(REPO / "tests").as_posix()
        return LONGEST_FILES.index(path) if path in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=rank)  # stable: the tests of a file keep their order


@pytest.fixture
def duckdb_url(tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'leadsync.duckdb'}"


@pytest.fixture
def postgres_url() -> str:
    """A fresh database per test on the local PostgreSQL server, dropped afterwards."""
    reason = postgres_unreachable()
    if reason:
        pytest.skip(reason)
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["duckdb", "postgres"])
def store_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def mail_sandbox(tmp_path):
    """A real SMTP server on loopback keeping messages as .eml files (partner notification emails)."""
    from leadsync.connectors.smtp_sandbox import SmtpSandbox

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
    # the SFTP source alone: the shipped Salesforce, Marketo and Eloqua examples point at sandboxes that the
    # tests needing them start themselves (tests/three_sources.py, test_api_source_*.py, test_demo.py)
    shutil.copytree(REPO / "mappings", root / "mappings", ignore=shutil.ignore_patterns(*VENDOR_EXAMPLES))
    lifecycle = root / "mappings/lifecycle.yaml"
    lifecycle.write_text(lifecycle.read_text().replace("port: 8025", f"port: {mail_sandbox.port}"))
    without_partner_crms(root / "mappings/partners.yaml")
    monkeypatch.setenv("LEADSYNC_LIFECYCLE_SECRET", "test-lifecycle-secret")
    return root

