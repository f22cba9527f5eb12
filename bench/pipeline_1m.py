"""Benchmark: one million leads through every stage, timed stage by stage.

Run on demand: `make bench` (or `.venv/bin/python bench/pipeline_1m.py --leads 1000000 --store URL`).
Prints one line per stage with seconds and rows per second. Uses the real pieces: the SFTP sandbox
on loopback, the lead-file decoder, the store (DuckDB file by default), the mapping and pandera
validation, the routing and the status-file writeback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from connectors.sftp.lead_files import read_lead_file
from connectors.sftp.sandbox import SftpSandbox
from connectors.sftp.seed import write_demo_leads
from leadsync import pipeline
from leadsync.config.loader import project_paths
from leadsync.store import LeadStore

REPO = Path(__file__).resolve().parents[1]


class Timer:
    def __init__(self, rows: int):
        self.rows = rows
        self.lines: list[str] = []

    def stage(self, name: str, fn, rows: int | None = None):
        started = time.perf_counter()
        out = fn()
        took = time.perf_counter() - started
        n = rows if rows is not None else self.rows
        line = f"{name:<34} {took:8.2f} s   {n / took:>12,.0f} rows/s"
        print(line, flush=True)
        self.lines.append(line)
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--store", help="SQLAlchemy URL (default: a DuckDB file in a temp folder)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="leadsync-bench-"))
    try:
        root = work / "project"
        shutil.copytree(REPO / "mappings", root / "mappings")
        store_url = args.store or f"duckdb:///{work / 'bench.duckdb'}"
        t = Timer(args.leads)
        print(f"leadsync benchmark: {args.leads:,} leads, store {store_url.split('://')[0]}, "
              f"{os.cpu_count()} cores")

        with SftpSandbox(work / "sftp", users={"bench": "bench"}) as sandbox:
            src = root / "mappings/sources/sftp_demo.yaml"
            data = yaml.safe_load(src.read_text())
            data["connection"].update(port=sandbox.port, username="bench",
                                      known_hosts=str(sandbox.write_known_hosts(root / "known_hosts")))
            src.write_text(yaml.safe_dump(data, sort_keys=False))
            os.environ["LEADSYNC_SFTP_DEMO_PASSWORD"] = "bench"

            csv = t.stage("generate CSV", lambda: write_demo_leads(
                work / "leads.csv", args.leads, seed=1, partner_names=["Blue Peak Security", "Maple Systems"]))
            print(f"  file size {csv.stat().st_size / 1e6:.0f} MB")
            t.stage("decode CSV (lead_files)", lambda: read_lead_file("leads.csv", csv.read_bytes()))
            shutil.copy(csv, sandbox.root / "inbox" / "leads.csv")

            paths, store = project_paths(root / "mappings"), LeadStore(store_url)
            t.stage("pull: SFTP download+decode+store", lambda: pipeline.pull(paths, store, "sftp_demo"))
            intake = t.stage("map + validate (pandera) + store", lambda: pipeline.map_and_validate(paths, store, "sftp_demo"))
            print(f"  stored {intake.stored:,}, quarantined {intake.quarantined:,}")
            routing = t.stage("route + outbox events", lambda: pipeline.route_leads(paths, store, "sftp_demo"))
            print(f"  assigned {sum(routing.per_partner.values()):,}, unassigned {routing.unassigned:,}, "
                  f"needs review {routing.needs_review:,}")
            wb = t.stage("writeback: status CSV to SFTP", lambda: pipeline.write_back(paths, store, "sftp_demo"))
            print(f"  {wb.events_sent:,} status rows in {wb.files}")
            store.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
