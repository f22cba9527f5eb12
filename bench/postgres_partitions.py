"""Does Postgres declarative partitioning (or fewer secondary indexes) pay for the store's large tables?

For the three largest tables a chain of leads fills (leads, assignments, writeback_outbox) this compares the
table as leadsync creates it today (`leadsync/store/tables.py`: its columns, primary key and POSTGRES_INDEXES,
compiled from the store's own metadata) against partitioned layouts and against leaner index sets, for the
operations leadsync runs on them:

- write: the slices appended the way the store appends new rows (`LeadStore.append`: COPY straight into the
  table), one transaction a slice, each slice one source's (routing and intake work per source);
- writeback_outbox: the pending-events count per source and for all (the store's `outbox.pending_events`),
  batch binding (`outbox.prepare_batch`), the status file's read of a bound batch (`sftp_status_file.status_query`, COPY … TO STDOUT)
  and point lookups by event_id (manual entry, record creation);
- assignments: the routing queue's anti-join (the leads of a source with no decision), point lookups by lead_id
  (console search), the portal's partner page and `owned` check, the console's needs-review queue, the open
  leads per partner routing reads first, routing's timeouts and offer expiry;
- leads: the routing queue's anti-join, a routing slice's read of 100k queued leads (`assign._queue_slice`), point
  lookups by lead_id (`lead_context.context_of`), the per-source count of the run summary.

Everything lives in schemas of its own (`partbench_<pid>*`, dropped at the end): a base schema with the whole
store (today's DDL) holding the other tables' rows, and one schema per variant holding only the table under
test (and, for the outbox, its ledgers), found first on the search_path. Rows are synthetic but shaped as the
store's (lead ids `<source>-<20 hex>`, as key-mode sources make them: random for a B-tree).

usage: .venv/bin/python bench/postgres_partitions.py [--rows 250000] [--slices 4] [--sources 2] [--repeat 1]
           [--timeout 10] [--explain] [--tables writeback_outbox,assignments,leads] [--only VARIANT,…]
           [--url postgresql://postgres@127.0.0.1:5432/test]
prints each variant's figures as it goes (with --explain, the plan nodes each read used), then one table per
table: seconds (medians over --repeat rounds, each round starting with another variant), the write's server-side
CPU seconds (read from /proc for the COPYing backend: steadier than wall time when other work shares the cores)
and MB, with the change against today's layout. The pending queries run under --timeout (before 2026-12-03 the
store's was a NOT IN that Postgres stopped hashing past a ledger of about 100,000 bindings). About 2.5
minutes at the defaults; the README's figures are `--rows 500000 --repeat 3`.
"""

from __future__ import annotations

import argparse
import binascii
import math
import os
import re
import signal
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from proc_stat import cpu_seconds

import leadsync.lifecycle.tables  # noqa: F401  (registers lead_progress on the store's metadata)
from leadsync.assign import _queue_slice
from leadsync.store import LeadStore, tables
from leadsync.store.tables import metadata
from leadsync.writeback import outbox
from leadsync.writeback.sftp_status_file import status_query

PG = postgresql.dialect()
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
PARTNERS = ["northwind", "cascade", "bluepeak", "maple", "albion", "rhein", "summit"]
HELD = ("routed", "accepted", "closed")  # leadsync/portal/leads.py
LOOKUPS = 1_000


# ------------------------------------------------------------------------------------------------ data


