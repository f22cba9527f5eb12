"""Apply a compiled plan to one batch, set-based, in DuckDB: raw strings in, leads and quarantine rows out.

`map_table` is the pure form (an Arrow table in, DataFrames out; no store, no network) that tests and scripts
use; `leadsync/intake/walk.py` runs the same SQL where the batch lives.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import duckdb
import pandas as pd
import pyarrow as pa

from leadsync.config.schema import SourceConfig
from leadsync.intake.plan import IntakePlan, compile_plan, ident, literal


def compute_connection() -> duckdb.DuckDBPyConnection:
    """An in-process DuckDB for plans over Arrow batches: UTC for naive times, two threads, a memory cap."""
    con = duckdb.connect(config={"memory_limit": "512MB", "threads": 2, "preserve_insertion_order": "false"})
    utc(con)
    return con


def utc(con: duckdb.DuckDBPyConnection) -> None:
    """Naive times are UTC. Without the ICU extension DuckDB's TIMESTAMPTZ is UTC already; with it (autoloaded
    where it is cached), the session zone would be the machine's, so it is set."""
    try:
        con.execute("SET TimeZone = 'UTC'")
    except duckdb.Error:
        pass


def lead_columns(plan: IntakePlan, batch_id: str, now_sql: str) -> str:
    """The leads-table columns of the identified rows (see store/tables.py `leads`)."""
    standard = ", ".join(
        f"CAST({ident(name)} AS {'TIMESTAMPTZ' if name == 'created_at' else 'VARCHAR'}) AS {ident(name)}"
        for name in plan.standard)
    return (f"lead_id, {literal(plan.source.name)} AS source, {literal(batch_id)} AS batch_id, row_number, lead_key, "
            f"record_id AS source_record_id, segregated{', ' + standard if standard else ''}, "
            f"{plan.attributes_sql()} AS attributes, {now_sql} AS received_at, {now_sql} AS updated_at")


@dataclass(frozen=True)
class Counts:
    received: int
    quarantined: int
    segregated: int  # valid rows matching the source's segregation filter (held back from routing)
    reasons: Counter


def check_counts(con, plan: IntakePlan, mapped: str) -> Counts:
    """Rows, quarantined rows, segregated rows and failures per reason kind of a mapped relation."""
    checks = plan.checks()
    sums = "".join(f", count(*) FILTER (WHERE {ident('fail_' + str(i))})" for i in range(len(checks)))
    # fetchall: a result left unfinished would refuse the connection's next relation (con.sql)
    row = con.execute(f"SELECT count(*), count(*) FILTER (WHERE reasons IS NOT NULL), "
                      f"count(*) FILTER (WHERE segregated AND reasons IS NULL){sums} FROM {mapped}").fetchall()[0]
    kinds: Counter = Counter()
    for check, n in zip(checks, row[3:], strict=True):
        if n:
            kinds[check.label] += int(n)
    return Counts(int(row[0]), int(row[1]), int(row[2]), kinds)


@dataclass
class MappedBatch:
    leads: pd.DataFrame  # index = row number; one typed column per lead field, plus lead_key, lead_id, segregated
    quarantined: pd.Series  # index = row number; value = reason
    reasons: Counter


def map_table(cfg: SourceConfig, rows: pa.Table, batch_id: str = "batch", row_numbers: pa.Array | None = None
              ) -> MappedBatch:
    """Map, validate and identify an Arrow table of raw strings (columns named as received). Row numbers
    default to 1, 2, …. Raises MissingColumnsError when a required column is absent."""
    plan = compile_plan(cfg, {name: ident(f"c{i}") for i, name in enumerate(rows.column_names)})
    numbers = row_numbers if row_numbers is not None else pa.array(range(1, rows.num_rows + 1), pa.int64())
    staged = pa.Table.from_arrays([numbers, *rows.columns],
                                  names=["row_number", *[f"c{i}" for i in range(rows.num_columns)]])
    con = compute_connection()
    try:
        con.register("batch_rows", staged)
        con.execute(f"CREATE TEMP TABLE mapped AS {plan.mapped_sql('batch_rows')}")
        kinds = check_counts(con, plan, "mapped").reasons
        fields = ", ".join(ident(f.field) for f in plan.fields)
        leads = con.execute(f"SELECT row_number, {fields}, lead_key, lead_id, segregated FROM ({plan.identity_sql('mapped', batch_id)}) "
                            "ORDER BY row_number").df().set_index("row_number")
        bad = con.execute("SELECT row_number, reasons FROM mapped WHERE reasons IS NOT NULL ORDER BY row_number").df()
    finally:
        con.close()
    leads.index.name = None
    leads = leads.astype(object).where(leads.notna(), None) if len(leads) else leads
    for f in plan.fields:  # typed columns keep their dtype: numbers float64, times UTC
        if f.type.value == "datetime" and f.field in leads:
            leads[f.field] = pd.to_datetime(leads[f.field], utc=True)
        if f.type.value == "number" and f.field in leads:
            leads[f.field] = pd.to_numeric(leads[f.field]).astype("float64")
    return MappedBatch(leads, pd.Series(bad["reasons"].to_numpy(), index=bad["row_number"].to_numpy(), dtype=object),
                       kinds)
