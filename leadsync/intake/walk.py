"""The intake stage of one source: every batch not yet in the intake ledger becomes leads and quarantine rows,
never nothing, a slice of row numbers at a time: each slice's leads, quarantine rows and ledger row
(`intake_slices`) in one transaction, the batch's ledger row (`intake_batches`) with its last slice. Memory is
that of one slice for any file size, and a crash repeats at most one slice.

Plan → apply → store, forward only: the source's mapping compiles once per batch's columns into SQL
(plan.py); on the embedded DuckDB store the SQL runs inside the store over the raw table (nothing crosses
into Python); on Postgres the slice's raw rows come out as Arrow (their compressed blocks, raw.py), the same
SQL runs in an in-process DuckDB, and the results go back with COPY. In key mode a later slice updates the leads an earlier one
stored, which is what collapsing the whole batch to its last record would give.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import pyarrow as pa
import sqlalchemy as sa

from leadsync.config.schema import SourceConfig
from leadsync.intake.apply import check_counts, compute_connection, lead_columns
from leadsync.intake.campaigns import store_batch_campaigns
from leadsync.intake.plan import IntakePlan, MissingColumnsError, compile_plan, ident, literal
from leadsync.store import LeadStore, raw, tables

if TYPE_CHECKING:
    from leadsync.intake.schema import SchemaCheck

# Rows per slice when a batch is mapped outside the store (Postgres): memory stays flat for any file size.
SLICE_ROWS = 200_000
# Rows per slice inside the embedded store: a slice's mapped rows are a temporary table in DuckDB's memory, so
# a batch of five million rows mapped at once would hold five times what a batch of one million holds.
STORE_SLICE_ROWS = 500_000
# DuckDB's memory cap while a slice maps (each slice a transaction of its own, so other processes still get
# their turn at the file between slices): DuckDB keeps the blocks its transactions wrote and read cached up to
# its cap, and lowering the cap evicts them, so under the store's 1 GB the stage grew with the store (peak
# 1.16-1.25 GB at 5M leads against 0.80-0.86 GB at 1M). Under 256 MB a slice of new leads maps as fast (its
# mapped rows, a temporary table, fit). A slice that updates leads (key mode: UPDATE … FROM its staged leads)
# needs more: 500,000 updates took 4.25 s under 256 MB against 2.14 s under 512 MB (1.87 s under 1 GB).
INTAKE_DUCKDB_MEMORY = "256MB"
INTAKE_UPDATE_DUCKDB_MEMORY = "512MB"
# Rows per batch of the schema check: pandera over 250,000 rows took ~100 MB more than over 100,000.
CHECK_ROWS = 100_000


@dataclass
class IntakeReport:
    received: int = 0
    stored: int = 0
    merged_duplicates: int = 0
    quarantined: int = 0
    segregated: int = 0  # valid rows matching the source's segregation filter: stored, never routed
    reasons: Counter = field(default_factory=Counter)
    batch_ids: list[str] = field(default_factory=list)
    # the schema_valid check over the leads stored (intake/schema.py SchemaCheck), None before any slice
    schema: SchemaCheck | None = None


def new_batches(conn: sa.Connection, source: str) -> list[tuple[str, str, list[str]]]:
    """(batch_id, file name, column names) of the source's stored batches the intake has not mapped, in the
    order they arrived: an anti-join of the pull's ledger with the intake's."""
    f, done = tables.source_files, tables.intake_batches
    rows = conn.execute(
        sa.select(f.c.batch_id, f.c.file_name, f.c.columns)
        .where(f.c.source == source, f.c.status == "stored", f.c.row_count > 0,
               ~sa.exists().where(done.c.batch_id == f.c.batch_id))
        .order_by(f.c.received_at, f.c.batch_id)).all()
    return [(b, name, json.loads(cols or "[]")) for b, name, cols in rows]


def map_new_rows(cfg: SourceConfig, store: LeadStore, now: datetime) -> IntakeReport:
    report = IntakeReport()
    with store.begin() as conn:
        batches = new_batches(conn, cfg.name)
    if batches:  # pandera and polars load here, at the first slice, not with the code location
        from leadsync.intake.schema import SchemaCheck

        report.schema = SchemaCheck(cfg)
    for batch_id, file_name, names in batches:
        _map_batch(store, cfg, batch_id, file_name, names, now, report)
        report.batch_ids.append(batch_id)
    return report


def _map_batch(store: LeadStore, cfg: SourceConfig, batch_id: str, file_name: str, names: list[str],
               now: datetime, report: IntakeReport) -> None:
    """The batch's slices not yet in the intake's slice ledger, in row order, one transaction each; the last
    one also writes the batch's ledger row. A batch a crash interrupted goes on after its last slice mapped."""
    in_store = store.dialect == "duckdb"
    cap = INTAKE_UPDATE_DUCKDB_MEMORY if _leads_conflict(cfg)[0] == "update" else INTAKE_DUCKDB_MEMORY
    with store.begin() as conn, store.memory_limit(conn, cap):  # the resumed slices' check reads under it too
        columns = raw.batch_columns(conn, cfg.name, names)
        done = conn.execute(sa.select(sa.func.max(tables.intake_slices.c.last_row))
                            .where(tables.intake_slices.c.batch_id == batch_id)).scalar()
        ranges = _row_slices(raw.row_range(store, conn, cfg.name, batch_id, done),
                             STORE_SLICE_ROWS if in_store else SLICE_ROWS)
        if done is not None:  # slices an interrupted run stored: checked here, since their check was lost with it
            _check_stored(store, conn, cfg, report.schema, batch_id, 0, done)
    physical = columns if in_store else {name: f"c{i}" for i, name in enumerate(columns)}
    try:
        plan, problem = _plan(cfg, physical, ident), None
    except MissingColumnsError as exc:  # the mapping changed since the pull: nothing maps
        plan, problem = None, str(exc)
    work = _slice_in_store if in_store else _slice_outside
    for i, (first, last) in enumerate(ranges or [None]):
        with store.begin() as conn, store.memory_limit(conn, cap):
            if first is None:  # no rows left to map (none stored): the batch is done
                received = stored = quarantined = segregated = 0
                kinds: Counter = Counter()
            else:
                before = _batch_leads(conn, cfg, batch_id)
                received, stored, quarantined, segregated, kinds = work(
                    store, conn, cfg, plan, problem, batch_id, file_name, columns, first, last, now, report.schema)
                if before is not None:  # a key repeated across slices is one lead: count leads new to the batch
                    stored = _batch_leads(conn, cfg, batch_id) - before
                conn.execute(sa.insert(tables.intake_slices).values(
                    batch_id=batch_id, first_row=first, last_row=last, received=received, stored=stored,
                    quarantined=quarantined, mapped_at=now))
            if i == len(ranges) - 1 or not ranges:
                _batch_mapped(conn, cfg, batch_id, now)
                store_batch_campaigns(store, conn, cfg, batch_id, columns, now)  # SFTP campaign_columns
        report.received += received
        report.stored += stored
        report.quarantined += quarantined
        report.segregated += segregated
        report.merged_duplicates += received - stored - quarantined
        report.reasons.update(kinds)


