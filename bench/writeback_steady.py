"""Benchmark: the write-back of a store that already holds its history, when little is new: what every scheduled
sync pays. A write-back that reads the source's whole history costs more with every lead the store has kept;
one that reads only what is new costs the same at 1M or 10M.

    .venv/bin/python bench/scale_1m.py --modes scale2 --keep        # a Postgres store: 1M leads written back
    .venv/bin/python bench/writeback_steady.py postgresql+psycopg://postgres@127.0.0.1:5432/leadsync_bench_…

Against that store (changed: events are added and written back), per source: the count of its pending events
with nothing new, binding a batch with nothing new (none is made), then with --new events queued: binding them
and rendering their status file. Each timed --repeat times, the fastest printed, with the Postgres server's CPU
for it (its backend's, from /proc) where the store is on Postgres.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from proc_stat import cpu_seconds

from leadsync.store import LeadStore, tables
from leadsync.writeback import outbox, sftp_status_file


def backend_cpu(conn: sa.Connection) -> float | None:
    """The CPU seconds of `conn`'s Postgres backend so far (the server must run on this machine)."""
    if conn.dialect.name != "postgresql":
        return None
    return cpu_seconds(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def timed(name: str, repeat: int, work) -> None:
    best = None
    for _ in range(repeat):
        started = time.perf_counter()
        server = work()
        took = time.perf_counter() - started
        if best is None or took < best[0]:
            best = (took, server)
    server = "" if best[1] is None else f"   server cpu {best[1]:6.3f} s"
    print(f"  {name:<44} {best[0]:7.3f} s{server}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store", help="a store's URL (kept by bench/scale_1m.py --keep, or a DuckDB file's)")
    parser.add_argument("--new", type=int, default=1000, help="events queued per source for the last figures")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    store = LeadStore(args.store)
    o = tables.writeback_outbox
    with store.begin() as conn:
        sources = conn.execute(sa.select(o.c.source).distinct().order_by(o.c.source)).scalars().all()
        events = conn.execute(sa.select(sa.func.count()).select_from(o)).scalar_one()
    print(f"{events:,} outbox events in the store; sources {', '.join(sources)}")
    now = datetime.now(UTC)
    for source in sources:
        print(source)

        def pending_count(source: str = source) -> float | None:
            with store.begin() as conn:
                before = backend_cpu(conn)
                conn.execute(sa.select(sa.func.count()).select_from(outbox.pending_events(source).subquery()))
                return None if before is None else backend_cpu(conn) - before

        def prepare(source: str = source) -> None:
            batch = outbox.prepare_batch(store, source, now, sftp_status_file.status_file_name(source))
            assert batch is None, "the store has pending events: write them back first"

        timed("pending count, nothing new", args.repeat, pending_count)
        timed("bind a batch, nothing new", args.repeat, prepare)
        for _ in range(args.repeat):
            with store.begin() as conn:
                first = conn.execute(sa.select(sa.func.count()).select_from(o)).scalar_one()
                store.insert_frame(conn, o, pd.DataFrame({
                    "event_id": [f"steady-{source}-{first + i}" for i in range(args.new)], "source": source,
                    "lead_id": [f"steady-{first + i}" for i in range(args.new)], "kind": "distribution_status",
                    "distribution_status": "Routed", "created_at": now}))
            started = time.perf_counter()
            batch = outbox.prepare_batch(store, source, now, sftp_status_file.status_file_name(source))
            bound = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as tmp:
                rows = sftp_status_file.write_status_csv(store, batch, Path(tmp) / "status.csv")
            took = time.perf_counter() - started
            outbox.mark_sent(store, batch, "bench", now)
            print(f"  {args.new:,} new events: bind {bound:.3f} s, bind and render {took:.3f} s ({rows:,} rows)",
                  flush=True)
    store.dispose()


if __name__ == "__main__":
    main()
