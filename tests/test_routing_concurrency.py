"""Routing stays correct when several workers route at once (the scale profile): real OS processes route two
sources' leads into one Postgres store at the same moment. No lead is routed twice, no round-robin slot is
handed out twice, no capacity is exceeded, and the result is the one a single process gets."""

import multiprocessing as mp
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from leadsync.assign import route_new_leads
from leadsync.config import load_source
from leadsync.config.schema import PartnersConfig
from leadsync.store import LeadStore, tables

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LEADS_PER_SOURCE = 1_500
SOURCES = ("sftp_demo", "sftp_two")
PARTNERS = {
    "partners": [
        {"id": "a", "name": "Alpha", "countries": ["US"], "weight": 2},
        {"id": "b", "name": "Bravo", "countries": ["US"]},
        {"id": "c", "name": "Charlie", "countries": ["US"], "capacity": 40},
    ],
    "routing": {"rule_groups": [{"name": "country", "rules": [
        {"field": "country", "op": "in", "partner_attribute": "countries"}]}]},
}


def source_config(name: str):
    cfg = load_source(REPO / "mappings/sources/sftp_demo.yaml")
    return cfg.model_copy(update={"name": name})


def put_leads(store: LeadStore) -> None:
    for source in SOURCES:
        n = LEADS_PER_SOURCE
        frame = pd.DataFrame({"country": ["US"] * n})
        frame["lead_id"] = [f"{source}-b1-{i:07d}" for i in range(n)]
        frame["source"], frame["batch_id"], frame["row_number"] = source, f"{source}-b1", range(1, n + 1)
        frame["lead_key"] = frame["lead_id"]
        frame["email"] = [f"{source}{i}@example.com" for i in range(n)]
        frame["received_at"] = frame["updated_at"] = T0
        with store.begin() as conn:
            store.insert_frame(conn, tables.leads, frame)


def route_worker(url: str, source: str, start: mp.Barrier, results: mp.Queue) -> None:
    """One worker: open the store, wait for the others, route the source's new leads."""
    store = LeadStore(url)
    try:
        start.wait(timeout=60)
        report = route_new_leads(source_config(source), PartnersConfig.model_validate(PARTNERS), store, T0)
        results.put((source, report.decided, None))
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails with it
        results.put((source, 0, f"{type(exc).__name__}: {exc}"))
    finally:
        store.dispose()


def outcome(url: str) -> dict:
    store = LeadStore(url)
    try:
        with store.begin() as conn:
            assigned = store.read_frame(conn, sa.select(tables.assignments))
            history = store.read_frame(conn, sa.select(tables.assignment_history))
            positions = store.read_frame(conn, sa.select(tables.routing_positions))
    finally:
        store.dispose()
    routed = assigned[assigned["status"] == "routed"]
    return {
        "leads": len(assigned), "decisions": len(history),
        "per_partner": Counter(routed["partner_id"]),
        # how often each slot of the cycle was handed out: a slot taken twice shows up here
        "slots": Counter(zip(routed["rr_key"], routed["rr_slot"].astype(int), strict=True)),
        "pointers": dict(zip(positions["set_key"], positions["next_slot"], strict=True)),
        "events": len(assigned),
    }


def test_concurrent_workers_route_like_one_process(postgres_url, tmp_path):
    # the single-process references: one source after the other, in either order (each source continues its
    # own round-robin cycle, but capacity is the partner's: the source routed first fills Charlie)
    expected = []
    for order in (SOURCES, SOURCES[::-1]):
        url = f"duckdb:///{tmp_path / ('-'.join(order) + '.duckdb')}"
        single = LeadStore(url)
        put_leads(single)
        for source in order:
            route_new_leads(source_config(source), PartnersConfig.model_validate(PARTNERS), single, T0)
        single.dispose()
        expected.append(outcome(url))

    store = LeadStore(postgres_url)
    put_leads(store)
    store.dispose()
    ctx = mp.get_context("spawn")
    # two workers per source, all released at once: both sources compete for the same candidate set and
    # the same capacity, and each source is routed by two workers at the same time
    jobs = [s for s in SOURCES for _ in range(2)]
    start, results = ctx.Barrier(len(jobs)), ctx.Queue()
    procs = [ctx.Process(target=route_worker, args=(postgres_url, s, start, results)) for s in jobs]
    for p in procs:
        p.start()
    reports = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert [error for _, _, error in reports if error] == []
    decided = Counter()
    for source, n, _ in reports:
        decided[source] += n
    # each source's leads were decided once, by whichever of its two workers came first
    assert decided == {s: LEADS_PER_SOURCE for s in SOURCES}

    got = outcome(postgres_url)
    assert got["leads"] == got["decisions"] == 2 * LEADS_PER_SOURCE
    assert got["per_partner"]["c"] == 40  # the capacity, reached and not exceeded
    # exactly what one process gets routing the sources one after the other, in the order the workers took
    # the routing section
    keys = ("per_partner", "slots", "pointers")
    assert {k: got[k] for k in keys} in [{k: e[k] for k in keys} for e in expected]
