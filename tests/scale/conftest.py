"""Fixtures of the scale-profile tests: the lead drop, a Dagster instance on a fresh Postgres database, and the
embedded default's result on the same input (the reference every scale-profile run must match)."""

import pickle
from pathlib import Path

import pytest
from filelock import FileLock, Timeout
from scale_runs import LEADS, free_port, scale_home_on_postgres
from three_sources import lead_files, snapshot, three_sources

from leadsync.defs.build import build_definitions


@pytest.fixture
def drop(tmp_path) -> Path:
    return lead_files(tmp_path / "drop", LEADS)


@pytest.fixture
def scale_home(tmp_path, monkeypatch) -> Path:
    """A Dagster instance configured as dagster_home/scale/dagster.yaml, on a fresh Postgres database."""
    with scale_home_on_postgres(tmp_path / "dagster_home", monkeypatch) as home:
        yield home


@pytest.fixture(autouse=True, scope="session")
def celery_executor_polls_often():
    """The Celery executor that orchestrates a run in the test's process looks at its steps' results once a
    second (dagster_celery/core_execution_loop.py TICK_SECONDS), so every step of a run waits half a second on
    average before the run notices it finished and submits what follows: ~40 steps, mostly one after the other
    (one pool per source, one for the partner and report steps). Polling every 0.1 s changes no outcome, only
    when the next step is submitted; the workers, the queue and the run are the same."""
    from dagster_celery import core_execution_loop

    assert isinstance(core_execution_loop.TICK_SECONDS, int | float)  # still the loop's poll interval
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(core_execution_loop, "TICK_SECONDS", 0.1)
        yield


@pytest.fixture(scope="session")
def embedded_result(tmp_path_factory, worker_id) -> dict:
    """The embedded default's result on the same input: the reference every scale-profile run must match.
    Once per test run where it can be: both test files compare against it (the same seed gives the same input).
    Under pytest-xdist each worker is a session of its own, and the two files run on different workers: the
    first to need it runs the embedded job and leaves the result beside the workers' temporary folders, and a
    worker that needs it later reads it (one embedded run fewer: 15 s alone, 30 s or more in the suite). A worker
    that needs it while another is still making it makes its own rather than sit idle."""
    if worker_id == "master":  # not distributed: this process is the whole test run
        reference = _embedded_run(tmp_path_factory.mktemp("embedded"))
    else:
        shared = tmp_path_factory.getbasetemp().parent / "scale_embedded_result.pickle"
        try:
            with FileLock(f"{shared}.lock", timeout=0):
                if shared.is_file():
                    reference = pickle.loads(shared.read_bytes())
                else:
                    reference = _embedded_run(tmp_path_factory.mktemp("embedded"))
                    shared.write_bytes(pickle.dumps(reference))
        except Timeout:  # being made on another worker
            reference = _embedded_run(tmp_path_factory.mktemp("embedded"))
    # the input exercises every outcome the scale runs are compared on (see LEADS)
    outcomes = {(source, status) for source, status, _ in reference["assignments_per_partner"]}
    assert {(s, st) for s in ("sftp_demo", "sfdc", "mkto") for st in ("routed", "accepted", "unassigned")} <= outcomes
    assert len({partner for _, status, partner in reference["assignments_per_partner"] if status == "routed"}) >= 6
    assert len({key for key, _ in reference["slots_handed_out"]}) >= 10
    return reference


def _embedded_run(root: Path) -> dict:
    """Run the `leadsync` job in process on the embedded default (DuckDB) over three fresh sandboxes under
    `root`; snapshot() of its store."""
    from leadsync.connectors.smtp_sandbox import SmtpSandbox

    with pytest.MonkeyPatch.context() as mp, SmtpSandbox(root / "mail", port=free_port()) as smtp, \
            three_sources(root / "project", lead_files(root / "drop", LEADS), smtp.port) as project:
        for k, v in project.env.items():
            mp.setenv(k, v)
        mp.setenv("LEADSYNC_PROFILE", "embedded")  # whatever a scale-profile fixture of the session has set
        url = f"duckdb:///{root / 'leadsync.duckdb'}"
        assert build_definitions(project.mappings, url).resolve_job_def("leadsync") \
            .execute_in_process(raise_on_error=False).success
        return snapshot(url)