class Data:
    """Slice k of the chain: (rows / slices) leads of source k % sources, its decisions and its events."""

    def __init__(self, rows: int, slices: int, sources: int):
        self.n, self.slices = rows // slices, slices
        self.sources = [f"src{i}" for i in range(sources)]
        self._cache: dict[int, dict[str, pa.Table]] = {}

    def source(self, k: int) -> str:
        return self.sources[k % len(self.sources)]

    def slice(self, k: int) -> dict[str, pa.Table]:
        if k not in self._cache:
            self._cache[k] = self._make(k)
        return self._cache[k]

    def _make(self, k: int) -> dict[str, pa.Table]:
        rng = np.random.default_rng(k)
        n, src = self.n, self.source(k)
        hexed = binascii.hexlify(rng.bytes(10 * n)).decode()
        lead_ids = pa.array([f"{src}-{hexed[i * 20:(i + 1) * 20]}" for i in range(n)])
        batch = f"{src}-batch-{k:03d}"
        row = pa.array(np.arange(1, n + 1, dtype=np.int64))
        emails = pa.array([f"person{k}x{i}@example{i % 997}.com" for i in range(n)])

        def pick(values, p=None):
            codes = rng.choice(len(values), size=n, p=p).astype(np.int32)
            return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(values, pa.string()))

        def const(value, type_=None):
            return pa.repeat(pa.scalar(value, type_ or pa.string()), n)

        received = NOW + timedelta(hours=k)
        leads = pa.table({
            "lead_id": lead_ids, "source": const(src), "batch_id": const(batch), "row_number": row,
            "lead_key": emails, "segregated": const(False, pa.bool_()), "email": emails,
            "first_name": pick(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"]),
            "last_name": pick(["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson"]),
            "company": pick([f"Company {i}" for i in range(500)]), "title": pick(["CTO", "CIO", "IT Manager"]),
            "phone": pick([f"+1 555 01{i:02d}" for i in range(100)]), "country": pick(["US", "CA", "GB", "DE"]),
            "state": pick(["CA", "WA", "NY", "MA", "ON", ""]), "postal_code": pick([f"{i:05d}" for i in range(300)]),
            "lead_type": pick(["SMB", "Mid-Market", "Enterprise"]), "products": pick(["Firewall", "Firewall;SD-WAN"]),
            "campaign": pick([f"Campaign {i}" for i in range(20)]), "created_at": const(received, pa.timestamp("us", "UTC")),
            "received_at": const(received, pa.timestamp("us", "UTC")),
            "updated_at": const(received, pa.timestamp("us", "UTC")),
        })
        status = pick(["routed", "unassigned", "needs_review"], [0.85, 0.10, 0.05])
        routed = np.asarray(status.indices) == 0
        partner_codes = np.where(routed, rng.integers(0, len(PARTNERS), n), -1)
        partner = pa.DictionaryArray.from_arrays(pa.array(partner_codes, mask=~routed).cast(pa.int32()),
                                                 pa.array(PARTNERS))
        decided = NOW + timedelta(hours=k, minutes=5)
        reason = pick(["country US, state CA, products Firewall: rule group west (3 candidates)",
                       "no partner matches country GB and lead type SMB", "two rule groups match: review"])
        assignments = pa.table({
            "lead_id": lead_ids, "version": const(1, pa.int64()), "partner_id": partner,
            "rep_email": pick(["rep1@partner.example", "rep2@partner.example"]), "rep_name": pick(["Rep One", "Rep Two"]),
            "status": status, "step": pick(["rule_group", "named_partner", "none"]), "rule_group": pick(["west", "east"]),
            "candidates": pick(["northwind,cascade", "bluepeak", "maple,albion,rhein"]),
            "rr_key": pick(["k1", "k2", "k3"]), "rr_slot": pa.array(rng.integers(0, 1000, n)), "reason": reason,
            "source": const(src), "decided_at": const(decided, pa.timestamp("us", "UTC")),
            "decided_by": const("engine"), "attempt": const(1, pa.int64()), "action": status,
        })
        events = pa.table({
            "email": emails, "source_file": const(f"{batch}.csv"), "source_row": row,
            "event_id": pa.array([f"{v}:1:distribution_status" for v in lead_ids.to_pylist()]),
            "source": const(src), "lead_id": lead_ids, "kind": const("distribution_status"),
            "distribution_status": pick(["Routed", "Not Routed", "Needs Review"]), "partner_id": partner,
            "partner_name": partner, "rep_name": assignments["rep_name"], "rep_email": assignments["rep_email"],
            "reason": reason, "decided_at": const(decided.isoformat()),
            "created_at": const(decided, pa.timestamp("us", "UTC")),
        })
        return {"leads": leads, "assignments": assignments, "writeback_outbox": events}


# ------------------------------------------------------------------------------------------------ DDL


def create_sql(table: sa.Table) -> str:
    return str(CreateTable(table).compile(dialect=PG)).strip()


def indexes(table: str, keep: list[str] | None = None) -> list[str]:
    """Today's secondary indexes of `table` (only those named in `keep`, when given)."""
    return [tables.postgres_index_sql(table, name) for name in tables.POSTGRES_INDEXES.get(table, {})
            if keep is None or name in keep]


def partitioned(table: str, key: list[str], by: str, parts: list[str], keep: list[str] | None = None) -> list[str]:
    """Today's table with primary key `key` (a partitioned table's unique keys must hold its partition key),
    PARTITION BY `by`, partitions `parts` (the text after FOR VALUES / DEFAULT) and today's indexes on the
    parent (Postgres makes them on every partition)."""
    ddl = re.sub(r"PRIMARY KEY \([^)]*\)", f"PRIMARY KEY ({', '.join(key)})", create_sql(metadata.tables[table]))
    out = [f"{ddl} PARTITION BY {by}"]
    for i, bound in enumerate(parts):
        out.append(f"CREATE TABLE {table}_p{i} PARTITION OF {table} "
                   + (bound if bound == "DEFAULT" else f"FOR VALUES {bound}"))
    return out + indexes(table, keep)


def variants(data: Data) -> dict[str, dict[str, list[str]]]:
    """Per table: variant name → DDL (run with the variant's schema first on the search_path)."""
    by_source = [f"IN ('{s}')" for s in data.sources]
    hash4 = [f"WITH (MODULUS 4, REMAINDER {r})" for r in range(4)]
    seq_ranges = [f"FROM ({k * data.n + 1}) TO ({(k + 1) * data.n + 1})" for k in range(data.slices)] + ["DEFAULT"]
    seq = [f"CREATE SEQUENCE {tables.OUTBOX_SEQ.name}"]  # each outbox variant numbers from 1
    return {
        "writeback_outbox": {
            "today": seq + [create_sql(tables.writeback_outbox), *indexes("writeback_outbox")],
            "list(source)": seq + partitioned("writeback_outbox", ["event_id", "source"], "LIST (source)", by_source),
            "range(seq)*": seq + partitioned("writeback_outbox", ["event_id", "seq"], "RANGE (seq)", seq_ranges),
            "idx:pk+seq": seq + [create_sql(tables.writeback_outbox), *indexes("writeback_outbox", ["ix_outbox_seq"])],
            "idx:pk": seq + [create_sql(tables.writeback_outbox)],
        },
        "assignments": {
            "today": [create_sql(tables.assignments), *indexes("assignments")],
            "hash(lead_id)x4": partitioned("assignments", ["lead_id"], "HASH (lead_id)", hash4),
            "list(source)": partitioned("assignments", ["lead_id", "source"], "LIST (source)", by_source),
            "idx:pk+partner+partial": [
                create_sql(tables.assignments), *indexes("assignments", ["ix_assignments_partner_status"]),
                ("CREATE INDEX ix_assignments_queue ON assignments (status, decided_at) "
                 "WHERE status IN ('unassigned', 'needs_review')")],
            "idx:pk": [create_sql(tables.assignments)],
        },
        "leads": {
            "today": [create_sql(tables.leads), *indexes("leads")],
            "list(source)": partitioned("leads", ["lead_id", "source"], "LIST (source)", by_source),
            "hash(lead_id)x4": partitioned("leads", ["lead_id"], "HASH (lead_id)", hash4),
            "idx:pk": [create_sql(tables.leads)],
        },
    }


# ------------------------------------------------------------------------------------------------ running


def store_in(url: str, *schemas: str) -> LeadStore:
    """A LeadStore whose connections find `schemas` first (the variant's, then the base)."""
    path = ",".join(schemas)
    sep = "&" if "?" in url else "?"
    return LeadStore(f"{url}{sep}options=-csearch_path%3D{path}", create=False)


class Runner:
    """Times queries of one variant; with `explain`, records the plan nodes each query used (scans, joins,
    subplans) the first time it runs."""

    def __init__(self, explain: bool, timeout: float):
        self.explain, self.timeout = explain, timeout
        self.plans: dict[str, list[str]] = {}

    def query(self, conn: sa.Connection, label: str, stmt: sa.Executable | str, copy: bool = False) -> float:
        sql = stmt if isinstance(stmt, str) else LeadStore.render(conn, stmt)
        if self.explain and label not in self.plans:
            plan = [r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}".replace("%", "%%")).all()]
            self.plans[label] = [line.strip().lstrip("-> ") for line in plan
                                 if re.search(r"Scan|Join|SubPlan|Append|Sort|Nested Loop", line)]
        started = time.perf_counter()
        if copy:
            drain(conn, sql)
        else:
            conn.exec_driver_sql(sql.replace("%", "%%")).all()
        return time.perf_counter() - started

    def bounded(self, store: LeadStore, label: str, stmt: sa.Executable) -> float:
        """`query` under a statement timeout: math.inf when it ran out."""
        try:
            with store.begin() as conn:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.timeout * 1000)}")
                return self.query(conn, label, stmt)
        except sa.exc.OperationalError as exc:
            if "statement timeout" not in str(exc):
                raise
            return math.inf


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def load(store: LeadStore, data: Data, table: str) -> tuple[float, float]:
    """The slices appended as the store appends new rows: (seconds, the server backend's CPU seconds), summed
    over the slices. The CPU seconds barely move when other work shares the cores; the seconds do."""
    total = cpu = 0.0
    for k in range(data.slices):
        rows = data.slice(k)[table]
        with store.begin() as conn:
            backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            before = server_cpu(backend)
            started = time.perf_counter()
            store.append(conn, metadata.tables[table], rows, rows.column_names)
        total += time.perf_counter() - started  # the commit included
        cpu += server_cpu(backend) - before
    with store.begin() as conn:
        conn.exec_driver_sql(f"ANALYZE {table}")
    return total, cpu


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) a Postgres backend on this machine has used; 0 when it cannot be read."""
    return cpu_seconds(pid) or 0.0


def drain(conn: sa.Connection, sql: str) -> int:
    """COPY (sql) TO STDOUT, bytes read and dropped: the server's side of a read, no parsing."""
    cursor = conn.connection.driver_connection.cursor()
    size = 0
    with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
        for chunk in copy:
            size += len(chunk)
    return size


