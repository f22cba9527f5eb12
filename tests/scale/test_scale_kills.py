"""Scale-profile workers killed with SIGKILL in the middle of a pull, a routing step and a writeback batch (Dagster
on Postgres, steps on Celery workers over the loopback RabbitMQ, the lead store on Postgres) lose nothing and
write nothing twice: the run ends with the embedded default's leads, decisions, slots and outbox.

One run takes the three kills, one after the other, each on a worker of its own (four workers: the last one
left finishes the run). A file of its own, apart from test_scale_profile.py, so that pytest-xdist runs the two
on both cores."""

import threading
import time
from dataclasses import dataclass, field

import dagster as dg
import pytest
import sqlalchemy as sa
from databases import fresh_database, postgres_unreachable, rabbitmq_unreachable
from scale_runs import LEADS, executions, free_port, scale_env, scale_home_on_postgres, worker_of_steps
from three_sources import lead_files, snapshot, three_sources

from leadsync.runs.on_workers import run_on_workers
from leadsync.runs.workers import Workers

pytestmark = pytest.mark.skipif(bool(postgres_unreachable() or rabbitmq_unreachable()),
                                reason=f"{postgres_unreachable() or rabbitmq_unreachable()}")

MOMENTS = ("pull", "routing", "writeback")  # in the order the run reaches them


class RunInBackground:
    """The run orchestrated on a thread, so that the test can kill workers in the middle of it."""

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
            time.sleep(0.1)
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
        time.sleep(0.1)
    raise TimeoutError(f"no worker started {step}")


def hold_routing_section(store_url: str):
    """Hold the store's routing section from outside, as a slow routing step elsewhere would."""
    from leadsync.routing.state import hold_routing
    from leadsync.store import LeadStore

    store = LeadStore(store_url)
    conn = store.engine.connect()
    tx = conn.begin()
    hold_routing(store, conn)

    def release() -> None:  # once: the kills release it, the fixture's cleanup again in case they did not
        if conn.closed:
            return
        tx.rollback()
        conn.close()
        store.dispose()
    return release


def routing_waiters(engine: sa.Engine) -> int:
    """Transactions of this store waiting to enter its routing section. Only this database's waiters on the
    routing key: the server is shared with other test runs, whose advisory locks must not count."""
    from leadsync.routing.state import ROUTING_SECTION
    from leadsync.store.engine import _lock_key

    key = _lock_key(ROUTING_SECTION)  # a bigint key shows as classid (high 32 bits), objid (low), objsubid 1
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1"),
            {"high": key >> 32, "low": key & 0xFFFFFFFF}).scalar_one()


@dataclass
class KilledRun:
    result: dg.JobExecutionResult
    killed: dict[str, tuple[str, str]]  # moment → (step, the worker killed while executing it)
    ran_on: dict[str, list[str]]  # step → the workers that began executing it, in order
    seeded: int  # Salesforce leads in the org before the run
    org_leads: list[dict]  # the org's leads after it
    store: dict = field(default_factory=dict)  # snapshot() of the lead store after it


def kill_at_every_moment(run: RunInBackground, workers: Workers, store_url: str, pull_gate, writeback_gate,
                         release_routing) -> dict[str, tuple[str, str]]:
    """The three kills, in the order the run reaches them. Each waits for its moment: the held Salesforce
    query of the pull, a routing step waiting for the section the test holds, the held writeback update."""
    killed = {}
    assert pull_gate.wait_reached(180), "sfdc__raw_rows never reached the held query"
    killed["pull"] = ("sfdc__raw_rows", kill_worker_of(run, workers, "sfdc__raw_rows"))
    pull_gate.release()  # the held call now reaches the org although its worker is gone

    waiting = sa.create_engine(store_url)
    try:
        deadline = time.monotonic() + 180
        while routing_waiters(waiting) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert routing_waiters(waiting) > 0, "no routing step reached the routing section"
    finally:
        waiting.dispose()
    # one of the waiters: a routing step begun on a worker still alive (the section is held since before the
    # run started, so none of them has got past it)
    alive = {w.name for w in workers.workers if w.process.poll() is None}
    started = worker_of_steps(run.instance, run.run_id())
    step = next(s for s in sorted(started) if s.endswith("__assignments") and started[s] in alive)
    killed["routing"] = (step, kill_worker_of(run, workers, step))
    release_routing()

    assert writeback_gate.wait_reached(180), "sfdc__writeback never reached the held request"
    killed["writeback"] = ("sfdc__writeback", kill_worker_of(run, workers, "sfdc__writeback"))
    writeback_gate.release()
    return killed


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory, embedded_result) -> KilledRun:  # the reference first: one thing at a time
    from leadsync.connectors.smtp_sandbox import SmtpSandbox

    root = tmp_path_factory.mktemp("kills")
    with pytest.MonkeyPatch.context() as mp, fresh_database() as store_url, \
            scale_home_on_postgres(root / "dagster_home", mp) as home, \
            SmtpSandbox(root / "mail", port=free_port()) as smtp, \
            three_sources(root / "scale", lead_files(root / "drop", LEADS), smtp.port) as project:
        env = scale_env(project, store_url, home)
        for k, v in env.items():
            mp.setenv(k, v)
        seeded = len(project.org.connect().query_all("SELECT Id FROM Lead")["records"])
        # every moment's trap is set before the run starts
        faults = project.org.http.faults
        pull_gate = faults.hold_next("/query", skip=1)  # the second SOQL query of the pull: campaigns done, records next
        writeback_gate = faults.hold_next("/composite/sobjects", method="PATCH")  # the update carrying the statuses
        release_routing = hold_routing_section(store_url)
        try:
            with Workers(1 + len(MOMENTS), env, root / "workers") as workers:
                instance = dg.DagsterInstance.from_config(str(home))
                run = RunInBackground(instance)
                killed = kill_at_every_moment(run, workers, store_url, pull_gate, writeback_gate, release_routing)
                result = run.join()
        finally:
            release_routing()  # a failed wait leaves it held: the run (and the database's drop) would wait forever
            faults.clear()  # and the gates
        org_leads = project.org.connect().query_all("SELECT Id, LeadSync_Distribution_Status__c FROM Lead")["records"]
        yield KilledRun(result, killed, executions(instance, result.run_id), seeded, org_leads, snapshot(store_url))


def test_the_run_with_three_workers_killed_succeeds(killed_run):
    assert killed_run.result.success, [e.message for e in killed_run.result.all_events if e.is_failure]


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_step_whose_worker_was_killed_is_redone_on_another(killed_run, moment):
    step, killed = killed_run.killed[moment]
    ran_on = killed_run.ran_on[step]
    assert ran_on[0] == killed and len(set(ran_on)) == 2, ran_on  # begun on the killed worker, redone on another


def test_workers_killed_mid_step_lose_nothing_and_write_nothing_twice(killed_run, embedded_result):
    got = killed_run.store
    # no lead lost or duplicated, no decision or round-robin slot twice, the same events as the embedded run
    assert got["leads"] == embedded_result["leads"]
    assert got["quarantine"] == embedded_result["quarantine"]
    assert got["assignments_per_partner"] == embedded_result["assignments_per_partner"]
    assert got["decisions_per_lead"] == 1
    assert got["slots_handed_out"] == embedded_result["slots_handed_out"]
    assert got["outbox"] == embedded_result["outbox"]
    # the org: no record created twice, every pulled lead carries its status once
    assert len(killed_run.org_leads) == killed_run.seeded
    assert all(r["LeadSync_Distribution_Status__c"] for r in killed_run.org_leads)
