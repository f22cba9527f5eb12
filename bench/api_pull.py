"""Benchmark: a bulk pull through leadsync's own connectors, into the store, for each API source.

Run on demand: `.venv/bin/python bench/api_pull.py [--records 300000] [--vendors salesforce,marketo,eloqua]
[--store URL] [--same-process]`.

For each vendor: seed N records in its sandbox (in a process of its own; not timed), then, each in a fresh
process as a Dagster step would run, time (1) the connector's pull alone (batches yielded) and (2)
leadsync's whole pull stage (the same pull, stored unit by unit with its watermark and record versions,
into a fresh DuckDB file unless --store names a store, e.g. a Postgres database).

The figures are leadsync's: wall time and records/s, CPU time (user + system of the measuring process, all
its threads; steadier than wall time on a shared machine) and peak RSS (sampled every 20 ms, and the
kernel's high-water mark VmHWM of the process). Memory stays flat as the record count grows when batches
are streamed, never held together. With --same-process everything runs in one process, the sandbox serving
from its threads (as the bench did before 2026-12): the sandbox then competes with the pull for the GIL
and its data counts in the RSS.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import tempfile
import threading
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

FIELDS = {
    "salesforce": ["Email", "FirstName", "LastName", "Company", "Country", "State", "PostalCode", "Title"],
    "marketo": ["email", "firstName", "lastName", "company", "country", "state", "postalCode", "title"],
    "eloqua": ["C_EmailAddress", "C_FirstName", "C_LastName", "C_Company", "C_Country", "C_State_Prov",
               "C_Zip_Postal", "C_Title"],
}
MIB = 2 ** 20


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Measure:
    """Wall time, CPU time and peak RSS (sampled) of a block."""

    def __enter__(self):
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        self._wall, self._cpu = time.perf_counter(), _cpu()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.02)

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self._wall, _cpu() - self._cpu
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())

    def line(self, rows: int) -> str:
        return (f"{self.wall:.1f} s = {rows / self.wall:,.0f} records/s (CPU {self.cpu:.1f} s = "
                f"{rows / max(self.cpu, 1e-9):,.0f} records per CPU-s); peak RSS {self.peak / MIB:,.0f} MiB "
                f"(+{(self.peak - self.start) / MIB:,.0f} MiB)")


# ---------------------------------------------------------------------------------------------- sandboxes

def start_sandbox(vendor: str, n: int):
    """The vendor's sandbox, seeded with n records and serving; returns (server, what a client needs)."""
    if vendor == "salesforce":
        from leadsync.connectors.salesforce.sandbox import SalesforceSandbox
        server = SalesforceSandbox().start()
        server.seed(leads=n, seed=1)
        creds = server.credentials
        return server, {"url": server.url, "ca_pem_path": server.ca_pem_path,
                        "client_id": creds.client_id, "client_secret": creds.client_secret}
    if vendor == "marketo":
        from leadsync.connectors.marketo.sandbox import MarketoSandbox
        server = MarketoSandbox(seed_leads=n, seed=1).start()
        return server, {"url": server.url, "ca_pem_path": server.ca_pem_path, "client_id": server.client_id,
                        "client_secret": server.client_secret}
    from leadsync.connectors.eloqua.sandbox import EloquaSandbox
    server = EloquaSandbox(seed_contacts=n, sync_delay_s=0.005).start()
    return server, {"url": server.url, "ca_pem_path": server.ca_pem_path, "site": server.site,
                    "username": server.username, "password": server.password}


def _serve(vendor: str, n: int, pipe) -> None:
    """A sandbox process: seed, serve, tell the parent where, stop when told."""
    warnings.filterwarnings("ignore")
    t = time.perf_counter()
    server, info = start_sandbox(vendor, n)
    pipe.send({**info, "seeded_s": time.perf_counter() - t})
    pipe.recv()
    server.stop()


def make_source(vendor: str, info: dict):
    org = SimpleNamespace(**info, credentials=SimpleNamespace(client_id=info.get("client_id"),
                                                              client_secret=info.get("client_secret")))
    if vendor == "salesforce":
        from leadsync.connectors.salesforce.source import SalesforceSource
        from leadsync.connectors.salesforce.source.settings import sandbox_settings
        return SalesforceSource(sandbox_settings(org, bulk_poll_s=0.05, bulk_threshold=1000))
    if vendor == "marketo":
        from leadsync.connectors.marketo.source import MarketoSource
        from leadsync.connectors.marketo.source.settings import sandbox_settings
        return MarketoSource(sandbox_settings(org))
    from leadsync.connectors.eloqua.source import EloquaSource
    from leadsync.connectors.eloqua.source.sandbox_settings import sandbox_settings
    return EloquaSource(sandbox_settings(org))