def lookups(store: LeadStore, sql: str, keys: list[str]) -> float:
    """Seconds for len(keys) point queries, one at a time (prepared)."""
    with store.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        started = time.perf_counter()
        for key in keys:
            cursor.execute(sql, (key,), prepare=True)
            cursor.fetchall()
        return time.perf_counter() - started


def sample_ids(data: Data, column: str, table: str) -> list[str]:
    rng = np.random.default_rng(99)
    out = []
    for _ in range(LOOKUPS):
        k = int(rng.integers(0, data.slices))
        out.append(data.slice(k)[table][column][int(rng.integers(0, data.n))].as_py())
    return out


def queue_antijoin(source: str) -> sa.Select:
    """assign._queue_new_leads's choice of rows: the source's leads with no decision (counted)."""
    l, a = tables.leads, tables.assignments
    return sa.select(sa.func.count()).select_from(l).where(
        l.c.source == source, ~sa.exists().where(a.c.lead_id == l.c.lead_id))


def counted(query: sa.Select) -> sa.Select:
    return sa.select(sa.func.count()).select_from(query.subquery())


def reads_outbox(store: LeadStore, data: Data, run: Runner, first: bool) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    batches = []
    for i, source in enumerate(data.sources):  # later sources find the earlier ones' bindings in the ledger
        # the store's own query (under --timeout: its NOT IN form before 2026-12-03 did not finish past ~100k
        # bindings), then the store's own binding of them to a batch
        out[f"pending {source}"] = run.bounded(store, f"pending {source}", counted(outbox.pending_events(source)))
        started = time.perf_counter()
        batch = outbox.prepare_batch(store, source, NOW + timedelta(minutes=i), lambda b, _now: f"{b}.csv")
        out[f"bind {source} (prepare_batch)"] = time.perf_counter() - started
        outbox.mark_sent(store, batch, "ok", NOW)
        batches.append(batch)
        with store.begin() as conn:  # as autovacuum would, between runs
            conn.exec_driver_sql("ANALYZE writeback_bindings")
    out["pending all"] = run.bounded(store, "pending all", counted(outbox.pending_events()))
    with store.begin() as conn:
        out["status file (1 batch)"] = run.query(conn, "status file (1 batch)",
                                                 status_query(batches[0], "postgresql"), copy=True)
    ids = sample_ids(data, "event_id", "writeback_outbox")
    out[f"{LOOKUPS} lookups by event_id"] = lookups(
        store, "SELECT event_id, seq FROM writeback_outbox WHERE event_id = %s", ids)
    return out


