"""Benchmark: a bulk pull through leadsync's own connectors, into the store, for each API source.

Run on demand: `.venv/bin/python bench/api_pull.py [--records 300000] [--vendors salesforce,marketo,eloqua]`.
For each vendor: seed N records in its sandbox on loopback, then time (1) the connector's pull alone
(batches yielded, records/s) and (2) leadsync's whole pull stage (the same pull, each batch stored in a
DuckDB store with its watermark). Prints records/s and the process's peak RSS growth while pulling, which
shows whether memory stays flat as the record count grows (batches are streamed, never held together).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIELDS = {
    "salesforce": ["Email", "FirstName", "LastName", "Company", "Country", "State", "PostalCode", "Title"],
    "marketo": ["email", "firstName", "lastName", "company", "country", "state", "postalCode", "title"],
    "eloqua": ["C_EmailAddress", "C_FirstName", "C_LastName", "C_Company", "C_Country", "C_State_Prov",
               "C_Zip_Postal", "C_Title"],
}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class PeakRss:
    def __enter__(self):
        self.start = self.peak = _rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.05)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def sandbox_and_source(vendor: str, n: int):
    if vendor == "salesforce":
        from connectors.salesforce.sandbox import SalesforceSandbox
        from connectors.salesforce.source import SalesforceSource
        from connectors.salesforce.source.settings import sandbox_settings
        server = SalesforceSandbox().start()
        server.seed(leads=n, seed=1)
        return server, SalesforceSource(sandbox_settings(server, bulk_poll_s=0.05, bulk_threshold=1000))
    if vendor == "marketo":
        from connectors.marketo.sandbox import MarketoSandbox
        from connectors.marketo.source import MarketoSource
        from connectors.marketo.source.settings import sandbox_settings
        server = MarketoSandbox(seed_leads=n, seed=1).start()
        return server, MarketoSource(sandbox_settings(server))
    from connectors.eloqua.sandbox import EloquaSandbox
    from connectors.eloqua.source import EloquaSource
    from connectors.eloqua.source.sandbox_settings import sandbox_settings as eloqua_settings
    server = EloquaSandbox(seed_contacts=n, sync_delay_s=0.005).start()
    return server, EloquaSource(eloqua_settings(server))


def since_for(vendor: str) -> datetime | None:
    # Marketo reads a first pull in 31-day windows from `since`: start where the seeded leads are
    return datetime.now(UTC) - timedelta(days=190) if vendor == "marketo" else None


def bench(vendor: str, n: int) -> None:
    server, source = sandbox_and_source(vendor, n)
    try:
        with PeakRss() as mem:
            t = time.perf_counter()
            rows = batches = 0
            kinds = set()
            for batch in source.pull(FIELDS[vendor], since_for(vendor)):
                rows += len(batch.records)
                batches += 1
                kinds.add(batch.kind)
            took = time.perf_counter() - t
        print(f"{vendor:<11} connector pull: {rows:,} records in {batches} batches ({'/'.join(sorted(kinds))}) "
              f"in {took:.1f} s = {rows / took:,.0f} records/s; RSS +{(mem.peak - mem.start) / 2**20:,.0f} MiB "
              f"(peak {mem.peak / 2**20:,.0f} MiB)", flush=True)
        if vendor == "marketo":
            time.sleep(21)  # Marketo allows 100 calls per 20 s: let the first pull's calls age out
        store_stage(vendor, source, n)
    finally:
        close = getattr(source, "close", None)
        if close:
            close()
        server.stop()


def store_stage(vendor: str, source, n: int) -> None:
    from leadsync.config.schema import SOURCE_MODELS
    from leadsync.pull.api_records import pull_records
    from leadsync.store import LeadStore

    connection = {"salesforce": {"consumer_key_env": "X", "consumer_secret_env": "X"},
                  "marketo": {"base_url": "http://x", "client_id_env": "X", "client_secret_env": "X"},
                  "eloqua": {"site": "x", "username": "x", "password_env": "X"}}[vendor]
    cfg = SOURCE_MODELS[vendor].model_validate({
        "name": f"bench_{vendor}", "type": vendor, "connection": connection,
        "pull": {"since": since_for(vendor).isoformat() if since_for(vendor) else None},
        "fields": [{"column": c, "field": "email" if i == 0 else f"f{i}"} for i, c in enumerate(FIELDS[vendor])],
    })
    with tempfile.TemporaryDirectory() as tmp:
        store = LeadStore(f"duckdb:///{tmp}/bench.duckdb")
        with PeakRss() as mem:
            t = time.perf_counter()
            report = pull_records(cfg, source, store, datetime.now(UTC), Path(f"{cfg.name}.yaml"))
            took = time.perf_counter() - t
        print(f"{vendor:<11} pull stage (store each batch + watermark): {report.stored:,} records in {took:.1f} s "
              f"= {report.stored / took:,.0f} records/s; RSS +{(mem.peak - mem.start) / 2**20:,.0f} MiB", flush=True)
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--vendors", default="salesforce,marketo,eloqua")
    args = parser.parse_args()
    for vendor in args.vendors.split(","):
        bench(vendor.strip(), args.records)


if __name__ == "__main__":
    main()
