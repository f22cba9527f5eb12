"""Shared fixtures: lead stores (DuckDB file, Postgres when reachable), an isolated project folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from databases import fresh_database, postgres_unreachable
from leadsync.connectors.loopback_ports import free_port
from project_copies import without_partner_crms

REPO = Path(__file__).resolve().parents[1]
VENDOR_EXAMPLES = ("salesforce_demo.yaml", "marketo_demo.yaml", "eloqua_demo.yaml")
# `make test` runs the suite on pytest-xdist workers, a file at a time (`--dist loadfile`): a file's module-scoped
# fixtures (the UI's `leadsync dev`, the wheel's demo) start once. xdist hands the first three files to the three
# workers, then the next file in collection order to the first worker whose queue is down to two tests, so the
# longest files go first, longest of all first, and the many short ones fill in around them: a long file handed
# out late keeps its worker busy after the others have finished. The order is by each file's wall time IN the
# suite, not alone: on two busy cores a file that runs many threads or processes of its own stretches far more
# than one that waits on sockets (the wheel's demo: 54 s alone, 105-377 s in the suite; the API loop end to end:
# ~160 s alone, ~220 s in the suite). Measured 2026-12-03 (the files' setup + call + teardown in a suite run on a
# loaded machine; the scale kills file since reads the profile file's embedded reference, see scale/conftest.py):
LONGEST_FILES = (
    "scale/test_scale_profile.py", "test_wheel.py", "test_api_source_loop_e2e.py", "test_ui.py",
    "test_every_send.py", "test_api_follow_source.py", "console/test_add_lead_api.py", "scale/test_scale_kills.py",
    "soak/test_soak.py", "console/test_console_http.py", "test_end_to_end.py", "test_intake_slices.py",
    "test_routing_store.py", "test_api_writeback_kinds.py", "test_api_source_eloqua.py", "test_reports.py",
    "test_check.py", "test_api_nurture.py", "test_kill_recovery.py", "components/test_dg_project.py",
    "lifecycle/test_offers.py", "test_segregation.py", "test_api_run_metadata.py", "portal/test_settings.py",
    "portal/test_portal_browser.py", "partner_crm/test_partner_crm_failures.py", "lifecycle/test_follow.py",
    "test_api_registrations.py", "connectors/test_api_budget.py", "hostile/test_status_file_formulas.py",
    "test_api_source_salesforce.py", "partner_crm/test_partner_crm_writeback_order.py",
    "partner_crm/test_partner_crm_closed_loop.py", "test_api_campaign_fields.py",
    "connectors/sftp/test_sftp_pull_stream.py", "portal/test_auto_registration_setting.py", "portal/test_leads.py",
    "console/test_console_browser.py", "portal/test_pipeline_ranking.py", "portal/test_sign_in.py",
    "test_api_pull_stage.py", "test_api_outage.py", "hostile/test_cell_limits.py",
    "connectors/sftp/test_pull_killed_halfway.py", "test_dev.py", "lifecycle/test_web.py",
    "test_smtp_down_fails_fast.py", "routing/test_conflicts.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        path = item.path.relative_to(REPO / "tests").as_posix()
        return LONGEST_FILES.index(path) if path in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=rank)  # stable: the tests of a file keep their order


@pytest.fixture
def duckdb_url(tmp_path) -> str:
    return f"duckdb:///{tmp_path / 'leadsync.duckdb'}"


def _opened_store(url: str):
    from leadsync.store import LeadStore

    store = LeadStore(url)
    yield store
    store.dispose()


@pytest.fixture
def duckdb_store(duckdb_url):
    """A new lead store on an embedded DuckDB file, closed after the test."""
    yield from _opened_store(duckdb_url)


@pytest.fixture
def postgres_store(postgres_url):
    """A new lead store on a fresh Postgres database, closed after the test."""
    yield from _opened_store(postgres_url)


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

    port = free_port()
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