def reads_assignments(store: LeadStore, data: Data, run: Runner, first: bool) -> dict[str, float | None]:
    a, l, p = tables.assignments, tables.leads, metadata.tables["lead_progress"]
    joined = a.join(l, l.c.lead_id == a.c.lead_id).outerjoin(
        p, sa.and_(p.c.lead_id == a.c.lead_id, p.c.partner_id == a.c.partner_id))
    mine = [a.c.partner_id == PARTNERS[0], a.c.status.in_(HELD)]
    page = (sa.select(a.c.lead_id, a.c.status, l.c.received_at, l.c.source, l.c.campaign, p.c.sales_status)
            .select_from(joined).where(*mine).order_by(l.c.received_at.desc(), a.c.lead_id).limit(50).offset(100))
    count = counted(sa.select(a.c.lead_id).select_from(joined).where(*mine))
    queue = (sa.select(l.c.lead_id, l.c.email, a.c.reason, a.c.decided_at).join(a, a.c.lead_id == l.c.lead_id)
             .where(a.c.status == "needs_review").order_by(a.c.decided_at, a.c.lead_id).limit(200))
    queued = sa.select(sa.func.count()).select_from(a).where(a.c.status == "needs_review")
    open_leads = (sa.select(a.c.partner_id, sa.func.count()).where(a.c.status.in_(("routed", "accepted")),
                                                                   a.c.partner_id.is_not(None)).group_by(a.c.partner_id))
    owned = sa.select(a.c.lead_id).where(a.c.lead_id.in_(sample_ids(data, "lead_id", "assignments")[:50]),
                                         a.c.partner_id == PARTNERS[0], a.c.status.in_(HELD))
    # assign.py's timeouts (leads routed before the cutoff: none due here) and routing/offers.py's expiry
    timeouts = sa.select(a.c.lead_id, a.c.partner_id, a.c.version, a.c.attempt, a.c.decided_at).where(
        a.c.source == data.sources[0], a.c.status == "routed", a.c.decided_at <= NOW)
    offers = sa.select(a).where(a.c.source == data.sources[0], a.c.status == "offered")
    out: dict[str, float | None] = {}
    with store.begin() as conn:
        out[f"queue anti-join {data.sources[0]}"] = run.query(conn, "queue anti-join", queue_antijoin(data.sources[0]))
        out["portal partner count"] = run.query(conn, "portal partner count", count)
        out["portal partner page"] = run.query(conn, "portal partner page", page)
        out["portal owned (50 ids)"] = run.query(conn, "portal owned (50 ids)", owned)
        out["console review count"] = run.query(conn, "console review count", queued)
        out["console review queue (200)"] = run.query(conn, "console review queue (200)", queue)
        out["open leads per partner"] = run.query(conn, "open leads per partner", open_leads)
        out["routing timeouts (none due)"] = run.query(conn, "routing timeouts (none due)", timeouts)
        out["offers to expire (none)"] = run.query(conn, "offers to expire (none)", offers)
    out[f"{LOOKUPS} lookups by lead_id"] = lookups(
        store, "SELECT lead_id, status, partner_id FROM assignments WHERE lead_id = %s",
        sample_ids(data, "lead_id", "assignments"))
    return out


