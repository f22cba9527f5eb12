"""Benchmark: a full Bulk API contact export from the Eloqua sandbox, over real HTTP.

Seeds N contacts (default 300,000), creates an export definition with the usual integration fields, syncs it
and reads every page of 50,000 rows (the API's maximum), the way the leadsync connector will. Prints seconds
and rows per second per stage, and the process's peak RSS.

    .venv/bin/python bench/eloqua_bulk.py [--contacts 300000] [--page 50000]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leadsync.connectors.eloqua.sandbox import EloquaSandbox

EXPORT_FIELDS = {name: "{{Contact.Field(%s)}}" % name for name in (  # noqa: UP031 - EML braces
    "C_EmailAddress", "C_FirstName", "C_LastName", "C_Company", "C_Title", "C_BusPhone", "C_City",
    "C_State_Prov", "C_Zip_Postal", "C_Country", "C_Industry1", "C_Company_Size1", "C_DateModified")}
EXPORT_FIELDS["ContactID"] = "{{Contact.Id}}"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes


def stage(name: str, rows: int, fn):
    started = time.perf_counter()
    out = fn()
    took = time.perf_counter() - started
    print(f"{name:<32} {took:7.2f} s   {rows / took:>12,.0f} rows/s   peak RSS {peak_rss_mb():7.0f} MB", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=300_000)
    parser.add_argument("--page", type=int, default=50_000)
    args = parser.parse_args()
    print(f"Eloqua Bulk export benchmark: {args.contacts:,} contacts, pages of {args.page:,}, "
          f"{len(EXPORT_FIELDS)} fields, {os.cpu_count()} cores")

    sandbox = stage("seed contacts + activities", args.contacts,
                    lambda: EloquaSandbox(seed_contacts=args.contacts, sync_delay_s=0))
    with sandbox:
        conn = sandbox.session()
        http = conn.session

        def define_and_sync() -> str:
            definition = http.post(f"{conn.bulk}/contacts/exports",
                                   json={"name": "bench", "fields": EXPORT_FIELDS}).json()
            sync = http.post(f"{conn.bulk}/syncs", json={"syncedInstanceUri": definition["uri"]}).json()
            while (status := http.get(f"{conn.bulk}{sync['uri']}").json()["status"]) in ("pending", "active"):
                time.sleep(0.01)
            assert status == "success", status
            return sync["uri"]

        sync_uri = stage("definition + sync (staging)", args.contacts, define_and_sync)

        def read_pages(parse: bool) -> int:
            offset, total = 0, 0
            while True:
                answer = http.get(f"{conn.bulk}{sync_uri}/data", params={"limit": args.page, "offset": offset})
                if parse:
                    page = answer.json()
                    count, more = page["count"], page["hasMore"]
                else:  # the server's share: read the bytes, peek at the paging fields only
                    head = answer.content[:200].decode()
                    count = int(head.split('"count":')[1].split(",")[0])
                    more = '"hasMore":true' in head
                total += count
                offset += count
                if not more:
                    return total

        stage(f"pages of {args.page:,}, bytes only", args.contacts, lambda: read_pages(parse=False))
        read = stage(f"pages of {args.page:,}, JSON parsed", args.contacts, lambda: read_pages(parse=True))
        assert read == args.contacts, read
    print(f"exported {read:,} rows; peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
