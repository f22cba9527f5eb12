"""The outbox protocol every sink follows: prepare a batch, send it, record it.

1. prepare: pending events of a source are bound to a new batch row (target name fixed now).
2. send: the sink sends the batch; sending the same batch again must be harmless at the target
   (same file name and bytes, or idempotent upserts keyed by the event).
3. record: the batch and its events become 'sent'.
A crash after 1 or 2 leaves the batch 'prepared'; the next run sends that same batch again first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from leadsync.store import LeadStore, tables


@dataclass(frozen=True)
class Batch:
    batch_id: str
    source: str
    target_name: str
    event_count: int
    created_at: datetime


def prepared_batches(store: LeadStore, source: str) -> list[Batch]:
    b = tables.writeback_batches
    with store.begin() as conn:
        rows = conn.execute(
            sa.select(b.c.batch_id, b.c.source, b.c.target_name, b.c.event_count, b.c.created_at)
            .where(b.c.source == source, b.c.state == "prepared")
            .order_by(b.c.created_at, b.c.batch_id)
        ).fetchall()
    return [Batch(*r) for r in rows]


def prepare_batch(store: LeadStore, source: str, now: datetime, name_for) -> Batch | None:
    """Bind all pending events of `source` to a new batch; `name_for(batch_id, now)` names the target."""
    o = tables.writeback_outbox
    with store.begin() as conn:
        ids = store.read_frame(conn, sa.select(o.c.event_id).where(o.c.source == source, o.c.state == "pending")
                               .order_by(o.c.event_id))["event_id"]
        if ids.empty:
            return None
        digest = hashlib.sha1("\n".join(ids).encode())
        batch = Batch(digest.hexdigest()[:16], source, "", len(ids), now)
        batch = Batch(batch.batch_id, source, name_for(batch.batch_id, now), len(ids), now)
        conn.execute(sa.insert(tables.writeback_batches).values(
            batch_id=batch.batch_id, source=source, target_name=batch.target_name,
            event_count=batch.event_count, created_at=now, state="prepared"))
        # Same transaction as the select above, and one writer per source (run tag limit / file lock),
        # so the events bound here are exactly `ids`.
        conn.execute(
            sa.update(o).where(o.c.source == source, o.c.state == "pending")
            .values(state="batched", batch_id=batch.batch_id)
        )
    return batch


def batch_events(store: LeadStore, batch: Batch) -> pd.DataFrame:
    """The batch's events joined with their lead and the file it came from, in event_id order."""
    o, l, f = tables.writeback_outbox, tables.leads, tables.source_files
    # outer joins: a partner-registered lead (kind "registration") has no stored lead behind it yet
    query = (
        sa.select(o.c.event_id, o.c.lead_id, o.c.kind, o.c.payload, l.c.email, l.c.row_number,
                  f.c.file_name.label("source_file"))
        .outerjoin(l, l.c.lead_id == o.c.lead_id)
        .outerjoin(f, f.c.batch_id == l.c.batch_id)
        .where(o.c.batch_id == batch.batch_id)
        .order_by(o.c.event_id)
    )
    with store.begin() as conn:
        return store.read_frame(conn, query)


def mark_sent(store: LeadStore, batch: Batch, result: str, now: datetime) -> None:
    """An event is sent when its batch is: one row to update, however large the batch."""
    with store.begin() as conn:
        conn.execute(sa.update(tables.writeback_batches).where(tables.writeback_batches.c.batch_id == batch.batch_id)
                     .values(state="sent", sent_at=now, result=result))


def sent_events():
    """Outbox rows whose batch has been sent (a selectable for counts and reports)."""
    o, b = tables.writeback_outbox, tables.writeback_batches
    return sa.select(o.c.event_id, o.c.source, o.c.lead_id, o.c.kind, b.c.sent_at).join(
        b, b.c.batch_id == o.c.batch_id).where(b.c.state == "sent")
