"""A scale-profile worker killed with SIGKILL in the middle of a pull, a routing step or a writeback batch (Dagster
on Postgres, steps on two Celery workers over the loopback RabbitMQ, the lead store on Postgres) loses nothing
and writes nothing twice: the run ends with the embedded default's leads, decisions, slots and outbox.

A file of its own, apart from test_scale_profile.py, so that pytest-xdist runs the two on both cores."""

import threading
import time

import dagster as dg
import pytest
import sqlalchemy as sa
from databases import postgres_unreachable, rabbitmq_unreachable
from scale_runs import scale_env, worker_of_steps
from three_sources import snapshot, three_sources

from leadsync.runs.on_workers import run_on_workers
from leadsync.runs.workers import Workers

pytestmark = pytest.mark.skipif(bool(postgres_unreachable() or rabbitmq_unreachable()),
                                reason=f"{postgres_unreachable() or rabbitmq_unreachable()}")


class RunInBackground:
    """The run orchestrated on a thread, so that the test can kill a worker in the middle of it."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance, self.result, self.error = instance, None, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = run_on_workers(self.instance)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test by join()
            self.error = exc

    def run_id(self, timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            runs = self.instance.get_runs(limit=1)
            if runs:
                return runs[0].run_id
            time.sleep(0.2)
        raise TimeoutError("the run was not created")

    def join(self, timeout_s: float = 600):
        self.thread.join(timeout_s)
        if self.error is not None:
            raise self.error
        assert self.result is not None, "the run did not finish in time"
        return self.result


def kill_worker_of(run: RunInBackground, workers: Workers, step: str, timeout_s: float = 120) -> str:
    """SIGKILL the worker executing `step` (from the run's engine events); returns its name."""
    deadline = time.monotonic() + timeout_s
    run_id = run.run_id()
    while time.monotonic() < deadline:
        name = worker_of_steps(run.instance, run_id).get(step)
        if name is not None:
            workers.by_name(name).kill()
            return name
        time.sleep(0.2)
    raise TimeoutError(f"no worker started {step}")


def executions_of(instance: dg.DagsterInstance, run_id: str, step: str) -> list[str]:
    """The workers that began executing `step`, in order."""
    return [(r.dagster_event.engine_event_data.metadata or {})["Celery worker"].value
            for r in instance.all_logs(run_id)
            if r.dagster_event is not None and r.dagster_event.event_type_value == "ENGINE_EVENT"
            and r.dagster_event.step_key == step
            and "Celery worker" in (r.dagster_event.engine_event_data.metadata or {})]


def hold_routing_section(store_url: str):
    """Hold the store's routing section from outside, as a slow routing step elsewhere would."""
    from leadsync.routing.state import hold_routing
    from leadsync.store import LeadStore

    store = LeadStore(store_url)
    conn = store.engine.connect()
    tx = conn.begin()
    hold_routing(store, conn)

    def release() -> None:
        tx.rollback()
        conn.close()
        store.dispose()
    return release


def routing_waiters(store_url: str) -> int:
    """Transactions of this store waiting to enter its routing section. Only this database's waiters on the
    routing key: the server is shared with other test runs, whose advisory locks must not count."""
    from leadsync.routing.state import ROUTING_SECTION
    from leadsync.store.engine import _lock_key

    key = _lock_key(ROUTING_SECTION)  # a bigint key shows as classid (high 32 bits), objid (low), objsubid 1
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1"),
                {"high": key >> 32, "low": key & 0xFFFFFFFF}).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("moment", ["pull", "routing", "writeback"])
def test_a_worker_killed_mid_step_loses_nothing_and_writes_nothing_twice(
        moment, tmp_path, drop, mail_sandbox, postgres_url, scale_home, monkeypatch, embedded_result):
    with three_sources(tmp_path / "scale", drop, mail_sandbox.port) as project:
        env = scale_env(project, postgres_url, scale_home)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        seeded = len(project.org.connect().query_all("SELECT Id FROM Lead")["records"])
        with Workers(2, env, tmp_path / "workers") as workers:
            instance = dg.DagsterInstance.from_config(str(scale_home))
            release = None
            if moment == "pull":  # the second SOQL query of the Salesforce pull: campaigns done, records next
                gate = project.org.http.faults.hold_next("/query", skip=1)
                step = "sfdc__raw_rows"
            elif moment == "writeback":  # the Collections update carrying the statuses
                gate = project.org.http.faults.hold_next("/composite/sobjects", method="PATCH")
                step = "sfdc__writeback"
            else:
                release = hold_routing_section(postgres_url)
                step = None
            run = RunInBackground(instance)
            if moment == "routing":
                deadline = time.monotonic() + 180
                while routing_waiters(postgres_url) == 0 and time.monotonic() < deadline:
                    time.sleep(0.2)
                assert routing_waiters(postgres_url) > 0, "no routing step reached the routing section"
                started = worker_of_steps(instance, run.run_id())
                step = next(s for s in sorted(started) if s.endswith("__assignments"))  # one of the waiters
                killed = kill_worker_of(run, workers, step)
                release()
            else:
                assert gate.wait_reached(180), f"{step} never reached the held request"
                killed = kill_worker_of(run, workers, step)
                gate.release()  # the held call now reaches the org although its worker is gone
            result = run.join()
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        ran_on = executions_of(instance, result.run_id, step)
        assert ran_on[0] == killed and len(set(ran_on)) == 2  # begun on the killed worker, redone on the other

        org_leads = project.org.connect().query_all(
            "SELECT Id, LeadSync_Distribution_Status__c FROM Lead")["records"]
    got = snapshot(postgres_url)
    # no lead lost or duplicated, no decision or round-robin slot twice, the same events as the embedded run
    assert got["leads"] == embedded_result["leads"]
    assert got["quarantine"] == embedded_result["quarantine"]
    assert got["assignments_per_partner"] == embedded_result["assignments_per_partner"]
    assert got["decisions_per_lead"] == 1
    assert got["slots_handed_out"] == embedded_result["slots_handed_out"]
    assert got["outbox"] == embedded_result["outbox"]
    # the org: no record created twice, every pulled lead carries its status once
    assert len(org_leads) == seeded
    assert all(r["LeadSync_Distribution_Status__c"] for r in org_leads)
