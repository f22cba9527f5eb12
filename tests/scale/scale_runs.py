"""What the scale-profile tests share: the session's Celery queue, the scale environment, and which worker ran
which step. Imported by name (pytest puts this folder on sys.path); the fixtures are in conftest.py."""

import socket
import uuid
from pathlib import Path

import dagster as dg

# A queue of this test session's own: another test run or a benchmark sharing the RabbitMQ must not take its
# steps. One per session, not per test: Dagster keeps the code location it loaded for the run (and with it
# the executor's settings) for the life of the process.
QUEUE = f"leadsync-test-{uuid.uuid4().hex[:10]}"


def scale_env(project, store_url: str, home: Path) -> dict[str, str]:
    """The scale profile's environment for the orchestrating test and its workers: the session's queue, the
    shared API budget in Redis under a prefix of the test's own."""
    return {**project.env, "LEADSYNC_STORE_URL": store_url, "DAGSTER_HOME": str(home),
            "LEADSYNC_PROFILE": "scale", "LEADSYNC_CELERY_QUEUE": QUEUE,
            "LEADSYNC_REDIS_URL": "redis://127.0.0.1:6379/0",
            "LEADSYNC_BUDGET_PREFIX": f"leadsync-test:{uuid.uuid4().hex[:8]}"}


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