# ---------------------------------------------------------------------------------------------- the bench

def since_for(vendor: str) -> datetime | None:
    # Marketo reads a first pull in 31-day windows from `since`: start where the seeded leads are
    return datetime.now(UTC) - timedelta(days=190) if vendor == "marketo" else None


def bench(vendor: str, n: int, store_url: str | None, same_process: bool) -> None:
    """Seed the vendor's sandbox once, then measure each phase in a fresh process of its own (as a Dagster
    step runs): its peak RSS is the phase's alone."""
    if same_process:
        phase(vendor, None, store_url, n)
        return
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(vendor, n, child), daemon=True)
    process.start()
    info = parent.recv()
    print(f"{vendor:<11} sandbox seeded with {n:,} records in {info.pop('seeded_s'):.1f} s (own process, "
          "not timed)", flush=True)
    try:
        for stage in ("connector", "stage"):
            worker = ctx.Process(target=phase, args=(vendor, info, store_url, n, stage))
            worker.start()
            worker.join()
            if vendor == "marketo" and stage == "connector":
                time.sleep(21)  # Marketo allows 100 calls per 20 s: let the first pull's calls age out
    finally:
        parent.send("stop")
        process.join(60)


def phase(vendor: str, info: dict | None, store_url: str | None, n: int, which: str = "both") -> None:
    """The connector's pull alone and/or the whole pull stage, in this process."""
    warnings.filterwarnings("ignore")
    server = None
    if info is None:  # --same-process: the sandbox serves from this process's threads
        server, info = start_sandbox(vendor, n)
    source = make_source(vendor, info)
    try:
        if which in ("connector", "both"):
            with Measure() as m:
                rows = batches = 0
                kinds = set()
                for batch in source.pull(FIELDS[vendor], since_for(vendor)):
                    rows += batch.rows if hasattr(batch, "rows") else len(batch.records)  # older: a DataFrame
                    batches += 1
                    kinds.add(batch.kind)
            print(f"{vendor:<11} connector pull: {rows:,} records in {batches} batches "
                  f"({'/'.join(sorted(kinds))}) in {m.line(rows)}", flush=True)
            if which == "both" and vendor == "marketo":
                time.sleep(21)
        if which in ("stage", "both"):
            store_stage(vendor, source, store_url)
    finally:
        close = getattr(source, "close", None)
        if close:
            close()
        if server is not None:
            server.stop()
    with open("/proc/self/status") as f:
        hwm = next(line for line in f if line.startswith("VmHWM")).split()[1]
    print(f"{vendor:<11} {which} process: peak RSS (VmHWM) {int(hwm) / 1024:,.0f} MiB", flush=True)


def store_stage(vendor: str, source, store_url: str | None) -> None:
    from leadsync.config.schema import SOURCE_MODELS
    from leadsync.pull.api_records import pull_records
    from leadsync.store import LeadStore

    connection = {"salesforce": {"consumer_key_env": "X", "consumer_secret_env": "X"},
                  "marketo": {"base_url": "http://x", "client_id_env": "X", "client_secret_env": "X"},
                  "eloqua": {"site": "x", "username": "x", "password_env": "X"}}[vendor]
    name = f"bench_{vendor}_{os.getpid()}"
    cfg = SOURCE_MODELS[vendor].model_validate({
        "name": name, "type": vendor, "connection": connection,
        "pull": {"since": since_for(vendor).isoformat() if since_for(vendor) else None},
        "fields": [{"column": c, "field": "email" if i == 0 else f"f{i}"} for i, c in enumerate(FIELDS[vendor])],
    })
    with tempfile.TemporaryDirectory() as tmp:
        store = LeadStore(store_url or f"duckdb:///{tmp}/bench.duckdb")
        with Measure() as m:
            report = pull_records(cfg, source, store, datetime.now(UTC), Path(f"{cfg.name}.yaml"))
        print(f"{vendor:<11} pull stage (stored with versions + watermark, {store.dialect}): {report.stored:,} records "
              f"in {report.batches} batches in {m.line(report.stored)}", flush=True)
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--vendors", default="salesforce,marketo,eloqua")
    parser.add_argument("--store", help="store URL for the pull stage (default: a fresh DuckDB file)")
    parser.add_argument("--same-process", action="store_true",
                        help="serve the sandbox from this process's threads (the bench before 2026-12)")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, "
          f"{os.cpu_count()} CPUs", flush=True)
    ctx = mp.get_context("spawn")
    for vendor in args.vendors.split(","):
        process = ctx.Process(target=bench, args=(vendor.strip(), args.records, args.store, args.same_process))
        process.start()
        process.join()
        print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}",
              flush=True)


if __name__ == "__main__":
    main()