def _row_slices(bounds: tuple[int | None, int | None], size: int) -> list[tuple[int, int]]:
    """Row-number ranges of at most `size` rows each covering `bounds`, the batch's rows after the last row
    number mapped (raw.row_range). Row numbers may have gaps; a range covers numbers, not rows."""
    low, high = bounds
    if low is None:
        return []
    return [(start, min(start + size - 1, high)) for start in range(low, high + 1, size)]


def _batch_leads(conn: sa.Connection, cfg: SourceConfig, batch_id: str) -> int | None:
    """The leads the batch holds now, where a slice may update leads an earlier slice stored (key mode, API
    records); None where every lead a slice stores is new."""
    if _leads_conflict(cfg)[0] != "update":
        return None
    l = tables.leads
    return conn.execute(sa.select(sa.func.count()).select_from(l)
                        .where(l.c.source == cfg.name, l.c.batch_id == batch_id)).scalar_one()


def _batch_mapped(conn: sa.Connection, cfg: SourceConfig, batch_id: str, now: datetime) -> None:
    """The batch's ledger row: the sums of its slices."""
    s = tables.intake_slices
    received, stored, quarantined = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(s.c.received), 0), sa.func.coalesce(sa.func.sum(s.c.stored), 0),
                  sa.func.coalesce(sa.func.sum(s.c.quarantined), 0)).where(s.c.batch_id == batch_id)).one()
    conn.execute(sa.insert(tables.intake_batches).values(
        batch_id=batch_id, source=cfg.name, received=int(received), stored=int(stored),
        quarantined=int(quarantined), mapped_at=now))


