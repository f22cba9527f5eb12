"""The scale profile on real parts: Dagster on Postgres, steps on two Celery workers over the loopback
RabbitMQ, the lead store on Postgres. Three sources (SFTP, Salesforce, Marketo) give the same leads,
quarantine, assignment counts and outbox as the embedded default (a worker killed mid-step: test_scale_kills.py);
`leadsync scale --serve` leaves no orphans; the scale instance's queue and pools."""

import shutil
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import redis
import sqlalchemy as sa
from databases import fresh_database, postgres_unreachable, rabbitmq_unreachable
from scale_runs import QUEUE, free_port, scale_env, worker_of_steps
from three_sources import snapshot, three_sources

from leadsync.defs.build import build_definitions
from leadsync.runs.executors import pools_of, set_pool_limits
from leadsync.runs.on_workers import run_on_workers
from leadsync.runs.workers import Workers

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(bool(postgres_unreachable() or rabbitmq_unreachable()),
                                reason=f"{postgres_unreachable() or rabbitmq_unreachable()}")


def test_two_celery_workers_give_the_embedded_result(tmp_path, drop, mail_sandbox, postgres_url, scale_home,
                                                       monkeypatch, embedded_result):
    expected = embedded_result
    with three_sources(tmp_path / "scale", drop, mail_sandbox.port) as project:
        env = scale_env(project, postgres_url, scale_home)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        with Workers(2, env, tmp_path / "workers") as started:
            # every worker's pool process has the code location's libraries before its first step
            for worker in started.workers:
                assert _pool_processes_with(worker.process.pid, "duckdb"), worker.log.read_text()[-2000:]
                # and what starts threads at import (polars, for the schema check) only after the fork, as the pool
                # process starts (worker_process_init: it may still be importing when the worker says it is ready)
                deadline = time.monotonic() + 30
                while not _pool_processes_with(worker.process.pid, "polars") and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert _pool_processes_with(worker.process.pid, "polars"), worker.log.read_text()[-2000:]
                assert not _main_processes_with(worker.process.pid, "polars")
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
    # the workers spent the Marketo source's calls from one budget kept in Redis (connectors/api_budget/)
    spent = redis.Redis.from_url(env["LEADSYNC_REDIS_URL"])
    days = list(spent.scan_iter(f"{env['LEADSYNC_BUDGET_PREFIX']}:{{marketo:*}}:d:*"))
    assert days and sum(int(spent.get(k)) for k in days) > 0


