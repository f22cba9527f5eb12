"""Pool slots held by runs whose process is gone: found, freed, and named to the operator.

A run's step claims a slot of its pool (`lead_store` on the embedded default) in the instance's event log
storage and frees it when the step ends. A run killed with SIGKILL (or a crash, an OOM kill) never frees it,
and Dagster itself frees slots only of runs that have *ended* (run monitoring's
`free_slots_after_run_end_seconds`); a run killed mid-step stays STARTED, so every later run waited for ever
("Step blocked by limit for pool lead_store"). This module tells a dead holder from a live one by the process
that orchestrates the run (the pid Dagster records on the run's events), then marks the dead run failed and
frees its slots through the storage's own API, never by editing Dagster's tables.

Only for the embedded default: every run there is a process on this machine. On the scale profile run workers
live on other hosts, where a local pid means nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.storage.dagster_run import FINISHED_STATUSES

# events whose pid is the run's orchestrating process: the run worker's start and the executor's engine events
_ORCHESTRATOR_EVENTS = {DagsterEventType.RUN_START, DagsterEventType.ENGINE_EVENT}


@dataclass(frozen=True)
class SlotHolder:
    """A run holding (or queued for) slots of `pool`: its steps, status and orchestrating process."""

    pool: str
    run_id: str
    steps: tuple[str, ...]
    status: str
    pid: int | None
    alive: bool

    def freed_message(self) -> str:
        process = f"its process (pid {self.pid}) is gone" if self.pid else "it has no process left"
        ended = "" if self.status == "STARTED" else f" (status {self.status})"
        return (f"Pool {self.pool!r}: freed the slot held by run {self.run_id}{ended} for step(s) "
                f"{', '.join(self.steps)}: {process} (killed with kill -9, crashed or ended without freeing it). "
                f"Run {self.run_id} is marked failed; what it had not finished is picked up by the next run of its "
                "assets, from the store's ledgers.")

    def waiting_message(self) -> str:
        return (f"Pool {self.pool!r} is held by run {self.run_id} (step(s) {', '.join(self.steps)}, pid {self.pid}, "
                "still running): steps of this run in that pool wait until it ends. If that run is hung, terminate it "
                f"(UI: Runs > {self.run_id} > Terminate, or `dagster run delete {self.run_id}`).")


def slot_holders(instance: dg.DagsterInstance, except_run: str | None = None) -> list[SlotHolder]:
    """Every run other than `except_run` holding or queued for a slot of any pool, one entry per (pool, run)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    holders = []
    for pool in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(pool)
        steps: dict[str, list[str]] = {}
        for slot in info.claimed_slots:
            steps.setdefault(slot.run_id, []).append(slot.step_key)
        for pending in info.pending_steps:
            steps.setdefault(pending.run_id, []).append(pending.step_key)
        for run_id, keys in steps.items():
            if run_id != except_run:
                holders.append(_holder(instance, pool, run_id, tuple(sorted(set(keys)))))
    return holders


def free_dead_holders(instance: dg.DagsterInstance, except_run: str | None = None) -> list[SlotHolder]:
    """Free every slot held by a run whose process is gone (or that has ended); returns those holders.

    A dead run still marked STARTED/STARTING/CANCELING is reported failed first (its run page then says why),
    so the UI and the run queue no longer count it as running."""
    freed, done = [], set()
    for holder in slot_holders(instance, except_run):
        if holder.alive:
            continue
        if holder.run_id not in done:
            run = instance.get_run_by_id(holder.run_id)
            if run is not None and run.status not in FINISHED_STATUSES:
                instance.report_run_failed(run, holder.freed_message())
            instance.event_log_storage.free_concurrency_slots_for_run(holder.run_id)
            done.add(holder.run_id)
        freed.append(holder)
    return freed


def _holder(instance: dg.DagsterInstance, pool: str, run_id: str, steps: tuple[str, ...]) -> SlotHolder:
    run = instance.get_run_by_id(run_id)
    if run is None:  # deleted: nobody can free its slots but us
        return SlotHolder(pool, run_id, steps, "DELETED", None, False)
    status = run.status.value
    if run.status in FINISHED_STATUSES:
        return SlotHolder(pool, run_id, steps, status, None, False)
    pid, since = _orchestrator(instance, run_id)
    if pid is None:  # starting, no event yet: a process is on its way; give it the benefit of the doubt
        return SlotHolder(pool, run_id, steps, status, None, True)
    return SlotHolder(pool, run_id, steps, status, pid, process_alive(pid, since))


def _orchestrator(instance: dg.DagsterInstance, run_id: str) -> tuple[int | None, float]:
    """The pid of the run's orchestrating process and when it was recorded: the executor's engine event names it
    in its metadata ("pid"); the run worker's RUN_START event carries it. Other processes (the daemon, a code
    server) write engine events into the run too, with their own pid and no "pid" metadata: skipped."""
    records = instance.get_records_for_run(run_id, of_type=_ORCHESTRATOR_EVENTS, ascending=False, limit=50).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None or event.step_key is not None:
            continue
        metadata = getattr(event.event_specific_data, "metadata", None) or {}
        if "pid" in metadata:
            return int(metadata["pid"].value), record.event_log_entry.timestamp
        if event.event_type == DagsterEventType.RUN_START and event.pid:
            return event.pid, record.event_log_entry.timestamp
    return None, 0.0


def process_alive(pid: int, since: float = 0.0) -> bool:
    """Whether process `pid` runs and is the one that wrote an event at `since` (epoch seconds): a zombie is
    dead, and a pid reused by a process started after `since` belongs to someone else."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():  # no /proc (not Linux): existence is all we can tell
        return True
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False  # it ended while we looked
    if fields[0] == "Z":
        return False
    started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return since == 0.0 or started <= since + 1.0


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0