def _plan(cfg: SourceConfig, columns: dict[str, str], quote) -> IntakePlan:
    return compile_plan(cfg, {name: quote(physical) for name, physical in columns.items()})


def _leads_conflict(cfg: SourceConfig) -> tuple[str, list[str]]:
    """Key mode (and API records under every_record, where a newer version of a record updates its lead) update
    the stored lead; SFTP rows and every_send leads are new by construction (their id names the batch, which the intake ledger says is not
    mapped yet, in this same transaction): a plain append, no lookup among the leads already stored."""
    if cfg.uniqueness.mode == "key" or (cfg.is_api and cfg.uniqueness.mode == "every_record"):
        keep = {"lead_id", "received_at"}
        return "update", [c.name for c in tables.leads.c if c.name not in keep]
    return "error", []


def _quarantine_sql(plan: IntakePlan, mapped: str, batch_id: str, file_name: str, now_sql: str) -> str:
    return (f"SELECT {literal(batch_id)} AS batch_id, row_number, {literal(plan.source.name)} AS source, "
            f"{literal(file_name)} AS file_name, CAST(raw_payload AS VARCHAR) AS payload, reasons AS reason, "
            f"{now_sql} AS quarantined_at FROM {mapped} WHERE reasons IS NOT NULL")


def _slice_in_store(store: LeadStore, conn: sa.Connection, cfg: SourceConfig, plan: IntakePlan | None,
                    problem: str | None, batch_id: str, file_name: str, columns: dict[str, str], first: int,
                    last: int, now: datetime, check: SchemaCheck):
    """DuckDB: the plan runs over the slice's raw rows inside the store; only counts come back to Python, and
    the leads stored stream past the schema check."""
    now_sql = f"TIMESTAMPTZ {literal(now.isoformat())}"
    relation = (f"(SELECT * FROM {raw.batch_relation(conn, cfg.name, batch_id, columns)} AS b "
                f"WHERE row_number BETWEEN {int(first)} AND {int(last)})")
    if plan is None:
        return _all_quarantined(conn, cfg, batch_id, file_name, columns, relation, problem, now_sql)
    driver = conn.connection.driver_connection
    driver.execute(f"CREATE OR REPLACE TEMP TABLE intake_mapped AS {plan.mapped_sql(relation)}")
    try:
        counts = check_counts(driver, plan, "intake_mapped")
        identified = f"(SELECT {lead_columns(plan, batch_id, now_sql)} FROM ({plan.identity_sql('intake_mapped', batch_id)}))"
        cols = [d[0] for d in driver.execute(f"SELECT * FROM {identified} LIMIT 0").description]
        conflict, update = _leads_conflict(cfg)
        if conflict == "error":  # new leads only: straight from the plan into the table
            stored = driver.execute(f"INSERT INTO leads ({', '.join(cols)}) SELECT {', '.join(cols)} "
                                    f"FROM {identified}").fetchone()[0]
        else:  # staged once: updates of known leads, then the new ones
            driver.execute(f"CREATE OR REPLACE TEMP TABLE intake_leads AS SELECT * FROM {identified}")
            stored = driver.execute("SELECT count(*) FROM intake_leads").fetchone()[0]
            store.insert_from(conn, tables.leads, "intake_leads", cols, conflict, [c for c in update if c in cols])
        q_cols = [c.name for c in tables.quarantine.c]
        conn.exec_driver_sql(f"INSERT INTO quarantine ({', '.join(q_cols)}) "
                             f"{_quarantine_sql(plan, 'intake_mapped', batch_id, file_name, now_sql)}")
    finally:
        driver.execute("DROP TABLE IF EXISTS intake_leads")
        driver.execute("DROP TABLE IF EXISTS intake_mapped")
    _check_stored(store, conn, cfg, check, batch_id, first, last)
    return counts.received, int(stored), counts.quarantined, counts.segregated, counts.reasons


