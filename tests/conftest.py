"""Shared fixtures: lead stores (DuckDB file, Postgres when reachable), an isolated project folder."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
import yaml
from databases import fresh_database, postgres_unreachable

REPO = Path(__file__).resolve().parents[1]
VENDOR_EXAMPLES = ("salesforce_demo.yaml", "marketo_demo.yaml", "eloqua_demo.yaml")
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
    # the SFTP source alone: the shipped Salesforce, Marketo and Eloqua examples point at sandboxes that the
    # tests needing them start themselves (tests/three_sources.py, test_api_source_*.py, test_demo.py)
    shutil.copytree(REPO / "mappings", root / "mappings", ignore=shutil.ignore_patterns(*VENDOR_EXAMPLES))
    lifecycle = root / "mappings/lifecycle.yaml"
    lifecycle.write_text(lifecycle.read_text().replace("port: 8025", f"port: {mail_sandbox.port}"))
    # likewise Maple without its own Salesforce org (a bundled sandbox only the demo starts; tests/partner_crm
    # and test_demo.py give partners CRMs of their own): auto-accept, with the reason written down
    partners_file = root / "mappings/partners.yaml"
    partners = yaml.safe_load(partners_file.read_text())
    maple = next(p for p in partners["partners"] if p["id"] == "maple")
    maple.pop("crm"), maple.pop("technical_contact", None)
    maple["auto_accept_without_crm"] = ("Maple takes every Canadian lead by contract and receives them in the weekly "
                                        "lead export from the supplier's channel team")
    partners_file.write_text(yaml.safe_dump(partners, sort_keys=False, allow_unicode=True))
    monkeypatch.setenv("LEADSYNC_LIFECYCLE_SECRET", "test-lifecycle-secret")
    return root
