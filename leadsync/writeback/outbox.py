"""The outbox protocol every sink follows: prepare a batch, send it, record it. Append-only throughout.

1. prepare: the source's pending events are bound to a new batch: a writeback_batches row (target name fixed
   now); the source's new events, those above its highest span, as one writeback_spans row however many they
   are; the others (an event sent again after a refusal, or one bound before schema 7) a writeback_bindings
   row each. All set-based in the engine.
2. send: the sink sends the batch; sending the same batch again must be harmless at the target
   (same file name and bytes, or idempotent upserts keyed by the event).
3. record: the batch becomes 'sent' (one row); events the target refused get a writeback_refusals row with
   the reason, which makes them pending again.
A crash after 1 or 2 leaves the batch 'prepared'; the next run sends that same batch again first.

What a batch holds: each event bound to it, and each event of its source in its span's seq range that has no
binding at all; less those it refused. An event is held by some span exactly when its seq is at or below its
source's highest span (its `top`) and it has neither a binding nor a refusal: a source's spans do not overlap,
and every event of the source up to `top` without a binding lies in one (prepare_batch takes the new events from
the lowest to the highest, the ones between them with a binding aside). An event is pending while nothing holds
it: above `top` without a binding that holds it, or at or below `top` with a binding or a refusal and no binding
that holds it. So a source's pending events are its new events and its few bound or refused ones, read from the
outbox's range above `top` and by the event ids bound or refused: never the source's whole history.

For that to hold, an event below `top` must never become visible after its span was made: a producer of a
source's events holds its order (hold_outbox_order, shared) from before it draws their seqs until it commits.
prepare_batch notes the last seq the outbox's sequence has handed out, then waits for the producers of the source
holding the order at that moment, and takes only new events up to that seq: any event of the source numbered so
far was drawn by one of them (or has committed), and any drawn later is above it. The sequence hands out its
numbers in order (no per-session cache). Producers never wait for a batch, nor queue behind one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from leadsync.store import LeadStore, tables
from leadsync.store.engine import hold_section


@dataclass(frozen=True)
class Batch:
    batch_id: str
    source: str
    target_name: str
    event_count: int
    created_at: datetime
    span: tuple[int, int] | None = None  # first and last seq of the batch's span (writeback_spans), if it has one


def _order_section(source: str) -> str:
    return f"outbox-order:{source}"


def hold_outbox_order(conn: sa.Connection, sources: Iterable[str]) -> None:
    """Called by every producer of outbox events in its transaction before it stores them (before their seqs are
    drawn): the sources' order, shared, until the commit. Nothing takes it alone, so it never waits; prepare_batch
    waits for those holding it (see the module's docstring)."""
    for source in sorted(set(sources)):
        hold_section(conn, _order_section(source), shared=True)


def _holding(*columns) -> sa.Select:
    """Bindings that still hold their event: the batch is prepared or sent and did not refuse it. `columns` of
    the binding (writeback_bindings) and its batch (writeback_batches) to select."""
    b, wb, r = tables.writeback_bindings, tables.writeback_batches, tables.writeback_refusals
    return (sa.select(*columns).join_from(b, wb, wb.c.batch_id == b.c.batch_id)
            .where(~sa.exists().where(r.c.event_id == b.c.event_id, r.c.batch_id == b.c.batch_id)))


def _taken() -> sa.Subquery:
    """The seq of every event a binding still holds."""
    return _holding(tables.writeback_bindings.c.seq).subquery("taken")


def _tops() -> sa.Subquery:
    """Per source, the highest seq its spans reach (source, top)."""
    s = tables.writeback_spans
    return sa.select(s.c.source, sa.func.max(s.c.last_seq).label("top")).group_by(s.c.source).subquery("tops")


def _top(source: str) -> sa.ScalarSelect:
    s = tables.writeback_spans
    return sa.select(sa.func.coalesce(sa.func.max(s.c.last_seq), 0)).where(s.c.source == source).scalar_subquery()


def source_top(conn: sa.Connection, source: str) -> int:
    """The highest seq the source's spans reach (0 before its first): what pending_events(source, top) takes. A
    value, not a subquery in the statement: Postgres plans `seq > (subquery)` without knowing how few events lie
    above, and scanned the whole outbox (50 ms a source at 1M events) where the value lets its BRIN index find the
    range."""
    return conn.execute(sa.select(_top(source))).scalar_one()


def _fresh(*columns, source: str | None = None, top: int | None = None, upto: int | None = None) -> sa.Select:
    """Outbox rows above their source's top without a binding or a refusal (a store migrated from schema 2 holds
    refusals of events never bound): the events the next span of their source takes. For one source, a range of
    the outbox (its BRIN index on Postgres, zonemaps on DuckDB)."""
    o, b, r = tables.writeback_outbox, tables.writeback_bindings, tables.writeback_refusals
    refused = sa.select(r.c.event_id).distinct().subquery("refused")
    if source is not None:
        top = _top(source) if top is None else sa.literal(top, sa.BigInteger)
        bound = sa.select(b.c.seq).where(b.c.seq > top).subquery("bound")
        query = sa.select(*columns).where(o.c.source == source, o.c.seq > top,
                                          *([o.c.seq <= upto] if upto is not None else []))
    else:
        tops = _tops()
        bound = sa.select(b.c.seq).subquery("bound")
        query = (sa.select(*columns).outerjoin_from(o, tops, tops.c.source == o.c.source)
                 .where(o.c.seq > sa.func.coalesce(tops.c.top, 0)))
    return (query.outerjoin(bound, bound.c.seq == o.c.seq).outerjoin(refused, refused.c.event_id == o.c.event_id)
            .where(bound.c.seq.is_(None), refused.c.event_id.is_(None)))


def _marked(*columns, source: str | None = None) -> sa.Select:
    """Outbox rows with a binding or a refusal, each once: the only events a span does not hold besides the fresh
    ones, and (but for a store from before schema 7) few."""
    o, b, r = tables.writeback_outbox, tables.writeback_bindings, tables.writeback_refusals
    marked = sa.union(sa.select(b.c.event_id), sa.select(r.c.event_id)).subquery("marked")
    query = sa.select(*columns).join_from(o, marked, marked.c.event_id == o.c.event_id)
    return query.where(o.c.source == source) if source is not None else query


def _span_held(*columns) -> sa.Select:
    """Outbox rows a span holds: at or below their source's top, with no binding and no refusal."""
    o, b, r = tables.writeback_outbox, tables.writeback_bindings, tables.writeback_refusals
    tops = _tops()
    return (sa.select(*columns).join_from(o, tops, tops.c.source == o.c.source)
            .where(o.c.seq <= tops.c.top, ~sa.exists().where(b.c.seq == o.c.seq),
                   ~sa.exists().where(r.c.event_id == o.c.event_id)))


def _unheld(query: sa.Select) -> sa.Select:
    """`query`'s outbox rows that no binding holds: an outer join kept where nothing took the event, which both
    engines run as an anti-join. Not `NOT IN (taken)`: Postgres hashes a NOT IN subquery only while it fits in
    work_mem, and otherwise scans it again for every outbox row (with 250,000 events bound, a source's pending
    count ran for over 14 minutes, bench/postgres_partitions.py). Nor NOT EXISTS: DuckDB took twice as long with
    it (0.24 against 0.12-0.15 s for 500,000 events of a source, 450,000 bound)."""
    o, taken = tables.writeback_outbox, _taken()
    return query.outerjoin(taken, taken.c.seq == o.c.seq).where(taken.c.seq.is_(None))


PENDING_COLUMNS = ("event_id", "source", "lead_id", "kind", "seq")


def pending_events(source: str | None = None, top: int | None = None) -> sa.Select:
    """Outbox events not yet (successfully) sent, optionally of one source: event_id, source, lead_id, kind, seq.
    Two parts that cannot overlap: the fresh events (no binding, above their source's top: nothing has held
    them) and the bound or refused ones that no binding holds now. Nothing of the source's history between,
    where `top` is the source's (source_top) and the engine reads the range above it by the outbox's seq."""
    o = tables.writeback_outbox
    columns = [o.c[name] for name in PENDING_COLUMNS]
    parts = [_fresh(*columns, source=source, top=top), _unheld(_marked(*columns, source=source))]
    return sa.select(sa.union_all(*parts).subquery("pending"))


def _prepared_spans() -> sa.Subquery:
    """The spans of batches still prepared (a few: a batch left by a run that died, or one being sent)."""
    s, wb = tables.writeback_spans, tables.writeback_batches
    return (sa.select(s.c.source, s.c.first_seq, s.c.last_seq).join_from(s, wb, wb.c.batch_id == s.c.batch_id)
            .where(wb.c.state == "prepared").subquery("prepared_spans"))


def _held_states() -> sa.Subquery:
    """(seq, rank) of every event something holds: 2 sent, 1 prepared (the furthest its batches took it)."""
    o, b, wb = tables.writeback_outbox, tables.writeback_bindings, tables.writeback_batches
    rank = sa.case((wb.c.state == "sent", 2), (wb.c.state == "prepared", 1), else_=0)
    bound = _holding(b.c.seq, sa.func.max(rank).label("rank")).group_by(b.c.seq)
    # a span's events are sent but those in a prepared batch's span: an outer join to those few spans (which do not
    # overlap), not an EXISTS in the CASE, which Postgres would run for every row
    p = _prepared_spans()
    spanned = (_span_held(o.c.seq, sa.case((p.c.first_seq.is_not(None), 1), else_=2).label("rank"))
               .outerjoin(p, sa.and_(p.c.source == o.c.source, o.c.seq >= p.c.first_seq, o.c.seq <= p.c.last_seq)))
    return sa.union_all(bound, spanned).subquery("held")


def sent_events() -> sa.Select:
    """Outbox events whose batch has been sent and did not refuse them (a selectable for counts and reports)."""
    o = tables.writeback_outbox
    held = _held_states()
    return (sa.select(o.c.event_id, o.c.source, o.c.lead_id, o.c.kind)
            .join(held, held.c.seq == o.c.seq).where(held.c.rank == 2))


def last_refusals() -> sa.Select:
    """Per refused event: how many times it was refused and the latest reason (event_id, attempts, last_error)."""
    r = tables.writeback_refusals
    ranked = sa.select(r.c.event_id, r.c.error, sa.func.count().over(partition_by=r.c.event_id).label("attempts"),
                       sa.func.row_number().over(partition_by=r.c.event_id,
                                                 order_by=(r.c.refused_at.desc(), r.c.batch_id.desc())).label("n")
                       ).subquery()
    return sa.select(ranked.c.event_id, ranked.c.attempts, ranked.c.error.label("last_error")).where(ranked.c.n == 1)


def prepared_batches(store: LeadStore, source: str) -> list[Batch]:
    b, s = tables.writeback_batches, tables.writeback_spans
    with store.begin() as conn:
        rows = conn.execute(
            sa.select(b.c.batch_id, b.c.source, b.c.target_name, b.c.event_count, b.c.created_at, s.c.first_seq,
                      s.c.last_seq)
            .outerjoin_from(b, s, s.c.batch_id == b.c.batch_id)
            .where(b.c.source == source, b.c.state == "prepared")
            .order_by(b.c.created_at, b.c.batch_id)
        ).fetchall()
    return [Batch(*r[:5], span=(r[5], r[6]) if r[5] is not None else None) for r in rows]


def prepare_batch(store: LeadStore, source: str, now: datetime, name_for) -> Batch | None:
    """Bind all pending events of `source` to a new batch; `name_for(batch_id, now)` names the target: the fresh
    ones as the batch's span (from the lowest of their seqs to the highest: one row), the others a binding each.
    The batch id derives from what it holds (count and first and last event) and when it was made."""
    o = tables.writeback_outbox
    again = _unheld(_marked(o.c.event_id, o.c.seq, source=source)).subquery("again")
    with store.begin() as conn:
        # every event numbered up to `drawn` has committed (or given up) once the producers holding the source's
        # order now have ended; later ones are above it: no event can turn up inside the span (module docstring).
        # Waited for before the section below, holding nothing: a transaction in the section that had produced
        # events of the source earlier would otherwise wait for this one while it waits for it.
        drawn = store.drawn(conn, tables.OUTBOX_SEQ)
        store.wait_for_holders(conn, _order_section(source))
        # one writer per source (run tag limit / file lock / this section): the events bound are those counted
        store.hold(conn, f"outbox:{source}")
        fresh = _fresh(o.c.event_id, o.c.seq, source=source, top=source_top(conn, source), upto=drawn
                       ).subquery("fresh")
        n_fresh, first_seq, last_seq, first_fresh, last_fresh = conn.execute(sa.select(
            sa.func.count(), sa.func.min(fresh.c.seq), sa.func.max(fresh.c.seq), sa.func.min(fresh.c.event_id),
            sa.func.max(fresh.c.event_id))).one()
        n_again, first_again, last_again = conn.execute(sa.select(
            sa.func.count(), sa.func.min(again.c.event_id), sa.func.max(again.c.event_id))).one()
        count = n_fresh + n_again
        if not count:
            return None
        first = min(e for e in (first_fresh, first_again) if e is not None)
        last = max(e for e in (last_fresh, last_again) if e is not None)
        digest = hashlib.sha1(f"{source}\n{count}\n{first}\n{last}\n{now.isoformat()}".encode())
        batch_id = digest.hexdigest()[:16]
        span = (int(first_seq), int(last_seq)) if n_fresh else None
        batch = Batch(batch_id, source, name_for(batch_id, now), int(count), now, span)
        conn.execute(sa.insert(tables.writeback_batches).values(
            batch_id=batch.batch_id, source=source, target_name=batch.target_name,
            event_count=batch.event_count, created_at=now, state="prepared"))
        if span is not None:
            conn.execute(sa.insert(tables.writeback_spans).values(batch_id=batch_id, source=source,
                                                                  first_seq=span[0], last_seq=span[1]))
        if n_again:
            conn.execute(sa.insert(tables.writeback_bindings).from_select(
                ["event_id", "batch_id", "seq"], sa.select(again.c.event_id, sa.literal(batch_id, sa.String),
                                                           again.c.seq)))
    return batch


def members(batch: Batch, low: int | None = None, high: int | None = None) -> sa.Select:
    """The events the batch holds (seq, event_id), those with seq from `low` up to, not including, `high` where
    given: its bindings, and its span's events that have no binding (refusals aside: a batch being sent has
    none yet, and a refused event is read as such through writeback_refusals)."""
    o, b = tables.writeback_outbox, tables.writeback_bindings
    bound = sa.select(b.c.seq, b.c.event_id).where(b.c.batch_id == batch.batch_id, *seq_range(b.c.seq, low, high))
    if batch.span is None:
        return bound
    return sa.union_all(bound, in_span(sa.select(o.c.seq, o.c.event_id), batch, low, high))


def in_span(query: sa.Select, batch: Batch, low: int | None = None, high: int | None = None) -> sa.Select:
    """`query` (outbox rows) narrowed to the events the batch's span holds (with seq in [low, high) where given):
    its source's events in the span's range with no binding (an outer join kept where none is found)."""
    o, b = tables.writeback_outbox, tables.writeback_bindings
    first, last = batch.span
    within = [o.c.seq >= first, o.c.seq <= last, *seq_range(o.c.seq, low, high)]
    bound = sa.select(b.c.seq).where(b.c.seq >= first, b.c.seq <= last, *seq_range(b.c.seq, low, high)
                                     ).subquery("bound")
    return (query.where(o.c.source == batch.source, *within).outerjoin(bound, bound.c.seq == o.c.seq)
            .where(bound.c.seq.is_(None)))


def bound_to(query: sa.Select, batch: Batch, low: int | None = None, high: int | None = None) -> sa.Select:
    """`query` (outbox rows) narrowed to the events bound to the batch one by one (seq in [low, high) where
    given), found by their ids: the outbox's key."""
    o, b = tables.writeback_outbox, tables.writeback_bindings
    ids = sa.select(b.c.event_id).where(b.c.batch_id == batch.batch_id, *seq_range(b.c.seq, low, high))
    return query.where(o.c.event_id.in_(ids), *seq_range(o.c.seq, low, high))


def of_batch(query: sa.Select, batch: Batch, low: int | None = None, high: int | None = None) -> sa.Select:
    """`query` (outbox rows) narrowed to the batch's events (seq in [low, high) where given): bound_to and in_span
    as one relation (not one OR: each part keeps its own index, the key for one and the seq range for the
    other)."""
    bound = bound_to(query, batch, low, high)
    if batch.span is None:
        return bound
    return sa.select(sa.union_all(bound, in_span(query, batch, low, high)).subquery("of_batch"))


def batch_events() -> sa.Subquery:
    """(batch_id, event_id, seq) of every event each batch holds or held, whatever became of it since (who refused
    what is writeback_refusals): the whole history, for audits and checks. A span held each event of its range
    with no binding, or with one made after the span refused it (its next attempt): a binding made before the span
    (an event marked as changed at the source) kept the event out of it."""
    o, b, s, r = tables.writeback_outbox, tables.writeback_bindings, tables.writeback_spans, tables.writeback_refusals
    spanned = (sa.select(s.c.batch_id, o.c.event_id, o.c.seq)
               .join_from(o, s, sa.and_(s.c.source == o.c.source, o.c.seq >= s.c.first_seq, o.c.seq <= s.c.last_seq))
               .where(sa.or_(~sa.exists().where(b.c.seq == o.c.seq),
                             sa.exists().where(r.c.event_id == o.c.event_id, r.c.batch_id == s.c.batch_id))))
    return sa.union_all(sa.select(b.c.batch_id, b.c.event_id, b.c.seq), spanned).subquery("batch_events")


def seq_range(seq: sa.ColumnElement, low: int | None, high: int | None) -> list:
    return [*([seq >= low] if low is not None else []), *([seq < high] if high is not None else [])]


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
    o = tables.writeback_outbox
    # per held event, the furthest its batches took it (2 sent, 1 prepared), refusals aside: one relation joined by
    # seq. An EXISTS per state inside the CASE would be a subplan run for every outbox row, each one a scan of the
    # bindings (their key leads with the batch, not the seq).
    held = _held_states()
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

    with store.begin() as conn:
        store.hold(conn, f"outbox:{source}")
        pending = pending_events(source, source_top(conn, source)).subquery()
        mine = (sa.select(pending.c.event_id, pending.c.seq)
                .join(lt.lifecycle_events, lt.lifecycle_events.c.event_id == pending.c.event_id)
                .where(lt.lifecycle_events.c.actor == actor)).subquery()
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