def reads_leads(store: LeadStore, data: Data, run: Runner, first: bool) -> dict[str, float | None]:
    source = data.sources[0]
    l = tables.leads
    out: dict[str, float | None] = {}
    with store.begin() as conn:
        out[f"queue anti-join {source}"] = run.query(conn, "queue anti-join", queue_antijoin(source))
        conn.exec_driver_sql(
            "CREATE TEMP TABLE routing_queue ON COMMIT DROP AS SELECT lead_id, row_number() OVER "
            f"(ORDER BY received_at, batch_id, row_number) AS ord FROM leads WHERE source = '{source}'")
        conn.exec_driver_sql("ANALYZE routing_queue")
        cols = [l.c.lead_id, l.c.email, l.c.country, l.c.state, l.c.lead_type, l.c.products, l.c.partner_name,
                l.c.row_number, l.c.batch_id]
        out["routing slice read (100k)"] = run.query(
            conn, "routing slice read (100k)", _queue_slice(store, conn, cols, 0, min(100_000, data.n)), copy=True)
        out[f"count leads of {source}"] = run.query(conn, "count leads of source",
                                                    sa.select(sa.func.count()).select_from(l).where(l.c.source == source))
    out[f"{LOOKUPS} lookups by lead_id"] = lookups(
        store, "SELECT email, row_number, batch_id FROM leads WHERE lead_id = %s", sample_ids(data, "lead_id", "leads"))
    return out


READS = {"writeback_outbox": reads_outbox, "assignments": reads_assignments, "leads": reads_leads}


