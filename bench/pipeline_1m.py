"""Benchmark: one million leads through every stage, timed stage by stage.

Run on demand: `make bench` (or `/usr/bin/time -v .venv/bin/python bench/pipeline_1m.py --leads 1000000
--store URL`; `--until pull` stops after that stage). Prints one line per stage with seconds, rows per second,
CPU seconds and the peak RSS so far, a `total` line (the stages run, generating the file aside) and the
process's peak RSS. Uses the real pieces: the SFTP sandbox on loopback,
the lead-file decoder, the store (DuckDB file by default), the intake plan, the routing and the status-file
writeback. The SFTP server runs in a process of its own, so the peak is leadsync's.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import yaml
from leadsync.connectors.loopback_ports import free_port
from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.connectors.sftp.seed import write_demo_leads

from leadsync import pipeline
from leadsync.config.loader import project_paths
from leadsync.store import LeadStore

REPO = Path(__file__).resolve().parents[1]
STAGES = ("pull", "map", "route", "writeback")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StagePeak:
    """The highest RSS seen during one stage (sampled from /proc every 20 ms): the process's peak so far only
    ever grows, so it cannot tell which stage grows with the number of leads."""

    def __init__(self) -> None:
        self.high = 0
        self._page = os.sysconf("SC_PAGE_SIZE")
        threading.Thread(target=self._sample, daemon=True).start()

    def _rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self._page

    def _sample(self) -> None:
        while True:
            self.high = max(self.high, self._rss())
            time.sleep(0.02)

    def reset(self) -> None:
        self.high = self._rss()

    def mb(self) -> float:
        return max(self.high, self._rss()) / 2**20


class Timer:
    def __init__(self, rows: int):
        self.rows = rows
        self.lines: list[str] = []
        self.peak = StagePeak()

    def stage(self, name: str, fn, rows: int | None = None):
        self.peak.reset()
        started, cpu = time.perf_counter(), time.process_time()
        out = fn()
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        n = rows if rows is not None else self.rows
        # CPU seconds (all threads) and the peak RSS so far show which stage grows with the file, even on a
        # machine busy with other work.
        line = (f"{name:<34} {took:8.2f} s   {n / took:>12,.0f} rows/s   cpu {cpu:7.2f} s   "
                f"stage peak {self.peak.mb():,.0f} MB   peak so far {peak_rss_mb():,.0f} MB")
        print(line, flush=True)
        self.lines.append(line)
        return out


@contextmanager
def sftp_server(work: Path) -> Iterator[SftpSandbox]:
    """The SFTP sandbox in a process of its own (as a supplier's server is): its CPU and memory are not
    leadsync's. Yields an unstarted twin that knows its root, port and host key."""
    port = free_port()
    twin = SftpSandbox(work / "sftp", users={"bench": "bench"}, host_key_path=work / "host_key", port=port)
    for folder in ("inbox", "processed", "error", "outbox"):
        (twin.root / folder).mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("sftp_server.py")), str(twin.root),
                               str(work / "host_key"), str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield twin
    finally:
        server.terminate()
        server.wait(10)


def generate(path: Path, leads: int) -> Path:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(write_demo_leads, path, leads, seed=1,
                           partner_names=["Blue Peak Security", "Maple Systems"]).result()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--store", help="SQLAlchemy URL (default: a DuckDB file in a temp folder)")
    parser.add_argument("--until", choices=STAGES, default=STAGES[-1],
                        help="stop after this stage (e.g. pull: the pull's own time and peak)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="leadsync-bench-"))
    try:
        root = work / "project"
        shutil.copytree(REPO / "mappings", root / "mappings")
        store_url = args.store or f"duckdb:///{work / 'bench.duckdb'}"
        t = Timer(args.leads)
        print(f"leadsync benchmark: {args.leads:,} leads, store {store_url.split('://')[0]}, "
              f"{os.cpu_count()} cores")

        with sftp_server(work) as sandbox:
            src = root / "mappings/sources/sftp_demo.yaml"
            data = yaml.safe_load(src.read_text())
            data["connection"].update(port=sandbox.port, username="bench",
                                      known_hosts=str(sandbox.write_known_hosts(root / "known_hosts")))
            # room for the bench's file: the demo source's limits (200 MB, 2M rows a file) stop it past ~1.2M leads
            data.setdefault("files", {}).update(max_file_bytes=max(200 * 2**20, 400 * args.leads),
                                                max_file_rows=max(2_000_000, args.leads),
                                                max_run_bytes=max(2**30, 400 * args.leads),
                                                max_run_rows=max(10_000_000, args.leads))
            src.write_text(yaml.safe_dump(data, sort_keys=False))
            os.environ["LEADSYNC_SFTP_DEMO_PASSWORD"] = "bench"

            # Generated in a process of its own: building the whole file's table in memory is the
            # generator's business, and would otherwise set leadsync's peak RSS at 5M leads.
            csv = t.stage("generate CSV (own process)", lambda: generate(work / "leads.csv", args.leads))
            print(f"  file size {csv.stat().st_size / 1e6:.0f} MB")
            dropped = sandbox.root / "inbox" / "leads.csv"
            shutil.copy(csv, dropped)
            # as if dropped a minute ago: a file written just now is left to settle first (files.settle_seconds),
            # an idle wait that is the inbox's policy, not the pull's work
            os.utime(dropped, (time.time() - 60, time.time() - 60))

            paths, store = project_paths(root / "mappings"), LeadStore(store_url)
            stages = STAGES[:STAGES.index(args.until) + 1]
            print(f"  before the pipeline: peak so far {peak_rss_mb():,.0f} MB")
            started = time.perf_counter()
            pulled = t.stage("pull: SFTP download+decode+store", lambda: pipeline.pull(paths, store, "sftp_demo"))
            print(f"  stored {pulled.rows_stored:,} raw rows; {', '.join(f'{f.name}: {f.status}' for f in pulled.files)}")
            if "map" in stages:
                intake = t.stage("map + validate (pandera) + store",
                                 lambda: pipeline.map_and_validate(paths, store, "sftp_demo"))
                print(f"  stored {intake.stored:,}, quarantined {intake.quarantined:,}")
            if "route" in stages:
                routing = t.stage("route + outbox events", lambda: pipeline.route_leads(paths, store, "sftp_demo"))
                print(f"  assigned {sum(routing.per_partner.values()):,}, unassigned {routing.unassigned:,}, "
                      f"needs review {routing.needs_review:,}")
            if "writeback" in stages:
                wb = t.stage("writeback: status CSV to SFTP", lambda: pipeline.write_back(paths, store, "sftp_demo"))
                print(f"  {wb.events_sent:,} status rows in {wb.files}")
            total = time.perf_counter() - started
            print(f"{'total':<34} {total:8.2f} s   {args.leads / total:>12,.0f} rows/s")
            print(f"peak RSS {peak_rss_mb():,.0f} MB")
            store.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
