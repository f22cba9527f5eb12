"""Where the Postgres server's CPU goes while something else runs: each server process's CPU seconds (from
/proc, user + system) sampled every --every seconds against what `pg_stat_activity` showed it doing, summed
per statement (literals and numbers masked, so a statement repeated with other values counts as one), per
background process type (autovacuum, checkpointer, parallel worker, …) and, for a backend between statements,
per state (`[idle in transaction] <its last statement>`).

    .venv/bin/python bench/postgres_cpu.py [--url postgresql://postgres@127.0.0.1:5432/test] [--every 0.25] \
        [--top 40] &
    .venv/bin/python bench/scale_1m.py --modes scale2
    kill -INT %1        # prints the table and exits

Needs to run on the Postgres server's machine (it reads /proc/<pid>/stat of the server's processes). A process's
CPU used between two samples is put on what the second sample saw, so a statement shorter than the interval can
be missed or lent to its neighbour, and the CPU of a backend that exits between samples is lost: the sum is a
little under what the server used (compare `bench/scale_1m.py`'s `postgres` figure).
"""

from __future__ import annotations

import argparse
import re
import signal
import time
from collections import Counter

import psycopg
from proc_stat import cpu_seconds

ACTIVITY = ("SELECT pid, coalesce(backend_type, ''), coalesce(state, ''), coalesce(query, '') "
            "FROM pg_stat_activity WHERE pid <> pg_backend_pid()")


def statement(query: str, width: int = 150) -> str:
    """The statement as one line, its literals and numbers masked."""
    text = re.sub(r"\s+", " ", query)
    text = re.sub(r"'[^']*'", "'?'", text)
    return re.sub(r"\b\d+\b", "N", text)[:width]


def what(backend_type: str, state: str, query: str) -> str:
    if backend_type != "client backend":
        return backend_type or "(unknown process)"
    return statement(query) if state == "active" else f"[{state}] {statement(query)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--every", type=float, default=0.25, help="seconds between samples")
    parser.add_argument("--top", type=int, default=40, help="rows to print")
    args = parser.parse_args()
    stopped = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.append(True))
    last: dict[int, float] = {}
    used: Counter[str] = Counter()
    with psycopg.connect(args.url, autocommit=True) as conn:
        while not stopped:
            for pid, backend_type, state, query in conn.execute(ACTIVITY).fetchall():
                now = cpu_seconds(pid)
                if now is None:
                    continue
                before, last[pid] = last.get(pid), now
                if before is not None and now > before:
                    used[what(backend_type, state, query)] += now - before
            time.sleep(args.every)
    print(f"{sum(used.values()):.1f} CPU s attributed")
    for name, seconds in used.most_common(args.top):
        print(f"{seconds:7.2f}  {name}")


if __name__ == "__main__":
    main()
