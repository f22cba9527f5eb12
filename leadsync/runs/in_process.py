"""Jobs run in this process with a progress bar per stage (`leadsync demo`): the bars follow the run's event
log in the instance, so Dagster's own log stays there (`--verbose` prints it too).

`job_runner` builds the code location from the project's mappings and opens the instance $DAGSTER_HOME names;
`run_job` executes one job of it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg
from dagster._core.utils import make_new_run_id
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

# The order stages run in, and which steps (by the asset key's last part) belong to each.
STAGES = (
    ("pull", ("raw_rows",)),
    ("map + validate", ("leads",)),
    ("route", ("assignments", "reroutes")),
    ("deliver", ("deliveries", "crm_deliveries", "crm_updates", "leaderboard")),
    ("write back", ("writeback",)),
    ("reports", ()),
)
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def stage_of(step_key: str) -> str:
    """The stage a step of the job belongs to (its asset key's last part), e.g. 'sftp_demo__leads' → map."""
    last = step_key.split("__")[-1]
    if step_key.startswith("reports__"):
        return "reports"
    if last.endswith(("_connection_ok", "_configuration_valid")):
        return "pull"
    return next((name for name, parts in STAGES if last in parts), "reports")


# What the progress bars follow.
STEP_EVENTS = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
               dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED}


@dataclass
class RunOutcome:
    job: str
    run_id: str
    success: bool
    seconds: float
    failed_steps: list[str]
    result: object


def run_job(console: Console, defs, job_name: str, instance, verbose: bool, title: str) -> RunOutcome:
    """Execute `job_name` in process with a progress bar per stage, fed from the run's event log."""
    job = defs.resolve_job_def(job_name)
    steps = [node.name for node in job.graph.nodes]
    per_stage = Counter(stage_of(s) for s in steps)
    run_id = make_new_run_id()
    done: set[str] = set()
    failed: list[str] = []
    console.print(f"[bold]{title}[/]  (run {run_id[:8]}; its log is in the instance: `dagster dev` shows it)")
    columns = (TextColumn("  {task.description:<16}"), BarColumn(bar_width=30), MofNCompleteColumn(),
               TextColumn("{task.fields[now]}"), TimeElapsedColumn())
    started_at = time.perf_counter()
    with Progress(*columns, console=console, transient=False, disable=verbose) as progress:
        tasks = {name: progress.add_task(name, total=per_stage[name], now="", start=False)
                 for name, _ in STAGES if per_stage.get(name)}
        stop = threading.Event()

        def follow() -> None:
            while not stop.wait(0.25):
                _update(instance, run_id, STEP_EVENTS, tasks, progress, done, failed)

        follower = threading.Thread(target=follow, name="demo-progress", daemon=True)
        follower.start()
        try:
            result = job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False,
                                            run_config=None if verbose else QUIET_RUN_CONFIG)
        finally:
            stop.set()
            follower.join(timeout=5)
        _update(instance, run_id, STEP_EVENTS, tasks, progress, done, failed)
    return RunOutcome(job_name, run_id, result.success, time.perf_counter() - started_at, failed, result)


def _update(instance, run_id, types, tasks, progress, done, failed) -> None:
    """Progress from the run's step events (`types`: the storage filters them; every record of a run was read back
    four times a second, about an eighth of a demo's CPU)."""
    try:
        records = instance.all_logs(run_id, of_type=types)
    except Exception:  # noqa: BLE001 - the storage being written this instant: read again next tick
        return
    running: dict[str, list[str]] = {}
    for record in records:
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        stage = stage_of(event.step_key)
        if stage not in tasks:
            continue
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_START:
            running.setdefault(stage, []).append(event.step_key)
            if next(t for t in progress.tasks if t.id == tasks[stage]).start_time is None:
                progress.start_task(tasks[stage])  # the stage's clock runs from its first step
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
                      dg.DagsterEventType.STEP_SKIPPED):
            running.get(stage, []).remove(event.step_key) if event.step_key in running.get(stage, []) else None
            if event.step_key not in done:
                done.add(event.step_key)
                progress.advance(tasks[stage])
                if kind == dg.DagsterEventType.STEP_FAILURE:
                    failed.append(event.step_key)
    for stage, task in tasks.items():
        now = running.get(stage) or []
        bad = [s for s in failed if stage_of(s) == stage]
        text = ("[red]failed: " + ", ".join(bad) + "[/] ") if bad else ""
        text += ("now: " + ", ".join(s.split("__")[0] for s in now)) if now else ""
        progress.update(task, now=text)


@contextmanager
def job_runner(console: Console, mappings: str | None, verbose: bool) -> Iterator[Callable[[str, str], RunOutcome]]:
    """`run(job_name, title)` for the code location built from `mappings`, on the instance of $DAGSTER_HOME."""
    from leadsync.defs.build import build_definitions

    defs = build_definitions(mappings)
    with dg.DagsterInstance.get() as instance:
        yield lambda job_name, title: run_job(console, defs, job_name, instance, verbose, title)