def table_size(store: LeadStore, table: str) -> float:
    """MB of the table with its partitions and indexes."""
    with store.begin() as conn:
        return conn.exec_driver_sql(
            f"SELECT coalesce(pg_total_relation_size('{table}'::regclass), 0) + coalesce((SELECT "
            f"sum(pg_total_relation_size(relid)) FROM pg_partition_tree('{table}'::regclass) "
            f"WHERE relid <> '{table}'::regclass), 0)").scalar_one() / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=250_000, help="rows per table, all slices together")
    ap.add_argument("--slices", type=int, default=4)
    ap.add_argument("--sources", type=int, default=2)
    ap.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--tables", default="writeback_outbox,assignments,leads")
    ap.add_argument("--only", default="", help="comma-separated variant names to run (default: all)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds each pending-events query is given")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of every variant; the table shows medians")
    ap.add_argument("--explain", action="store_true", help="also print the plan nodes of each read, per variant")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the schemas are dropped on a kill too
    data = Data(args.rows, args.slices, args.sources)
    chosen = [t for t in args.tables.split(",") if t]
    only = {v for v in args.only.split(",") if v}
    base = f"partbench_{os.getpid()}"
    admin = LeadStore(args.url, create=False)
    made: list[str] = []
    results: dict[str, dict[str, list[dict[str, float | None]]]] = {}
    print(f"{args.rows:,} rows a table in {args.slices} slices of {data.n:,}, {args.sources} sources; "
          f"schemas {base}*", flush=True)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {base}")
        made.append(base)
        base_store = store_in(args.url, base)
        with base_store.begin() as conn:
            metadata.create_all(conn)
        for table in ("leads", "assignments"):  # the rows the other tables' reads join
            took, _ = load(base_store, data, table)
            print(f"base {table}: {took:.1f} s", flush=True)
        base_store.dispose()
        for round_ in range(args.repeat):
            for table in chosen:
                named = list(variants(data)[table].items())
                turn = round_ % len(named)  # each round starts with another variant: load drifts, order should not
                for name, ddl in named[turn:] + named[:turn]:
                    if only and name not in only:
                        continue
                    figures = run_variant(args, data, admin, made, base, table, name, ddl,
                                          first=name == named[0][0] and round_ == 0)
                    results.setdefault(table, {}).setdefault(name, []).append(figures)
    finally:
        with admin.begin() as conn:
            for schema in reversed(made):
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()
    report(results)


def run_variant(args, data: Data, admin: LeadStore, made: list[str], base: str, table: str, name: str,
                ddl: list[str], first: bool) -> dict[str, float | None]:
    """One variant of `table` in a schema of its own: created, filled, read, dropped."""
    schema = f"{base}_{table[:5]}_{re.sub(r'[^a-z0-9]', '', name)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    made.append(schema)
    store = store_in(args.url, schema, base)
    with store.begin() as conn:
        for sql in ddl:
            conn.exec_driver_sql(sql)
        if table == "writeback_outbox":  # its ledgers, empty, as today
            for ledger in ("writeback_batches", "writeback_spans", "writeback_bindings", "writeback_refusals"):
                metadata.tables[ledger].create(conn)
    took, cpu = load(store, data, table)
    figures: dict[str, float | None] = {"write (COPY, all slices)": took, "write: server CPU s": cpu}
    run = Runner(args.explain, args.timeout)
    figures.update(READS[table](store, data, run, first))
    figures["size MB (table+indexes)"] = table_size(store, table)
    print(f"{table} {name}: " + ", ".join(f"{k} {cell(x)}" for k, x in figures.items()), flush=True)
    for label, nodes in run.plans.items():
        print(f"  plan {label}: " + " | ".join(nodes), flush=True)
    store.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    made.remove(schema)
    return figures


def median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def cell(x: float | None) -> str:
    return "-" if x is None else "timeout" if math.isinf(x) else f"{x:.2f}"


def report(runs: dict[str, dict[str, list[dict[str, float | None]]]]) -> None:
    """Medians over the rounds (a timeout counts as the longest)."""
    for table, by_name in runs.items():
        by_variant = {name: {label: median([r.get(label) for r in rounds]) for label in rounds[0]}
                      for name, rounds in by_name.items()}
        names = list(by_variant)
        rows = list(next(iter(by_variant.values())))
        width = max(len(r) for r in rows) + 2
        note = ("; * no key on event_id alone: the store's ON CONFLICT (event_id) would not run"
                if table == "writeback_outbox" else "")
        print(f"\n{table} (seconds, MB; change against today in brackets; timeout: over --timeout{note})")
        print(" " * width + "".join(f"{n:>24}" for n in names))
        for r in rows:
            cells = []
            for n in names:
                x = by_variant[n].get(r)
                base = by_variant[names[0]].get(r)
                finite = x is not None and base and not math.isinf(x) and not math.isinf(base)
                rel = f" ({(x / base - 1) * 100:+.0f}%)" if finite and n != names[0] else ""
                cells.append(cell(x) + rel)
            print(f"{r:<{width}}" + "".join(f"{c:>24}" for c in cells))


if __name__ == "__main__":
    main()
