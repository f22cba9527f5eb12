"""The scale instance's Dagster storage keeps its Postgres connections (leadsync/runs/dagster_storage.py): events
and run lookups reuse a process's connections instead of opening one each, across every instance the process
makes (a Celery worker makes one per step), never across a fork, and a connection the server ended is replaced
without failing the event."""

import multiprocessing

import dagster as dg
import pytest
import sqlalchemy as sa
from databases import PG_ADMIN_URL, postgres_unreachable

from leadsync.runs import dagster_storage

pytestmark = pytest.mark.skipif(bool(postgres_unreachable()), reason=postgres_unreachable() or "")


@pytest.fixture
def opened():
    """How many DBAPI connections every SQLAlchemy engine of this process opens while the test runs."""
    count = [0]

    def on_connect(*_):
        count[0] += 1

    sa.event.listen(sa.Engine, "connect", on_connect)
    yield count
    sa.event.remove(sa.Engine, "connect", on_connect)


def _run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    return instance.create_run_for_job(dg.GraphDefinition(name="probe").to_job(), run_id=None)


def test_events_and_run_lookups_reuse_the_process_connections(scale_home, opened):
    instance = dg.DagsterInstance.from_config(str(scale_home))
    assert type(instance.run_storage).__name__ == "PooledPostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PooledPostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PooledPostgresScheduleStorage"
    run = _run(instance)
    before = opened[0]
    for i in range(40):
        instance.report_engine_event(f"probe {i}", run)
        assert instance.get_run_by_id(run.run_id).run_id == run.run_id
    # dagster-postgres as shipped opens one connection per event and per lookup: 80 here
    assert opened[0] - before <= dagster_storage.POOL_SIZE
    assert [r.message for r in instance.all_logs(run.run_id) if r.message.startswith("probe")][-1] == "probe 39"


def test_instances_made_from_the_ref_share_the_engine_and_find_the_tables(scale_home, opened):
    """What a worker does for every step: an instance from the run's ref. It must use the same classes (the ref
    names them), the process's engine, and not look the tables up again."""
    instance = dg.DagsterInstance.from_config(str(scale_home))
    run = _run(instance)
    before = opened[0]
    for i in range(10):
        step_instance = dg.DagsterInstance.from_ref(instance.get_ref())
        assert step_instance.event_log_storage._engine is instance.event_log_storage._engine
        assert step_instance.run_storage._engine is instance.event_log_storage._engine
        step_instance.report_engine_event(f"step {i}", step_instance.get_run_by_id(run.run_id))
    assert opened[0] - before <= dagster_storage.POOL_SIZE
    assert len([r for r in instance.all_logs(run.run_id) if r.message.startswith("step ")]) == 10


def _child_reports(ref, run_id: str, inherited: int, results) -> None:
    instance = dg.DagsterInstance.from_ref(ref)
    engine = instance.event_log_storage._engine
    instance.report_engine_event("from the child", instance.get_run_by_id(run_id))
    results.put(id(engine) != inherited)


def test_a_forked_process_opens_its_own_connections(scale_home):
    """A Celery worker forks its pool process after its main process has started: a connection opened before the
    fork must never be used by both (two processes on one socket garble each other's replies)."""
    instance = dg.DagsterInstance.from_config(str(scale_home))
    run = _run(instance)
    instance.report_engine_event("before the fork", run)  # the parent's pool now holds a connection
    inherited = instance.event_log_storage._engine
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_child_reports, args=(instance.get_ref(), run.run_id, id(inherited), results))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert results.get(timeout=5) is True  # the child made an engine of its own
    instance.report_engine_event("after the fork", run)  # the parent's connection is intact
    messages = [r.message for r in instance.all_logs(run.run_id)]
    assert messages[-3:] == ["before the fork", "from the child", "after the fork"]


def test_a_connection_the_server_ended_is_replaced(scale_home):
    instance = dg.DagsterInstance.from_config(str(scale_home))
    run = _run(instance)
    instance.report_engine_event("first", run)
    database = instance.event_log_storage._engine.url.database
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # a server restart, an idle timeout, a DBA: the pooled connection is gone
        ended = conn.exec_driver_sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                     "WHERE datname = %(db)s AND pid <> pg_backend_pid()", {"db": database}).scalar()
    admin.dispose()
    assert ended >= 1
    instance.report_engine_event("second", run)
    assert [r.message for r in instance.all_logs(run.run_id)][-2:] == ["first", "second"]


def test_the_webserver_still_gets_its_own_pool(scale_home):
    """`dagster dev` (make scale) and dagster-webserver give each storage a pool of their own, with a statement
    timeout (instance.optimize_for_webserver): that still applies over the shared engine."""
    instance = dg.DagsterInstance.from_config(str(scale_home))
    shared = instance.event_log_storage._engine
    instance.optimize_for_webserver(statement_timeout=5000, pool_recycle=3600, max_overflow=20)
    assert instance.event_log_storage._engine is not shared
    assert instance.run_storage._engine is not shared
    run = _run(instance)
    instance.report_engine_event("through the webserver's pool", run)
    with instance.event_log_storage._engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "5s"
    assert [r.message for r in instance.all_logs(run.run_id)][-1] == "through the webserver's pool"
