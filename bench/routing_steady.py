"""Benchmark: routing on a store that already holds its history, when nothing (or little) is new: what every
scheduled sync pays. A routing run that looks for unrouted leads across the source's whole history costs more
with every lead the store has kept; one that looks only in the batches not yet routed costs the same at 1M or 10M.

    .venv/bin/python bench/scale_1m.py --modes scale2 --keep        # a Postgres store: 1M leads routed
    .venv/bin/python bench/routing_steady.py postgresql+psycopg://postgres@127.0.0.1:5432/leadsync_bench_…

Against that store (unchanged: nothing is new), per source (sftp_demo and sftp_two, the mapping of
mappings/sources/sftp_demo.yaml under each name): a routing run with nothing new, timed --repeat times, the
fastest printed, with the Postgres server's CPU for it (every `postgres` process's, from /proc: run it on an
idle server) where the store is on Postgres.
The first run on a store made before the routed-batches ledger (schema 8) still reads the whole history once and
records every batch it finds routed; the figures are the runs after it.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg  # noqa: F401 - the store's driver, imported before the clock
from proc_stat import processes

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from leadsync.assign import route_new_leads
from leadsync.config.loader import load_partners, load_source
from leadsync.store import LeadStore

SOURCES = ("sftp_demo", "sftp_two")


def server_cpu(store: LeadStore) -> float:
    """CPU seconds of every Postgres server process so far (the routing run's backend is one of them)."""
    return sum(p.cpu_s for _pid, p in processes() if p.name == "postgres") if store.dialect == "postgresql" else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store", help="a store's URL (kept by bench/scale_1m.py --keep, or a DuckDB file's)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    store = LeadStore(args.store)
    demo = load_source(REPO / "mappings/sources/sftp_demo.yaml")
    partners = load_partners(REPO / "mappings/partners.yaml")
    now = datetime.now(UTC)
    for name in SOURCES:
        cfg = demo.model_copy(update={"name": name})
        first = route_new_leads(cfg, partners, store, now)  # a store without the ledger records it here
        print(f"{name}: first run routed {first.decided:,} leads", flush=True)
        best = None
        for _ in range(args.repeat):
            cpu, started = server_cpu(store), time.perf_counter()
            report = route_new_leads(cfg, partners, store, now)
            took, used = time.perf_counter() - started, server_cpu(store) - cpu
            assert report.decided == 0, "nothing was new"
            if best is None or took < best[0]:
                best = (took, used)
        server = f"   postgres cpu {best[1]:6.3f} s" if store.dialect == "postgresql" else ""
        print(f"  {name:<10} routing, nothing new {best[0]:7.3f} s{server}", flush=True)
    store.dispose()


if __name__ == "__main__":
    main()
