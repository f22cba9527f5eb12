"""The outbox protocol every sink follows: prepare a batch, send it, record it. Append-only throughout.

1. prepare: the source's pending events are bound to a new batch: a writeback_batches row (target name fixed
   now) and one writeback_bindings row per event, appended set-based in the engine.
2. send: the sink sends the batch; sending the same batch again must be harmless at the target
   (same file name and bytes, or idempotent upserts keyed by the event).
3. record: the batch becomes 'sent' (one row); events the target refused get a writeback_refusals row with
   the reason, which makes them pending again.
A crash after 1 or 2 leaves the batch 'prepared'; the next run sends that same batch again first.

An event is pending while it has no binding to a prepared or sent batch that did not refuse it.
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


def _holding(*columns) -> sa.Select:
    """Bindings that still hold their event: the batch is prepared or sent and did not refuse it. `columns` of
    the binding (writeback_bindings) and its batch (writeback_batches) to select."""
    b, wb, r = tables.writeback_bindings, tables.writeback_batches, tables.writeback_refusals
    return (sa.select(*columns).join_from(b, wb, wb.c.batch_id == b.c.batch_id)
            .where(~sa.exists().where(r.c.event_id == b.c.event_id, r.c.batch_id == b.c.batch_id)))


def _taken() -> sa.Subquery:
    """The seq of every event a binding still holds."""
    return _holding(tables.writeback_bindings.c.seq).subquery("taken")


def pending_events(source: str | None = None) -> sa.Select:
    """Outbox events not yet (successfully) sent, optionally of one source: event_id, source, lead_id, kind, seq.
    An outer join kept where nothing took the event, which both engines run as an anti-join. Not `event_id NOT
    IN (taken)`: Postgres hashes a NOT IN subquery only while it fits in work_mem, and otherwise scans it again
    for every outbox row (with 250,000 events bound, a source's pending count ran for over 14 minutes,
    bench/postgres_partitions.py). Nor NOT EXISTS: DuckDB took twice as long with it (0.24 against 0.12-0.15 s
    for 500,000 events of a source, 450,000 bound)."""
    o = tables.writeback_outbox
    taken = _taken()
    query = (sa.select(o.c.event_id, o.c.source, o.c.lead_id, o.c.kind, o.c.seq)
             .outerjoin(taken, taken.c.seq == o.c.seq).where(taken.c.seq.is_(None)))
    return query.where(o.c.source == source) if source is not None else query


def sent_events() -> sa.Select:
    """Outbox events whose batch has been sent and did not refuse them (a selectable for counts and reports)."""
    o, b, wb = tables.writeback_outbox, tables.writeback_bindings, tables.writeback_batches
    sent = _holding(b.c.seq, wb.c.sent_at).where(wb.c.state == "sent").subquery("sent")
    return (sa.select(o.c.event_id, o.c.source, o.c.lead_id, o.c.kind, sent.c.sent_at)
            .join(sent, sent.c.seq == o.c.seq))


def last_refusals() -> sa.Select:
    """Per refused event: how many times it was refused and the latest reason (event_id, attempts, last_error)."""
    r = tables.writeback_refusals
    ranked = sa.select(r.c.event_id, r.c.error, sa.func.count().over(partition_by=r.c.event_id).label("attempts"),
                       sa.func.row_number().over(partition_by=r.c.event_id,
                                                 order_by=(r.c.refused_at.desc(), r.c.batch_id.desc())).label("n")
                       ).subquery()
    return sa.select(ranked.c.event_id, ranked.c.attempts, ranked.c.error.label("last_error")).where(ranked.c.n == 1)


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
    """Bind all pending events of `source` to a new batch; `name_for(batch_id, now)` names the target.
    The batch id derives from what it holds (count and first and last event) and when it was made."""
    pending = pending_events(source).subquery()
    with store.begin() as conn:
        # one writer per source (run tag limit / file lock / this section): the events bound are those counted
        store.hold(conn, f"outbox:{source}")
        count, first, last = conn.execute(sa.select(sa.func.count(), sa.func.min(pending.c.event_id),
                                                    sa.func.max(pending.c.event_id))).one()
        if not count:
            return None
        digest = hashlib.sha1(f"{source}\n{count}\n{first}\n{last}\n{now.isoformat()}".encode())
        batch_id = digest.hexdigest()[:16]
        batch = Batch(batch_id, source, name_for(batch_id, now), int(count), now)
        conn.execute(sa.insert(tables.writeback_batches).values(
            batch_id=batch.batch_id, source=source, target_name=batch.target_name,
            event_count=batch.event_count, created_at=now, state="prepared"))
        conn.execute(sa.insert(tables.writeback_bindings).from_select(
            ["event_id", "batch_id", "seq"], sa.select(pending.c.event_id, sa.literal(batch_id, sa.String),
                                                       pending.c.seq)))
    return batch


def mark_sent(store: LeadStore, batch: Batch, result: str, now: datetime,
              refused: pd.DataFrame | None = None) -> None:
    """The batch is sent: one row updated however large it is; `refused` (event_id, error) are pending again."""
    with store.begin() as conn:
        if refused is not None and len(refused):
            rows = refused.assign(batch_id=batch.batch_id, refused_at=now,
                                  error=refused["error"].astype(str).str.slice(0, 2000))
            store.insert_frame(conn, tables.writeback_refusals, rows[["event_id", "batch_id", "error", "refused_at"]],
                               conflict="nothing")
        conn.execute(sa.update(tables.writeback_batches).where(tables.writeback_batches.c.batch_id == batch.batch_id)
                     .values(state="sent", sent_at=now, result=result))


def event_states() -> sa.Select:
    """Every outbox event with where it stands: state (pending | prepared | sent), attempts (refusals so far)
    and last_error (the latest refusal's reason): the outbox as an operator reads it."""
    o, b, wb = tables.writeback_outbox, tables.writeback_bindings, tables.writeback_batches
    # per bound event, the furthest its batches took it (2 sent, 1 prepared), refusals aside: one grouped relation
    # joined by seq. An EXISTS per state inside the CASE would be a subplan run for every outbox row, each one a
    # scan of the bindings (their key leads with the batch, not the seq).
    rank = sa.case((wb.c.state == "sent", 2), (wb.c.state == "prepared", 1), else_=0)
    held = _holding(b.c.seq, sa.func.max(rank).label("rank")).group_by(b.c.seq).subquery("held")
    refusals = last_refusals().subquery()
    state = sa.case((held.c.rank == 2, "sent"), (held.c.rank == 1, "prepared"), else_="pending")
    return (sa.select(*o.c, state.label("state"), refusals.c.attempts, refusals.c.last_error)
            .outerjoin(held, held.c.seq == o.c.seq)
            .outerjoin(refusals, refusals.c.event_id == o.c.event_id))


FROM_SOURCE = "changed at the source: not written back"


def mark_from_source(store: LeadStore, source: str, actor: str, now: datetime) -> int:
    """Bind the pending events of `source` that record a change made at the source itself (lifecycle events by
    `actor`, e.g. `source:crm`) to a batch marked sent, with FROM_SOURCE as its result: the source holds these
    values already, so writing them back would only echo them. Returns how many events were so marked."""
    from leadsync.lifecycle import tables as lt

    pending = pending_events(source).subquery()
    mine = (sa.select(pending.c.event_id, pending.c.seq).join(lt.lifecycle_events, lt.lifecycle_events.c.event_id == pending.c.event_id)
            .where(lt.lifecycle_events.c.actor == actor)).subquery()
    with store.begin() as conn:
        store.hold(conn, f"outbox:{source}")
        count, first, last = conn.execute(sa.select(sa.func.count(), sa.func.min(mine.c.event_id),
                                                    sa.func.max(mine.c.event_id))).one()
        if not count:
            return 0
        batch_id = hashlib.sha1(f"{source}\nfrom-source\n{count}\n{first}\n{last}\n{now.isoformat()}".encode()
                                ).hexdigest()[:16]
        conn.execute(sa.insert(tables.writeback_batches).values(
            batch_id=batch_id, source=source, target_name=f"{source}:from-source", event_count=int(count),
            created_at=now, state="sent", sent_at=now, result=FROM_SOURCE))
        conn.execute(sa.insert(tables.writeback_bindings).from_select(
            ["event_id", "batch_id", "seq"], sa.select(mine.c.event_id, sa.literal(batch_id, sa.String), mine.c.seq)))
    return int(count)
