"""Fixtures of the scale-profile tests: the lead drop, a Dagster instance on a fresh Postgres database, and the
embedded default's result on the same input (the reference every scale-profile run must match)."""

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import fresh_database
from scale_runs import free_port
from three_sources import lead_files, snapshot, three_sources

from leadsync.defs.build import build_definitions
from leadsync.scale.profile import SCALE_HOME


@pytest.fixture
def drop(tmp_path) -> Path:
    return lead_files(tmp_path / "drop", 2_000)


@pytest.fixture
def scale_home(tmp_path, monkeypatch) -> Path:
    """A Dagster instance configured as dagster_home/scale/dagster.yaml, on a fresh Postgres database."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(SCALE_HOME / "dagster.yaml", home / "dagster.yaml")
    with fresh_database("leadsync_dagster") as url:
        # dagster-postgres speaks psycopg2 (its NOTIFY takes a bound parameter) and SQLAlchemy 2.1 defaults to psycopg 3
        monkeypatch.setenv("LEADSYNC_DAGSTER_PG_URL", str(sa.engine.make_url(url).set(drivername="postgresql+psycopg2")
                                                          .render_as_string(hide_password=False)))
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def embedded_result(tmp_path_factory) -> dict:
    """The embedded default's result on the same input: the reference every scale-profile run must match."""
    from leadsync.connectors.smtp_sandbox import SmtpSandbox

    root = tmp_path_factory.mktemp("embedded")
    with pytest.MonkeyPatch.context() as mp, SmtpSandbox(root / "mail", port=free_port()) as smtp, \
            three_sources(root / "project", lead_files(root / "drop", 2_000), smtp.port) as project:
        for k, v in project.env.items():
            mp.setenv(k, v)
        url = f"duckdb:///{root / 'leadsync.duckdb'}"
        assert build_definitions(project.mappings, url).resolve_job_def("leadsync") \
            .execute_in_process(raise_on_error=False).success
        return snapshot(url)
