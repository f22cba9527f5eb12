"""Fault-injection soak, run on demand: seeded multi-run scenarios over all four sources, Maple's CRM org and the
SMTP server, until at least --min-faults faults have fired; then the invariants (tests/soak/soak_invariants.py).

    python bench/soak.py                         # seeds 1, 2, ... until 1,000 faults have fired (a 6-round seed took 14 min here)
    python bench/soak.py --seed 7 --seeds 1      # replay one seed exactly as it was chosen
    python bench/soak.py --rounds 3 --min-faults 50 --faults-per-round 12

Each seed is one world (fresh sandboxes, store and Dagster instance) and --rounds runs of the `leadsync` job, each
hit by --faults-per-round faults drawn at random (vendor 429/5xx/timeouts/dropped connections/token expiry/partial
batch refusals, SFTP drops, SMTP down, store locked) and, with --kill-chance, a SIGKILL of the run process inside
a vendor call or between steps; then --clean-runs runs without faults. It prints the faults that fired by kind,
the runs by outcome, every invariant violation (must be 0) and the command that replays a failing seed.
Peak RSS of the run processes comes from their rusage (the warm launcher waits for each: tests/soak/soak_launcher.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the repo first (tests/connectors must not shadow the connectors package), then the soak's helper modules
sys.path[:0] = [str(REPO)]
sys.path += [str(REPO / "tests"), str(REPO / "tests/soak")]

from soak_runner import soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--seeds", type=int, default=0, help="how many seeds at most (default: until --min-faults)")
    parser.add_argument("--min-faults", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=8, help="faulted runs per seed")
    parser.add_argument("--faults-per-round", type=int, default=16)
    parser.add_argument("--kill-chance", type=float, default=0.5, help="chance a round also SIGKILLs its run")
    parser.add_argument("--clean-runs", type=int, default=2)
    parser.add_argument("--leads", type=int, default=60, help="records each API sandbox is seeded with")
    parser.add_argument("--file-leads", type=int, default=30, help="rows of the big CSV dropped each round")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the worlds here (default: a temp dir)")
    args = parser.parse_args()

    faults, runs, failing, peak_kb = Counter(), Counter(), [], 0
    seed, done, started = args.seed, 0, time.monotonic()
    with tempfile.TemporaryDirectory(prefix="leadsync-soak-") as tmp:
        base = args.work_dir or Path(tmp)
        while sum(faults.values()) < args.min_faults and (not args.seeds or done < args.seeds):
            report = soak(base / f"seed-{seed}", seed=seed, rounds=args.rounds,
                          faults_per_round=args.faults_per_round, kill_chance=args.kill_chance, leads=args.leads,
                          file_leads=args.file_leads, clean_runs=args.clean_runs, log=print)
            faults.update(report.faults)
            runs.update(report.runs)
            peak_kb = max(peak_kb, report.peak_rss_kb)
            print(f"seed {seed}: {sum(report.faults.values())} faults fired, {report.violation_count} violations")
            if report.violation_count:
                failing.append(report)
            seed, done = seed + 1, done + 1

    print(f"\nsoak: {done} seeds in {(time.monotonic() - started) / 60:.1f} min")
    print(f"faults injected (fired): {sum(faults.values())}  " + ", ".join(f"{k} {n}" for k, n in faults.most_common()))
    print(f"runs: {sum(runs.values())}  " + ", ".join(f"{k} {n}" for k, n in runs.most_common()))
    print(f"peak RSS of a run process: {peak_kb / 1024:.0f} MB (rusage)")
    violations = sum(r.violation_count for r in failing)
    print(f"invariant violations: {violations}")
    for report in failing:
        print(f"\nseed {report.seed}: replay with  python bench/soak.py --seed {report.seed} --seeds 1 "
              f"--rounds {args.rounds} --faults-per-round {args.faults_per_round} --kill-chance {args.kill_chance}")
        for name, found in report.violations.items():
            for line in found[:20]:
                print(f"  [{name}] {line}")
        for line in report.clean_runs_failed:
            print(f"  [clean run] {line}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