def _check_stored(store: LeadStore, conn: sa.Connection, cfg: SourceConfig, check: SchemaCheck, batch_id: str,
                  first: int, last: int) -> None:
    """The schema check over the batch's leads stored from rows first … last (in key mode the leads whose
    latest record is one of them), read where they lie in batches of CHECK_ROWS. Under the slice's DuckDB cap
    (above) the blocks read do not stay cached as the store grows."""
    from leadsync.intake.schema import stored_columns

    t = tables.leads
    query = sa.select(*stored_columns(cfg)).where(t.c.source == cfg.name, t.c.batch_id == batch_id,
                                                  t.c.row_number.between(first, last))
    for rows in store.read_batches(conn, query, CHECK_ROWS):
        check.validate(rows)


def _all_quarantined(conn: sa.Connection, cfg: SourceConfig, batch_id: str, file_name: str,
                     columns: dict[str, str], relation: str, reason: str, now_sql: str):
    """Every row of the batch to quarantine with one reason (the batch lacks a required column)."""
    pairs = ", ".join(f"{literal(name)}, {ident(physical)}" for name, physical in columns.items()) or "'', NULL"
    q_cols = [c.name for c in tables.quarantine.c]
    sql = (f"SELECT {literal(batch_id)}, row_number, {literal(cfg.name)}, {literal(file_name)}, "
           f"CAST(json_object({pairs}) AS VARCHAR), {literal(reason)}, {now_sql} FROM {relation} AS b")
    n = conn.exec_driver_sql(f"SELECT count(*) FROM {relation} AS b").scalar_one()
    conn.exec_driver_sql(f"INSERT INTO quarantine ({', '.join(q_cols)}) {sql}")
    return int(n), 0, int(n), 0, Counter({reason.split(";")[0]: int(n)})


def _slice_outside(store: LeadStore, conn: sa.Connection, cfg: SourceConfig, plan: IntakePlan | None,
                   problem: str | None, batch_id: str, file_name: str, columns: dict[str, str], first: int,
                   last: int, now: datetime, check: SchemaCheck):
    """Postgres: the slice's raw rows come out as Arrow (raw.read_batch), through the plan in an in-process
    DuckDB, and back (COPY, one set-based insert each). The schema check reads the leads as they are sent."""
    physical = {name: f"c{i}" for i, name in enumerate(columns)}
    con = compute_connection()
    now_sql = f"TIMESTAMPTZ {literal(now.isoformat())}"
    received = stored = quarantined = segregated = 0
    kinds: Counter = Counter()
    conflict, update = _leads_conflict(cfg)
    try:
        for chunk in raw.read_batch(store, conn, cfg.name, batch_id, list(columns), SLICE_ROWS, (first, last)):
            rows = pa.Table.from_batches([chunk]).rename_columns(["row_number", *physical.values()])
            con.register("batch_rows", rows)
            if plan is None:
                pairs = ", ".join(f"{literal(n)}, {ident(p)}" for n, p in physical.items())
                q = con.sql(f"SELECT {literal(batch_id)} AS batch_id, row_number, {literal(cfg.name)} AS source, "
                            f"{literal(file_name)} AS file_name, CAST(json_object({pairs}) AS VARCHAR) AS payload, "
                            f"{literal(problem)} AS reason, {now_sql} AS quarantined_at FROM batch_rows").to_arrow_table()
                store.insert_frame(conn, tables.quarantine, q, conflict="nothing")
                received += q.num_rows
                quarantined += q.num_rows
                kinds[problem.split(";")[0]] += q.num_rows
                continue
            con.execute(f"CREATE OR REPLACE TEMP TABLE mapped AS {plan.mapped_sql('batch_rows')}")
            counts = check_counts(con, plan, "mapped")
            # con.sql(…).to_arrow_table(): a DB-API cursor's Arrow output would copy the rows once more
            leads = con.sql(f"SELECT {lead_columns(plan, batch_id, now_sql)} "
                            f"FROM ({plan.identity_sql('mapped', batch_id)})").to_arrow_table()
            q = con.sql(_quarantine_sql(plan, "mapped", batch_id, file_name, now_sql)).to_arrow_table()
            check.validate(leads)
            store.insert_frame(conn, tables.leads, leads, conflict=conflict,
                               update=[c for c in update if c in leads.column_names])
            store.insert_frame(conn, tables.quarantine, q, conflict="nothing")
            received, quarantined, stored = (received + counts.received, quarantined + counts.quarantined,
                                             stored + leads.num_rows)
            segregated += counts.segregated
            kinds.update(counts.reasons)
    finally:
        con.close()
    return received, stored, quarantined, segregated, kinds
