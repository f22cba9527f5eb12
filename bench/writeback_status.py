"""Benchmark: the SFTP status file of a routed store, rendered by the engine, on its own.

Run on demand: `.venv/bin/python bench/writeback_status.py STORE.duckdb` where STORE is a DuckDB store whose
leads are routed and not yet written back, e.g. made by `bench/pipeline_1m.py --leads 5000000 --store
duckdb:////tmp/s5m.duckdb --until route`. The store is copied first (the original stays as it was, so runs
can be repeated and compared: this code against another checkout's, same store). Times binding the batch and
rendering its status file part by part into a local file (no SFTP: the engine's work only), with CPU time and
peak RSS (sampled every 20 ms, and the kernel's high-water mark). With `--sftp`, times the whole write-back stage
instead, as `bench/pipeline_1m.py` runs it: bind, render each part while the one before uploads to the SFTP
sandbox (in a process of its own, so its CPU is not counted), record.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from leadsync.connectors.sftp.client import SftpClient, SftpSettings
from leadsync.store import LeadStore
from leadsync.writeback import outbox, sftp_status_file

MIB = 2 ** 20


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Peak:
    def __init__(self) -> None:
        self.high, self._stop = rss(), threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.high = max(self.high, rss())
            time.sleep(0.02)

    def reset(self) -> None:
        self.high = rss()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store", type=Path, help="a routed DuckDB store (copied, not changed)")
    parser.add_argument("--source", default="sftp_demo")
    parser.add_argument("--sftp", action="store_true", help="the whole stage: bind, render and upload, record")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="leadsync-wb-bench-"))
    try:
        copy = work / "store.duckdb"
        shutil.copy(args.store, copy)
        wal = args.store.with_name(args.store.name + ".wal")
        if wal.exists():
            shutil.copy(wal, copy.with_name(copy.name + ".wal"))
        store = LeadStore(f"duckdb:///{copy}")
        peak = Peak()
        now = datetime.now(UTC)
        if args.sftp:
            stage(store, args.source, work, peak, now)
            return
        for name, step in (("bind the batch", lambda: outbox.prepare_batch(
                                store, args.source, now, sftp_status_file.status_file_name(args.source))),
                           ("render the status file", None)):
            peak.reset()
            started, cpu = time.perf_counter(), time.process_time()
            if step is not None:
                batch = step()
                rows = batch.event_count
            else:
                rows = sftp_status_file.write_status_csv(store, batch, work / "status.csv")
            took, cpu = time.perf_counter() - started, time.process_time() - cpu
            print(f"{name:<24} {took:7.2f} s  cpu {cpu:7.2f} s  {rows:>10,} rows  stage peak "
                  f"{max(peak.high, rss()) / MIB:,.0f} MiB", flush=True)
        print(f"status file {(work / 'status.csv').stat().st_size / 1e6:,.0f} MB; "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB; "
              f"load {os.getloadavg()[0]:.1f}")
        store.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def stage(store: LeadStore, source: str, work: Path, peak: Peak, now: datetime) -> None:
    """The write-back stage as the pipeline runs it, to the SFTP sandbox in a process of its own."""
    # imported here: it brings the whole pipeline along, which would raise the render-only run's RSS
    from pipeline_1m import sftp_server  # this folder's
    with sftp_server(work) as sandbox:
        settings = SftpSettings(host="127.0.0.1", port=sandbox.port, username="bench", password="bench",
                                known_hosts_path=str(sandbox.write_known_hosts(work / "known_hosts")),
                                inbox="inbox", processed="processed", error="error", outbox="outbox")
        peak.reset()
        started, cpu = time.perf_counter(), time.process_time()
        with SftpClient(settings) as client:
            report = sftp_status_file.drain_outbox(source, client, store, now)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        sent = sandbox.root / report.files[0]
        print(f"{'bind, render+upload, record':<28} {took:7.2f} s  cpu {cpu:7.2f} s  {report.events_sent:>10,} rows  "
              f"stage peak {max(peak.high, rss()) / MIB:,.0f} MiB", flush=True)
        print(f"status file {sent.stat().st_size / 1e6:,.0f} MB; "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB; "
              f"load {os.getloadavg()[0]:.1f}")
    store.dispose()


if __name__ == "__main__":
    main()
