"""A run killed with kill -9 in the middle of a step, on the embedded default (`dagster job execute`, SQLite
instance, DuckDB store, pool lead_store of one slot): the next run frees the dead run's slot by itself, says
which run held it, and runs to success."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from jobs import raw_rows
from three_sources import salesforce_source, write_source

from leadsync.connectors.salesforce.sandbox import SalesforceSandbox

REPO = Path(__file__).resolve().parents[1]
JOB = "sfdc_sync"


@pytest.fixture
def sfdc_project(project, tmp_path):
    """The test project with one Salesforce source on a fresh org, and its own Dagster instance."""
    for f in (project / "mappings/sources").glob("*.yaml"):
        f.unlink()
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home/dagster.yaml", home / "dagster.yaml")
    with SalesforceSandbox() as org:
        org.seed(leads=40, seed=3)
        write_source(project / "mappings", salesforce_source(org))
        env = {**os.environ, "DAGSTER_HOME": str(home), "LEADSYNC_MAPPINGS_DIR": str(project / "mappings"),
               "LEADSYNC_STORE_URL": f"duckdb:///{tmp_path / 'leads.duckdb'}",
               "SFDC_KEY": org.credentials.client_id, "SFDC_SECRET": org.credentials.client_secret,
               "LEADSYNC_LIFECYCLE_SECRET": "test-lifecycle-secret"}
        yield org, env, home


def execute(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "job", "execute", "-m", "leadsync.definitions", "-j", JOB],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def claimed_slots(home: Path) -> list[tuple[str, str]]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info("lead_store")
        return [(s.run_id, s.step_key) for s in info.claimed_slots]


def test_a_run_killed_mid_step_does_not_hold_the_store_pool_and_the_next_run_names_it(sfdc_project):
    org, env, home = sfdc_project
    gate = org.http.faults.hold_next("/query", skip=1)  # the lead query of the pull: campaigns read, leads next
    first = execute(env)
    try:
        assert gate.wait_reached(120), "the first run never reached the Salesforce lead query"
        held = claimed_slots(home)
        assert [step for _, step in held] == ["sfdc__raw_rows"], held  # mid-step, holding the store's one slot
        dead_run = held[0][0]
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        gate.release()
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
    assert first.returncode == -signal.SIGKILL
    assert claimed_slots(home) == [(dead_run, "sfdc__raw_rows")]  # nobody freed it

    second = execute(env)
    try:
        out, _ = second.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(second.pid, signal.SIGKILL)
        out, _ = second.communicate()
        pytest.fail(f"the second run did not finish (blocked by the dead run's slot?):\n{out[-3000:]}")
    assert second.returncode == 0, out[-3000:]
    assert f"freed the slot held by run {dead_run}" in out
    assert "pid" in out and "is gone" in out
    assert claimed_slots(home) == []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        dead = instance.get_run_by_id(dead_run)
        assert dead.status == dg.DagsterRunStatus.FAILURE  # no longer shown as running
        failure = instance.get_records_for_run(dead_run, of_type=dg.DagsterEventType.RUN_FAILURE).records
        assert dead_run in failure[-1].event_log_entry.dagster_event.message
        later = [r for r in instance.get_runs() if r.run_id != dead_run]
        assert [r.status for r in later] == [dg.DagsterRunStatus.SUCCESS]
    # the killed pull stored nothing: the second one stored each lead once (a row per campaign it is in)
    org_ids = {r["Id"] for r in org.connect().query_all("SELECT Id FROM Lead")["records"]}
    rows = raw_rows(env["LEADSYNC_STORE_URL"], "sfdc")
    assert set(rows["Id"]) == org_ids
    assert not rows.duplicated(["Id", "CampaignId"]).any() and rows["batch_id"].nunique() == 1


def test_a_live_holder_keeps_its_slot(tmp_path):
    """A slot held by a run whose process is alive is not freed: only dead holders are."""
    from leadsync.defs.pool_slots import free_dead_holders, process_alive, slot_holders

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home/dagster.yaml", home / "dagster.yaml")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            live, dead = (_started_run(instance, pid) for pid in (sleeper.pid, _dead_pid()))
            storage = instance.event_log_storage
            storage.set_concurrency_slots("lead_store", 2)
            for run in (live, dead):
                assert storage.claim_concurrency_slot("lead_store", run.run_id, "sfdc__raw_rows").is_claimed
            freed = free_dead_holders(instance)
            assert [h.run_id for h in freed] == [dead.run_id]
            assert [h.run_id for h in slot_holders(instance)] == [live.run_id]
            assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
            assert instance.get_run_by_id(live.run_id).status == dg.DagsterRunStatus.STARTED
        assert process_alive(sleeper.pid, time.time())
        assert not process_alive(sleeper.pid, time.time() - 3600)  # a pid reused since: another process
    finally:
        sleeper.kill()
        sleeper.wait()


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def _started_run(instance: dg.DagsterInstance, pid: int) -> dg.DagsterRun:
    """A run recorded as started by process `pid` (its RUN_START event carries the pid, as a run worker's does)."""
    from dagster._core.events import DagsterEvent, DagsterEventType
    from dagster._core.events.log import EventLogEntry

    run = instance.create_run_for_job(dg.GraphDefinition("noop").to_job(), run_id=None)
    instance.handle_new_event(EventLogEntry(
        error_info=None, level="DEBUG", user_message="", run_id=run.run_id, timestamp=time.time(),
        dagster_event=DagsterEvent(DagsterEventType.RUN_START.value, job_name=run.job_name, pid=pid)))
    return instance.get_run_by_id(run.run_id)


def test_the_daemon_sensor_frees_a_dead_runs_slot_and_names_it(tmp_path):
    """Under `dagster dev` a run may already be waiting when its blocker dies: the sensor frees the slot."""
    from leadsync.defs.pool_recovery import dead_run_slots

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home/dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        dead = _started_run(instance, _dead_pid())
        instance.event_log_storage.set_concurrency_slots("lead_store", 1)
        assert instance.event_log_storage.claim_concurrency_slot("lead_store", dead.run_id, "mkto__leads").is_claimed
        result = dead_run_slots(dg.build_sensor_context(instance=instance))
        assert f"freed the slot held by run {dead.run_id}" in result.skip_message
        assert "mkto__leads" in result.skip_message
        assert instance.event_log_storage.get_concurrency_info("lead_store").claimed_slots == []
        quiet = dead_run_slots(dg.build_sensor_context(instance=instance))
        assert quiet.skip_message == "No pool slot is held by a dead run."
