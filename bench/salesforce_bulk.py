"""Benchmark: seed N leads into the Salesforce sandbox and bulk-query them all back through
simple-salesforce's Bulk API 2.0 client (the Sforce-Locator protocol), over TLS on loopback.

    .venv/bin/python bench/salesforce_bulk.py [--leads 300000] [--page-size 50000]

Prints seconds and rows/s per stage and the peak RSS of the process (sandbox and client share it).
"""

from __future__ import annotations

import argparse
import resource
import time

from leadsync.connectors.salesforce.sandbox import SalesforceSandbox

QUERY = ("SELECT Id, FirstName, LastName, Email, Company, Title, Phone, Country, State, PostalCode, City, "
         "Industry, NumberOfEmployees, AnnualRevenue, LeadSource, Status, Product_Interest__c, "
         "SystemModstamp FROM Lead")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=300_000)
    parser.add_argument("--page-size", type=int, default=50_000, help="maxRecords per results page")
    args = parser.parse_args(argv)

    with SalesforceSandbox() as org:
        started = time.perf_counter()
        summary = org.seed(leads=args.leads)
        seeded = time.perf_counter() - started
        print(f"seed {summary.leads:,} leads (+{summary.campaign_members:,} members, {summary.tasks:,} tasks, "
              f"{summary.events:,} events)  {seeded:6.2f} s  {summary.leads / seeded:>10,.0f} rows/s")

        sf = org.connect()
        started = time.perf_counter()
        rows = pages = size = 0
        for page in sf.bulk2.Lead.query(QUERY, max_records=args.page_size, wait=0):
            pages += 1
            size += len(page)
            rows += page.count("\n") - 1  # no embedded newlines in these fields
        took = time.perf_counter() - started
        print(f"bulk2 query {rows:,} rows in {pages} pages ({size / 1e6:,.0f} MB CSV)  {took:6.2f} s  "
              f"{rows / took:>10,.0f} rows/s")
        if rows != summary.leads:
            raise SystemExit(f"expected {summary.leads} rows, got {rows}")

        started = time.perf_counter()
        recent = sf.query_all("SELECT Id, Email, SystemModstamp FROM Lead WHERE SystemModstamp >= "
                              "LAST_SEEN ORDER BY SystemModstamp, Id LIMIT 10000".replace(
                                  "LAST_SEEN", "2000-01-01T00:00:00Z"))
        took = time.perf_counter() - started
        print(f"REST query_all, 10,000 rows in 5 pages (filter+sort over all)  {took:6.2f} s  "
              f"{recent['totalSize'] / took:>10,.0f} rows/s")
    print(f"peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
