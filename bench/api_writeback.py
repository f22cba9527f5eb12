"""Benchmark: an API source's writeback of many routed leads, through leadsync's Salesforce connector.

Run on demand: `.venv/bin/python bench/api_writeback.py [--records 300000]`.

The Salesforce sandbox, seeded with N leads, serves from a process of its own. A set-up process (not timed)
pulls, maps and routes them with the shipped `salesforce_demo` source (every lead to one partner): the
outbox then holds a distribution-status event per lead. The writeback stage then runs in a fresh process,
as a Dagster step would: one batch of every pending event, folded into one update per Lead and sent by Bulk
API 2.0. Printed: wall time, events/s, CPU time and peak RSS of that process (sampled every 20 ms, and the
kernel's high-water mark VmHWM). A writeback that holds a batch whole grows with the number of events; one
that reads and sends it in parts (leadsync/writeback/api_sink.py PART_EVENTS) stays flat.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_pull import MIB, Measure, _serve  # the sandbox process and the meter of bench/api_pull.py

REPO = Path(__file__).resolve().parents[1]
SOURCE = "salesforce_demo"


def make_project(root: Path, info: dict) -> Path:
    """The repo's mappings with the Salesforce example alone, on the sandbox; every lead routed to Northwind."""
    shutil.copytree(REPO / "mappings", root / "mappings")
    sources = root / "mappings/sources"
    for other in sources.glob("*.yaml"):
        if other.stem != SOURCE:
            other.unlink()
    cfg = yaml.safe_load((sources / f"{SOURCE}.yaml").read_text())
    cfg["connection"] |= {"login_url": info["url"], "ca_bundle": str(info["ca_pem_path"]), "timeout_s": 120}
    cfg["pull"] = {"bulk_threshold": 1000, "since": "2000-01-01T00:00:00+00:00"}
    cfg["uniqueness"] = {"mode": "key", "key": ["email"]}
    (sources / f"{SOURCE}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    partners_file = root / "mappings/partners.yaml"
    partners = yaml.safe_load(partners_file.read_text())
    for partner in partners["partners"]:
        partner.pop("crm", None)
        partner.pop("technical_contact", None)
    partners["routing"] = {"default_partner": "northwind", "rule_groups": []}
    partners_file.write_text(yaml.safe_dump(partners, sort_keys=False))
    return root / "mappings"


def _env(info: dict) -> None:
    os.environ["LEADSYNC_SALESFORCE_DEMO_KEY"] = info["client_id"]
    os.environ["LEADSYNC_SALESFORCE_DEMO_SECRET"] = info["client_secret"]
    os.environ.setdefault("LEADSYNC_LIFECYCLE_SECRET", "bench")


def prepare(mappings: str, store_url: str, info: dict) -> None:
    """Pull, map and route every seeded lead (not timed)."""
    warnings.filterwarnings("ignore")
    _env(info)
    from leadsync import pipeline
    from leadsync.config.loader import project_paths
    from leadsync.store import LeadStore

    paths, store = project_paths(Path(mappings)), LeadStore(store_url)
    t = time.perf_counter()
    pipeline.pull(paths, store, SOURCE)
    pipeline.map_and_validate(paths, store, SOURCE)
    routed = pipeline.route_leads(paths, store, SOURCE)
    print(f"set-up: pulled, mapped and routed in {time.perf_counter() - t:.1f} s (not timed): {routed.decided:,} leads decided", flush=True)
    store.dispose()


def writeback(mappings: str, store_url: str, info: dict) -> None:
    """The writeback stage alone, measured."""
    warnings.filterwarnings("ignore")
    _env(info)
    from leadsync import pipeline
    from leadsync.config.loader import project_paths
    from leadsync.store import LeadStore

    paths, store = project_paths(Path(mappings)), LeadStore(store_url)
    with Measure() as m:
        report = pipeline.write_back(paths, store, SOURCE)
    store.dispose()
    print(f"writeback: {report.events_sent:,} events sent ({report.events_failed:,} refused), "
          f"{report.records_updated:,} records updated, in {m.line(report.events_sent).replace('records', 'events')}",
          flush=True)
    with open("/proc/self/status") as f:
        hwm = next(line for line in f if line.startswith("VmHWM")).split()[1]
    print(f"writeback process: peak RSS (VmHWM) {int(hwm) / 1024:,.0f} MiB (start {m.start / MIB:,.0f} MiB)",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300_000)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=("salesforce", args.records, child), daemon=True)
    server.start()
    info = parent.recv()
    print(f"salesforce sandbox seeded with {args.records:,} leads in {info.pop('seeded_s'):.1f} s "
          "(own process, not timed)", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            mappings = str(make_project(Path(tmp), info))
            store_url = f"duckdb:///{tmp}/bench.duckdb"
            for step in (prepare, writeback):
                worker = ctx.Process(target=step, args=(mappings, store_url, info))
                worker.start()
                worker.join()
                if worker.exitcode:
                    raise SystemExit(f"{step.__name__} failed (exit code {worker.exitcode})")
    finally:
        parent.send("stop")
        server.join(60)


if __name__ == "__main__":
    main()
