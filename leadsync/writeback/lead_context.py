"""Outbox events carry their lead as its source knows it (email, the file and row it came in), from the moment
they are queued. A lead's row never changes, so the values cannot go stale; and a sink then writes its rows
from the outbox alone: the status file of a million events used to join a million leads back by their string
ids, the largest part of its work, and one DuckDB can neither prune nor stream in order.

Routing's first decisions bring these values from the leads it has just read (`assign.py`); every other
producer (reroutes, manual decisions, lifecycle events) queues through `insert_events`, which looks them up
in the same statement."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from leadsync.store import LeadStore, tables
from leadsync.writeback.outbox import hold_outbox_order

CONTEXT = list(tables.LEAD_CONTEXT)  # email, source_file, source_row


def _with_context(relation: str, cols: list[str]) -> str:
    """SQL: `relation`'s `cols` and each row's lead context (null where the lead is not stored, e.g. a lead a
    partner registered)."""
    own = ", ".join(f's."{c}"' for c in cols)
    return (f"(SELECT {own}, l.email AS email, f.file_name AS source_file, l.row_number AS source_row "
            f"FROM {relation} AS s LEFT JOIN leads AS l ON l.lead_id = s.lead_id "
            f"LEFT JOIN source_files AS f ON f.batch_id = l.batch_id)")


def insert_events(store: LeadStore, conn: sa.Connection, events: pa.Table | pd.DataFrame | pa.RecordBatchReader,
                  conflict: str = "nothing") -> None:
    """Queue `events` (outbox columns without the lead context) with their leads' context, set-based;
    `conflict` as LeadStore.insert_frame (an event id already queued adds nothing by default)."""
    if not isinstance(events, pa.RecordBatchReader) and len(events) == 0:
        return
    cols = list(events.columns if isinstance(events, pd.DataFrame) else events.schema.names)
    with store.staged(conn, events) as stage:
        if store.dialect == "postgresql":  # DuckDB has one writer at a time: no producer of another source in flight
            hold_outbox_order(conn, conn.exec_driver_sql(f"SELECT DISTINCT source FROM {stage}").scalars())
        store.insert_from(conn, tables.writeback_outbox, _with_context(stage, cols), [*cols, *CONTEXT], conflict)


def context_of(conn: sa.Connection, lead_id: str) -> dict:
    """One lead's context (all None for a lead not stored), for events queued one at a time."""
    l, f = tables.leads, tables.source_files
    row = conn.execute(sa.select(l.c.email, f.c.file_name.label("source_file"), l.c.row_number.label("source_row"))
                       .select_from(l.outerjoin(f, f.c.batch_id == l.c.batch_id))
                       .where(l.c.lead_id == lead_id).limit(1)).first()
    return dict(row._mapping) if row is not None else dict.fromkeys(CONTEXT)