def _celery_processes(pgid: int) -> tuple[list[int], list[int]]:
    """A worker's process group's Celery main processes and pool processes (a celery process whose parent is
    one too)."""
    from leadsync.scale.serve import group_members

    def parent(pid: int) -> int:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])

    members = [pid for pid in group_members(pgid) if b"celery" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    pools = [pid for pid in members if parent(pid) in members]
    mains = [pid for pid in members if pid not in pools]
    assert pools and mains, f"no pool or main process among {members}"
    return mains, pools


def _with(pids: list[int], library: str) -> list[int]:
    return [pid for pid in pids if library in Path(f"/proc/{pid}/maps").read_text()]


def _pool_processes_with(pgid: int, library: str) -> list[int]:
    """The worker's pool processes that have `library`'s shared object mapped: imported before Celery forked them
    (leadsync/runs/warm.py), or by the pool process as it was forked."""
    return _with(_celery_processes(pgid)[1], library)


def _main_processes_with(pgid: int, library: str) -> list[int]:
    """The worker's main processes that have `library`'s shared object mapped."""
    return _with(_celery_processes(pgid)[0], library)


# ------------------------------------------------------------------ routing does not depend on the source order

ORDER_PARTNERS = {
    "partners": [{"id": "a", "name": "Alpha", "countries": ["US"], "weight": 2},
                 {"id": "b", "name": "Bravo", "countries": ["US"]}],
    "routing": {"rule_groups": [{"name": "country", "rules": [
        {"field": "country", "op": "in", "partner_attribute": "countries"}]}]},
}


def _routed_in_order(store_url: str, order: tuple[str, ...]) -> dict[str, tuple]:
    """Two sources' leads (all matching the same two partners) routed one source after the other, in `order`,
    as the scale profile's workers may take them; lead → (partner, slot, reason)."""
    from datetime import UTC, datetime

    import pandas as pd

    from leadsync.assign import route_new_leads
    from leadsync.config import load_source
    from leadsync.config.schema import PartnersConfig
    from leadsync.store import LeadStore, tables

    t0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    store = LeadStore(store_url)
    try:
        for source, n in (("east", 5), ("west", 4)):
            frame = pd.DataFrame({"lead_id": [f"{source}-{i}" for i in range(n)], "source": source,
                                  "batch_id": f"{source}-b1", "row_number": range(1, n + 1), "country": "US",
                                  "email": [f"{source}{i}@example.com" for i in range(n)]})
            frame["lead_key"], frame["received_at"], frame["updated_at"] = frame["lead_id"], t0, t0
            with store.begin() as conn:
                store.insert_frame(conn, tables.leads, frame)
        base = load_source(REPO / "mappings/sources/sftp_demo.yaml")
        for source in order:
            route_new_leads(base.model_copy(update={"name": source}), PartnersConfig.model_validate(ORDER_PARTNERS),
                            store, t0)
        with store.begin() as conn:
            a = tables.assignments
            got = store.read_frame(conn, sa.select(a.c.lead_id, a.c.partner_id, a.c.rr_slot, a.c.reason))
    finally:
        store.dispose()
    return {r.lead_id: (r.partner_id, int(r.rr_slot), r.reason) for r in got.itertuples()}


def test_the_slot_a_lead_gets_does_not_depend_on_which_source_routed_first(tmp_path):
    """The embedded run routes its sources one after the other in a fixed order; the scale profile's workers
    route them in whatever order their steps reach the routing section (a retried step comes last). Each
    source's round robin continues its own cycle in its own arrival order, so any order gives the same result."""
    first = _routed_in_order(f"duckdb:///{tmp_path / 'east_first.duckdb'}", ("east", "west"))
    second = _routed_in_order(f"duckdb:///{tmp_path / 'west_first.duckdb'}", ("west", "east"))
    assert first == second
    # each source's leads take the weighted cycle (a, b, a) from its start, in arrival order
    assert [first[f"east-{i}"][:2] for i in range(5)] == [("a", 0), ("b", 1), ("a", 2), ("a", 0), ("b", 1)]
    assert [first[f"west-{i}"][:2] for i in range(4)] == [("a", 0), ("b", 1), ("a", 2), ("a", 0)]


# ------------------------------------------------------------------ `leadsync scale --serve` leaves no orphans


def _processes_marked(mark: str) -> dict[int, str]:
    """Live processes whose environment carries `mark` (inherited by everything the command starts, whatever
    its session or parent now): pid → command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() not in (entry / "environ").read_bytes():
                continue
            stat = (entry / "stat").read_bytes()
            if stat[stat.rindex(b")") + 2:].split()[0] == b"Z":
                continue  # exited, waiting to be reaped
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return found


def _mappings_on_free_ports(root: Path) -> Path:
    """The repository's mappings (and .env) with the SFTP sandbox, SMTP sandbox and web app on free ports."""
    import yaml

    shutil.copytree(REPO / "mappings", root / "mappings")
    shutil.copy(REPO / ".env", root / ".env")
    source = root / "mappings/sources/sftp_demo.yaml"
    data = yaml.safe_load(source.read_text())
    data["connection"]["port"] = free_port()
    source.write_text(yaml.safe_dump(data, sort_keys=False))
    lifecycle = root / "mappings/lifecycle.yaml"
    data = yaml.safe_load(lifecycle.read_text())
    data["smtp"]["port"] = free_port()
    data["web"]["port"] = free_port()
    data["web"]["base_url"] = f"http://127.0.0.1:{data['web']['port']}"
    lifecycle.write_text(yaml.safe_dump(data, sort_keys=False))
    return root / "mappings"


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads the process table from /proc")
def test_sigterm_to_scale_serve_stops_everything_it_started(tmp_path, postgres_url):
    """`make scale &` then `kill <pid>`: the Celery workers, dagster dev, its webserver, daemon and code
    servers all stop with the command. Started as a non-interactive shell starts a background job (SIGINT
    ignored, which `dagster dev` and its children would inherit)."""
    import os
    import signal
    import subprocess
    import urllib.request

    mark = f"LEADSYNC_TEST_MARK={uuid.uuid4().hex}"
    mappings = _mappings_on_free_ports(tmp_path)
    port = free_port()
    with fresh_database("leadsync_dagster") as dagster_url:
        env = {**os.environ, mark.split("=")[0]: mark.split("=")[1], "LEADSYNC_STORE_URL": postgres_url,
               "LEADSYNC_DAGSTER_PG_URL": str(sa.engine.make_url(dagster_url).set(drivername="postgresql+psycopg2")
                                              .render_as_string(hide_password=False)),
               "LEADSYNC_CELERY_QUEUE": f"{QUEUE}-serve", "LEADSYNC_BUDGET_PREFIX": f"leadsync-test:{uuid.uuid4().hex[:8]}"}
        leadsync = str(Path(sys.executable).parent / "leadsync")
        command = f"trap '' INT; exec {leadsync} --mappings {mappings} scale --serve --no-run --workers 1 --port {port}"
        with (tmp_path / "scale.log").open("wb") as log:
            shell = subprocess.Popen(["sh", "-c", command], env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # its own group: the test's cleanup can reach it
        try:
            # up: the workers, dagster dev, and the webserver and daemon it starts once the code location loads
            deadline = time.monotonic() + 240
            started: dict[int, str] = {}
            while time.monotonic() < deadline and shell.poll() is None:
                started = _processes_marked(mark)
                if any("dagster_webserver" in c for c in started.values()) and \
                        any("dagster._daemon" in c for c in started.values()):
                    break
                time.sleep(0.5)
            assert shell.poll() is None, (tmp_path / "scale.log").read_text()[-3000:]
            kinds = {"dagster-celery worker", "dagster dev", "dagster_webserver", "dagster._daemon", "code-server"}
            missing = [k for k in kinds if not any(k in c for c in started.values())]
            assert missing == [], f"not started: {missing}\n" + (tmp_path / "scale.log").read_text()[-3000:]
            while True:  # the UI answers
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=10) as reply:
                        assert reply.status == 200
                        break
                except OSError:
                    assert time.monotonic() < deadline, "the Dagster UI never answered"
                    time.sleep(0.5)
            started = _processes_marked(mark)

            stopping = time.monotonic()
            os.kill(shell.pid, signal.SIGTERM)  # the command's own pid (sh exec'd it), as `kill <pid>` would
            code = shell.wait(timeout=90)
            took = time.monotonic() - stopping
            left = _processes_marked(mark)
            assert left == {}, f"orphans {took:.0f}s after SIGTERM: {left}"
            assert code == 130 and "stopped (SIGTERM)" in (tmp_path / "scale.log").read_text()
        finally:
            for pid in _processes_marked(mark):  # whatever a failure left behind
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def test_the_summary_says_what_waits_to_be_written_back_and_why(duckdb_url):
    from datetime import UTC, datetime

    import pandas as pd

    from leadsync.scale.local import format_pending, pending_writeback
    from leadsync.store import LeadStore, tables

    now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def event(i: int, label: str) -> dict:
        return {"event_id": f"e{i}", "source": "sfdc", "lead_id": f"L{i}", "kind": "distribution_status",
                "distribution_status": label, "created_at": now}

    store = LeadStore(duckdb_url)
    try:
        with store.begin() as conn:
            store.insert_frame(conn, tables.writeback_batches, pd.DataFrame([
                {"batch_id": "sent1", "source": "sfdc", "target_name": "-", "event_count": 1, "created_at": now,
                 "state": "sent", "sent_at": now, "result": "ok"},
                {"batch_id": "half", "source": "sfdc", "target_name": "-", "event_count": 1, "created_at": now,
                 "state": "prepared", "sent_at": None, "result": None}]))
            store.insert_frame(conn, tables.writeback_outbox, pd.DataFrame([
                event(1, "Routed"),  # written back (its batch sent): not pending
                event(2, "Accepted"), event(3, "Accepted"),  # never bound: pending
                event(4, "Routed"),  # refused in a sent batch: pending again, with the reason
                event(5, "Not Routed")]))  # in a batch prepared, not recorded as sent
            o = tables.writeback_outbox
            seq = dict(conn.execute(sa.select(o.c.event_id, o.c.seq)).all())
            store.insert_frame(conn, tables.writeback_bindings, pd.DataFrame(
                {"event_id": ["e1", "e4", "e5"], "batch_id": ["sent1", "sent1", "half"],
                 "seq": [seq["e1"], seq["e4"], seq["e5"]]}))
            store.insert_frame(conn, tables.writeback_refusals, pd.DataFrame([
                {"event_id": "e4", "batch_id": "sent1", "error": "INVALID_FIELD: LeadSync_Partner__c",
                 "refused_at": now}]))
        rows = pending_writeback(store)
    finally:
        store.dispose()
    got = {(r["label"], r["events"]): r["why"] for r in rows}
    assert set(got) == {("Accepted", 2), ("Routed", 1), ("Not Routed", 1)}
    assert "auto-accept partner" in got[("Accepted", 2)] and "after sfdc's writeback" in got[("Accepted", 2)]
    assert "refused by sfdc (INVALID_FIELD" in got[("Routed", 1)]
    assert "prepared but did not record as sent" in got[("Not Routed", 1)]
    assert format_pending(rows).startswith("pending writeback: 4 events not written back yet")
    assert format_pending([]).startswith("pending writeback: none")


def test_the_scale_instance_queues_runs_per_source_on_postgres(scale_home, monkeypatch):
    monkeypatch.setenv("LEADSYNC_PROFILE", "scale")
    monkeypatch.setenv("LEADSYNC_STORE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    instance = dg.DagsterInstance.from_config(str(scale_home))
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    # dagster-postgres's storage, its connections kept per process (tests/scale/test_dagster_storage.py)
    assert type(instance.run_storage).__name__ == "PooledPostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PooledPostgresEventLogStorage"
    queue = instance.get_concurrency_config().run_queue_config
    limits = {limit["key"]: limit for limit in queue.tag_concurrency_limits}
    assert limits["leadsync/source"]["limit"] == 1 and limits["leadsync/source"]["value"]["applyLimitPerUniqueValue"]
    assert limits["leadsync/backfill"]["limit"] == 4
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    assert instance.run_retries_enabled

    # the code location under the profile: Celery executor, a pool per source, sync runs tagged by source
    defs = build_definitions(REPO / "mappings")
    job = defs.resolve_job_def("sftp_demo_sync")
    assert job.executor_def.name == "celery" and job.tags["leadsync/source"] == "sftp_demo"
    assert defs.resolve_assets_def(dg.AssetKey(["sftp_demo", "raw_rows"])).op.pool == "leadsync_source_sftp_demo"

    # every pool gets its limit explicitly, even over a row Dagster made from an older default (dagster#33552)
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default("lead_store")
    pools = pools_of(defs)
    assert {"lead_store", "leadsync_source_sftp_demo"} <= pools
    set_pool_limits(instance, pools)
    limits = {p.name: p for p in storage.get_pool_limits()}
    assert all(limits[p].limit == 1 and not limits[p].from_default for p in pools)



def test_the_orchestrator_asks_for_finished_steps_ten_times_a_second(postgres_url):
    """dagster-celery's loop sleeps TICK_SECONDS between its rounds (1 s, no setting): the scale executor sets
    it to STEP_POLL_S, so a chain's next step starts within a tenth of a second of the last one's end rather than
    half a second on average. Fails when a dagster-celery release stops sleeping on that constant."""
    from dagster_celery import core_execution_loop

    from leadsync.runs.executors import STEP_POLL_S, executor_for

    executor_for("scale", postgres_url)
    assert core_execution_loop.TICK_SECONDS == STEP_POLL_S == 0.1
