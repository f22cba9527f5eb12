"""Benchmark: route 1,000,000 leads against 2,000 partners and 500 rule groups.

Run on demand: `.venv/bin/python bench/routing_1m.py [--leads N] [--partners N] [--groups N] [--store]`.
Prints the engine's time (leads/s) and peak memory while routing; with --store it also times the whole
routing step against a DuckDB store (read the leads, route, record assignments, audit rows and outbox
events, save the round-robin pointers).

Data: partners spread over 20 countries with states, postal-code ranges, products, lead types, weights
(1–5) and some capacities; 1,000 protected accounts; rule groups mixing literal rules (lead type,
country lists) with partner-attribute rules (countries, states (optional), products, postal ranges),
most with a candidate list of 4–12 partners and the last few open to every partner.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from leadsync.config import load_source
from leadsync.config.schema import PartnersConfig
from leadsync.routing.engine import RoutingState, route

REPO = Path(__file__).resolve().parents[1]
COUNTRIES = ["US", "CA", "GB", "DE", "FR", "NL", "ES", "IT", "SE", "NO", "DK", "PL", "AU", "NZ", "JP", "SG", "IN",
             "BR", "MX", "ZA"]
STATES = [f"S{i:02d}" for i in range(40)]
PRODUCTS = ["Firewall", "SD-WAN", "Endpoint", "Email Security", "Cloud Backup", "SIEM", "IAM", "DLP"]
LEAD_TYPES = ["SMB", "Mid-Market", "Enterprise"]


def make_partners(n: int, groups: int, rng: np.random.Generator) -> PartnersConfig:
    partners = []
    for i in range(n):
        country = COUNTRIES[i % len(COUNTRIES)]
        low = int(rng.integers(10, 90)) * 1000
        partners.append({
            "id": f"p{i:04d}", "name": f"Partner {i:04d}", "countries": [country],
            "states": sorted(rng.choice(STATES, size=int(rng.integers(2, 8)), replace=False).tolist()),
            "postal_codes": [f"{low:05d}-{low + 4999:05d}", f"{int(rng.integers(1, 9))}{int(rng.integers(0, 9))}"],
            "products": sorted(rng.choice(PRODUCTS, size=int(rng.integers(1, 4)), replace=False).tolist()),
            "lead_types": sorted(rng.choice(LEAD_TYPES, size=int(rng.integers(1, 3)), replace=False).tolist()),
            "weight": int(rng.integers(1, 6)),
            **({"capacity": int(rng.integers(200, 2000))} if i % 10 == 0 else {}),
        })
    rule_groups = []
    for g in range(groups - 3):
        country = COUNTRIES[g % len(COUNTRIES)]
        members = [p["id"] for p in partners if p["countries"] == [country]]
        chosen = sorted(rng.choice(members, size=int(rng.integers(4, 13)), replace=False).tolist())
        kind = g % 3
        rules = [{"field": "lead_type", "op": "equals", "value": LEAD_TYPES[g % 3]},
                 {"field": "country", "op": "in", "partner_attribute": "countries"}]
        if kind == 0:
            rules += [{"field": "state", "op": "in", "partner_attribute": "states", "optional": True},
                      {"field": "products", "op": "contains_any", "partner_attribute": "products"}]
        elif kind == 1:
            rules += [{"field": "postal_code", "op": "range", "partner_attribute": "postal_codes"}]
        else:
            rules += [{"field": "products", "op": "contains_any", "value": [PRODUCTS[g % 8], PRODUCTS[(g + 3) % 8]]},
                      {"field": "state", "op": "in", "partner_attribute": "states", "required": True}]
        rule_groups.append({"name": f"group {g:03d}", "partners": chosen, "rules": rules})
    rule_groups += [  # open to every partner
        {"name": "country and product", "rules": [
            {"field": "country", "op": "in", "partner_attribute": "countries"},
            {"field": "products", "op": "contains_any", "partner_attribute": "products"}]},
        {"name": "lead type", "rules": [{"field": "lead_type", "op": "in", "partner_attribute": "lead_types"},
                                        {"field": "country", "op": "in", "partner_attribute": "countries"}]},
        {"name": "country", "rules": [{"field": "country", "op": "in", "partner_attribute": "countries"}]},
    ]
    protected = [{"account_id": f"ACC-{i:05d}", "partner": partners[i % n]["id"]} for i in range(1000)]
    return PartnersConfig.model_validate({"partners": partners, "routing": {
        "rule_groups": rule_groups, "protected_accounts": protected, "default_partner": partners[0]["id"]}})


def make_leads(n: int, rng: np.random.Generator) -> pd.DataFrame:
    product_sets = np.array([";".join(sorted(set(rng.choice(PRODUCTS, size=k, replace=False))))
                             for k in rng.integers(1, 4, size=500)], dtype=object)
    countries = np.array(COUNTRIES + [None], dtype=object)
    states = np.array([*STATES, None], dtype=object)
    frame = pd.DataFrame({
        "lead_id": np.char.add("L", np.arange(n).astype(str)).astype(object),
        "email": np.char.add(np.arange(n).astype(str), "@example.com").astype(object),
        "country": countries[rng.integers(0, len(countries), n)],
        "state": states[rng.integers(0, len(states), n)],
        "postal_code": np.char.zfill(rng.integers(1000, 99999, n).astype(str), 5).astype(object),
        "products": product_sets[rng.integers(0, len(product_sets), n)],
        "lead_type": np.array(LEAD_TYPES, dtype=object)[rng.integers(0, 3, n)],
        "account_id": np.where(rng.random(n) < 0.01,
                               np.char.add("ACC-", np.char.zfill(rng.integers(0, 5000, n).astype(str), 5)), None),
        "company": np.char.add("Company ", rng.integers(0, 50000, n).astype(str)).astype(object),
        "partner_name": None,
    })
    return frame


class PeakRss:
    """Samples this process's resident memory while a block runs."""

    def __enter__(self):
        self.peak = self.start = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--partners", type=int, default=2_000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--store", action="store_true", help="also time routing against a DuckDB store")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    source = load_source(REPO / "mappings/sources/sftp_demo.yaml")
    t = time.perf_counter()
    partners = make_partners(args.partners, args.groups, rng)
    leads = make_leads(args.leads, rng)
    print(f"generated {len(leads):,} leads, {len(partners.partners):,} partners, "
          f"{len(partners.routing.rule_groups)} rule groups, {len(partners.routing.protected_accounts)} "
          f"protected accounts in {time.perf_counter() - t:.1f} s")

    # as the routing stage reads them: Arrow-backed columns (see assign._queued_leads)
    arrow_leads = pa.Table.from_pandas(leads, preserve_index=False).to_pandas(types_mapper=pd.ArrowDtype)
    for label, frame in (("Arrow columns", arrow_leads), ("object columns", leads)):
        with PeakRss() as mem:
            t = time.perf_counter()
            result = route(frame, partners, source, RoutingState())
            took = time.perf_counter() - t
        print(f"engine ({label}): {took:.2f} s, {len(frame) / took:,.0f} leads/s; memory while routing: "
              f"{mem.start / 2**20:,.0f} MiB at start, peak {mem.peak / 2**20:,.0f} MiB "
              f"(+{(mem.peak - mem.start) / 2**20:,.0f} MiB); {len(result.kinds):,} distinct decisions")
    print("decided by:", result.count("step"))
    print(f"candidate sets used: {len(result.positions):,}; routed to "
          f"{len(result.count('partner_id', where={'status': 'routed'})):,} partners")

    if args.store:
        store_figures(leads, partners, source)


def store_figures(leads: pd.DataFrame, partners: PartnersConfig, source) -> None:
    from leadsync.assign import route_new_leads
    from leadsync.store import LeadStore, tables

    with tempfile.TemporaryDirectory() as tmp:
        store = LeadStore(f"duckdb:///{tmp}/bench.duckdb")
        now = datetime.now(UTC)
        rows = leads.drop(columns=["partner_name"]).assign(
            source=source.name, batch_id="bench", row_number=np.arange(len(leads)), lead_key=leads["lead_id"],
            received_at=now, updated_at=now)
        with store.begin() as conn:
            store.insert_frame(conn, tables.leads, rows)
        with PeakRss() as mem:
            t = time.perf_counter()
            report = route_new_leads(source, partners, store, now)
            took = time.perf_counter() - t
        print(f"with the store (read leads, route, record assignments + outbox events, save pointers): "
              f"{took:.2f} s, {report.decided / took:,.0f} leads/s; {mem.start / 2**20:,.0f} MiB at start "
              f"(the generated data and the store holding it), peak {mem.peak / 2**20:,.0f} MiB "
              f"(+{(mem.peak - mem.start) / 2**20:,.0f} MiB)")


if __name__ == "__main__":
    main()
