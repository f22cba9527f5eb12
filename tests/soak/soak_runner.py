"""One seeded soak: rounds of (new files on the inbox, partners at work in their CRM, faults armed, one run of the
`leadsync` job that the faults hit), then clean runs until nothing is left to do, then the invariants.

The seed decides everything the soak chooses (files, faults, their moments), so a failing seed replays the same
scenario; the run's own timing still varies (where a SIGKILL lands inside a step)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from soak_faults import arm_round, disarm, run_beside
from soak_invariants import violations
from soak_world import World, build_world

from leadsync.demo import partners_at_work
from leadsync.store import LeadStore


# what only reads (the store, the YAML, a vendor's describe): the reports and the asset checks
READ_ONLY_OPS = ("reports__", "partners__leaderboard", "_configuration_valid", "_connection_ok")


@dataclass
class SoakReport:
    seed: int
    faults: Counter = field(default_factory=Counter)
    runs: Counter = field(default_factory=Counter)
    violations: dict[str, list[str]] = field(default_factory=dict)
    clean_runs_failed: list[str] = field(default_factory=list)
    peak_rss_kb: int = 0

    @property
    def violation_count(self) -> int:
        return sum(map(len, self.violations.values())) + len(self.clean_runs_failed)


def rows_of(path: Path) -> int:
    """Data rows of a dropped file as the producer wrote it; -1 for a file that lacks the Email column."""
    if path.suffix == ".xlsx":
        frame = pd.read_excel(path, dtype=str)
    else:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
        sep = ";" if text.splitlines()[0].count(";") > text.splitlines()[0].count(",") else ","
        frame = pd.read_csv(pd.io.common.StringIO(text), sep=sep, dtype=str)
    return len(frame) if "Email" in frame.columns else -1


def soak(root: Path, seed: int, rounds: int, faults_per_round: int, kill_chance: float = 0.5,
         leads: int = 60, file_leads: int = 30, clean_runs: int = 2, log=print,
         read_only_steps: bool = True) -> SoakReport:
    """`read_only_steps=False` leaves out of the runs what only reads (READ_ONLY_OPS): the suite's small soak
    has a minute."""
    rng = random.Random(seed)
    report = SoakReport(seed)
    world = build_world(root, leads=leads, seed=seed % 1000)
    world.leave_out = () if read_only_steps else READ_ONLY_OPS
    dropped: dict[str, int] = {}
    try:
        for n in range(rounds):
            for path in world.drop_files(file_leads, seed=rng.randrange(10**6)):
                dropped[path.name] = rows_of(path)
            _partners_work(world)
            armed = arm_round(world, rng, faults_per_round, kill_chance)
            outcome = world.run(run_beside(armed))
            fired = disarm(armed)
            outcome.lost_answers.update(a.target for a in armed if a.kind == "timeout" and a.count_fired())
            report.faults.update(fired)
            report.runs[outcome.status] += 1
            log(f"seed {seed} round {n + 1}/{rounds}: run {outcome.status} in {outcome.seconds:.0f}s, faults fired "
                f"{dict(fired)} ({'; '.join(a.detail for a in armed)})")
        for n in range(clean_runs):
            if n == 0:
                _partners_work(world)
            outcome = world.run()
            report.runs[outcome.status] += 1
            log(f"seed {seed} clean run {n + 1}/{clean_runs}: {outcome.status} in {outcome.seconds:.0f}s")
            if outcome.status != "SUCCESS":
                report.clean_runs_failed.append(f"clean run {n + 1} ({outcome.run_id}) ended {outcome.status}: "
                                                f"{outcome.output[-1500:]}")
        report.violations = violations(world, dropped)
        report.peak_rss_kb = max(run.peak_rss_kb for run in world.runs)
    finally:
        _stop(world)
    return report


def _stop(world: World) -> None:
    """Stop the launcher and the sandboxes; a failure while stopping must not hide the soak's own error."""
    world.stop_launcher()
    try:
        world.sandboxes.stop()
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the soak's outcome matters more
        print(f"stopping the sandboxes: {exc!r}")


def _partners_work(world: World) -> None:
    """Maple's reps work some of the leads leadsync created in its CRM: status changes and a conversion come back
    as lifecycle events, whose writebacks the next run sends."""
    store = LeadStore(world.store_url)
    try:
        partners_at_work(world.sandboxes, store)
    finally:
        store.dispose()
