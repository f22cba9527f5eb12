"""Hostile and clumsy input reaching leadsync through its public surfaces: a real SFTP client uploading to the
SFTP sandbox, the pipeline stages the Dagster job and the CLI call, the status file a supplier downloads."""

from __future__ import annotations

import pytest
from hostile_inputs import PASSWORD, Uploader, edit_source

from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.config.loader import project_paths
from leadsync.store import LeadStore


@pytest.fixture
def sandbox(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"demo": PASSWORD}) as server:
        yield server


@pytest.fixture
def project(project, sandbox, monkeypatch):
    """The repo's mappings, the SFTP source pointed at the test's sandbox."""
    edit_source(project, connection={"port": sandbox.port,
                                     "known_hosts": str(sandbox.write_known_hosts(project / "known_hosts"))})
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", PASSWORD)
    return project


@pytest.fixture
def paths(project):
    return project_paths(project / "mappings")


@pytest.fixture
def store(duckdb_url):
    """The embedded default store (a DuckDB file), disposed after the test."""
    lead_store = LeadStore(duckdb_url)
    try:
        yield lead_store
    finally:
        lead_store.dispose()


@pytest.fixture
def any_store(store_url):
    """The store at `store_url`: the embedded DuckDB file, then Postgres."""
    lead_store = LeadStore(store_url)
    try:
        yield lead_store
    finally:
        lead_store.dispose()


@pytest.fixture
def uploader(sandbox) -> Uploader:
    return Uploader(sandbox)


