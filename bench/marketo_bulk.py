"""Benchmark: Bulk Extract of N seeded leads from the Marketo sandbox, through marketorestpython.

Seeds N leads (default 300,000; created over 180 days), then exports them the way a connector would:
one create/enqueue/poll/file job per 31-day `createdAt` window, each file streamed to disk. Prints the
seeding time, the export rows/s and the peak RSS of the process (sandbox and client share it).

    .venv/bin/python bench/marketo_bulk.py [--leads 300000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import resource
import shutil
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.marketo.sandbox.clock import iso

FIELDS = ["id", "email", "firstName", "lastName", "company", "title", "phone", "city", "state", "postalCode",
          "country", "industry", "leadSource", "numberOfEmployees", "annualRevenue", "createdAt", "updatedAt",
          "leadsyncDistributionStatus", "leadsyncPartner"]


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    """The highest resident set size seen while a phase runs (ru_maxrss only knows the whole process)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_mb()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.02):
            self.peak = max(self.peak, rss_mb())

    def stop(self) -> float:
        self._done.set()
        self.join()
        return max(self.peak, rss_mb())


def export_all(sandbox: MarketoSandbox, folder: Path) -> tuple[int, int, int, float]:
    """Export every seeded lead in 31-day windows; returns (rows, bytes, jobs, seconds the sandbox spent
    writing the files)."""
    client = sandbox.client(max_retry_time=60)
    end = sandbox.clock.now()
    start = end - timedelta(days=181)
    jobs = []
    while start < end:  # windows that do not overlap: [start, stop - 1 s]
        stop = min(start + timedelta(days=31), end)
        (job,) = client.execute("create_leads_export_job", fields=FIELDS, filters={
            "createdAt": {"startAt": iso(start), "endAt": iso(stop - timedelta(seconds=1 if stop < end else 0))}})
        jobs.append(job["exportId"])
        start = stop
    sandbox.faults.exports_paused = True  # enqueue all first, so the timing below is the files alone
    for job_id in jobs:
        client.execute("enqueue_leads_export_job", job_id=job_id)
    started = time.perf_counter()
    sandbox.faults.exports_paused = False
    sandbox.exports.poke()
    sandbox.exports.wait_idle(timeout=600)
    writing = time.perf_counter() - started
    rows = size = 0
    for job_id in jobs:
        while (status := client.execute("get_leads_export_job_status", job_id=job_id)[0])["status"] not in (
                "Completed", "Failed"):
            time.sleep(0.2)
        if status["status"] == "Failed":
            raise RuntimeError(status["errorMsg"])
        target = folder / f"{job_id}.csv"
        response = client.execute("get_leads_export_job_file", job_id=job_id, stream=True)
        with open(target, "wb") as out:
            out.writelines(response.iter_content(1 << 20))
        with open(target, newline="") as fh:
            lines = sum(1 for _ in csv.reader(fh)) - 1
        assert lines == status["numberOfRecords"], (lines, status)
        rows += lines
        size += target.stat().st_size
    return rows, size, len(jobs), writing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=300_000)
    parser.add_argument("--keep", type=Path, help="keep the exported files here")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="leadsync-marketo-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"Marketo Bulk Extract benchmark: {args.leads:,} leads, baseline RSS {rss_mb():.0f} MB")
    try:
        sampler = RssSampler()
        sampler.start()
        started = time.perf_counter()
        sandbox = MarketoSandbox(seed_leads=args.leads).start()
        seeded = time.perf_counter() - started
        seed_peak = sampler.stop()
        summary = sandbox.seeded
        print(f"seed + start   {seeded:7.2f} s   {args.leads / seeded:>10,.0f} leads/s   "
              f"({summary.activities:,} activities, {summary.members:,} program members)   peak RSS {seed_peak:.0f} MB")
        try:
            sampler = RssSampler()
            sampler.start()
            started = time.perf_counter()
            rows, size, jobs, writing = export_all(sandbox, folder)
            took = time.perf_counter() - started
            export_peak = sampler.stop()
        finally:
            sandbox.stop()
        assert rows == args.leads, f"exported {rows} of {args.leads} leads"
        print(f"bulk extract   {took:7.2f} s   {rows / took:>10,.0f} rows/s     "
              f"({jobs} jobs, {size / 2**20:.1f} MB of CSV streamed to disk)   peak RSS {export_peak:.0f} MB")
        print(f"  of which the sandbox writing the files {writing:.2f} s ({rows / writing:,.0f} rows/s, 2 jobs "
              f"at a time); the rest is the client's calls (marketorestpython sends at most 5 per second)")
        print(f"process peak RSS (ru_maxrss) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
