"""What the scale-profile tests share: the session's Celery queue, the scale environment, the scale instance's
home, and which worker ran which step. Imported by name (pytest puts this folder on sys.path); the fixtures are
in conftest.py."""

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from databases import fresh_database
from leadsync.connectors.loopback_ports import free_port  # noqa: F401 (the scale tests take it from here)

from leadsync.scale.profile import SCALE_HOME

# A queue of this test session's own: another test run or a benchmark sharing the RabbitMQ must not take its
# steps. One per session, not per test: Dagster keeps the code location it loaded for the run (and with it
# the executor's settings) for the life of the process.
QUEUE = f"leadsync-test-{uuid.uuid4().hex[:10]}"
# The SFTP drop of every scale-profile run and of its embedded reference (with the 150 Salesforce and 200 Marketo
# leads of three_sources). 400 give the same outcomes as the 2,000 these tests once used (every partner of every
# source routed, auto-accepted and unassigned leads, the same 17 round-robin cycles, the same outbox kinds, mail
# sent in several batches); conftest.embedded_result checks that they are there. The time of a run grows with the drop (a
# notification email per routed lead), the outcomes compared do not.
LEADS = 400


def scale_env(project, store_url: str, home: Path) -> dict[str, str]:
    """The scale profile's environment for the orchestrating test and its workers: the session's queue, the
    shared API budget in Redis under a prefix of the test's own."""
    return {**project.env, "LEADSYNC_STORE_URL": store_url, "DAGSTER_HOME": str(home),
            "LEADSYNC_PROFILE": "scale", "LEADSYNC_CELERY_QUEUE": QUEUE,
            "LEADSYNC_REDIS_URL": "redis://127.0.0.1:6379/0",
            "LEADSYNC_BUDGET_PREFIX": f"leadsync-test:{uuid.uuid4().hex[:8]}"}


@contextmanager
def scale_home_on_postgres(home: Path, mp: pytest.MonkeyPatch) -> Iterator[Path]:
    """`home`: a Dagster instance configured as dagster_home/scale/dagster.yaml, on a fresh Postgres database
    (dropped afterwards), with DAGSTER_HOME and its URL set through `mp`."""
    home.mkdir(parents=True)
    shutil.copy(SCALE_HOME / "dagster.yaml", home / "dagster.yaml")
    with fresh_database("leadsync_dagster") as url:
        # dagster-postgres speaks psycopg2 (its NOTIFY takes a bound parameter) and SQLAlchemy 2.1 defaults to psycopg 3
        mp.setenv("LEADSYNC_DAGSTER_PG_URL", str(sa.engine.make_url(url).set(drivername="postgresql+psycopg2")
                                                 .render_as_string(hide_password=False)))
        mp.setenv("DAGSTER_HOME", str(home))
        yield home


def worker_of_steps(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """step key → the Celery worker that executed it last (from the run's engine events)."""
    return {step: workers[-1] for step, workers in executions(instance, run_id).items()}


def executions(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[str]]:
    """step key → the Celery workers that began executing it, in order (a step redone after its worker died
    has two)."""
    found: dict[str, list[str]] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.event_type_value != "ENGINE_EVENT" or not event.step_key:
            continue
        worker = (event.engine_event_data.metadata or {}).get("Celery worker")
        if worker is not None:
            found.setdefault(event.step_key, []).append(worker.value)
    return found


