"""A part of a status file written by DuckDB in the outbox's own order, without sorting it, where that is checked
to be the seq order the file needs.

Sorting each part by seq was half the engine's work for a status file: every string of a quarter of a million rows
copied into the sort and, under the write-back's memory cap, spilled to disk and read back; and the batch's events
were found by a join with its bindings. But the outbox is appended in seq order, and a batch usually holds all of
its source's events in a seq range. DuckDB keeps the table's order for a query made only of a scan of one table,
filters and projections, written by its order-keeping COPY (BATCH_COPY_TO_FILE) with preserve_insertion_order on
(its documentation: "Order Preservation"). So a part is written from the outbox alone, unsorted, when three
things hold in the transaction that writes it, and as before (bindings joined, rows sorted) otherwise:

1. the batch's events in the part's seq range are all of its source's outbox rows there, so a filter on the
   outbox alone selects exactly them (it is not so where an earlier batch took some of them: events refused and
   bound again, events marked as changed at the source);
2. among those rows seq rises with the place in the table (rowid), so the scan meets them in seq order;
3. DuckDB's plan of the COPY holds only order-keeping operators: an expression the planner turns into a join
   (an IN list of six constants is one) makes DuckDB's COPY drop the order, and the part is sorted instead.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from leadsync.store import tables
from leadsync.writeback.outbox import Batch, members

# The physical operators that keep their input's order (DuckDB's names), under the COPY that writes in order.
ORDERED_COPY = "BATCH_COPY_TO_FILE"
ORDER_KEEPING = {"PROJECTION", "FILTER", "SEQ_SCAN", "TABLE_SCAN"}


def batch_seq_span(conn: sa.Connection, batch: Batch) -> tuple[int | None, int | None]:
    """The lowest and highest outbox seq the batch holds: of its bindings and its span (whose ends are events it
    holds)."""
    b = tables.writeback_bindings
    low, high = conn.execute(sa.select(sa.func.min(b.c.seq), sa.func.max(b.c.seq))
                             .where(b.c.batch_id == batch.batch_id)).one()
    ends = [e for e in (low, high, *(batch.span or ())) if e is not None]
    return (min(ends), max(ends)) if ends else (None, None)


def source_range(batch: Batch, low: int, high: int) -> list:
    """The filter on the outbox alone: the batch's source's events with seq from `low` up to `high`."""
    o = tables.writeback_outbox
    return [o.c.source == batch.source, o.c.seq >= low, o.c.seq < high]


def batch_alone_in_range(conn: sa.Connection, batch: Batch, low: int, high: int) -> bool:
    """Check 1 alone: the source's outbox rows in [low, high) are the batch's events there. Postgres uses it to
    choose a part's rows by the outbox alone (sorted by seq, as Postgres keeps no order of its own) instead of
    joining the batch's bindings."""
    if span_covers(conn, batch, low, high):
        return True
    count, = conn.execute(sa.select(sa.func.count()).where(*source_range(batch, low, high))).one()
    return count == conn.execute(_bound_in_range(batch, low, high)).scalar_one()


def span_covers(conn: sa.Connection, batch: Batch, low: int, high: int) -> bool:
    """Check 1 without reading the outbox: [low, high) lies in the batch's span and no event there has a binding, so
    the span holds every event of its source there (what a batch of new events always is)."""
    if batch.span is None or not (batch.span[0] <= low and high - 1 <= batch.span[1]):
        return False
    b = tables.writeback_bindings
    return not conn.execute(sa.select(sa.exists().where(b.c.seq >= low, b.c.seq < high))).scalar_one()


def _bound_in_range(batch: Batch, low: int, high: int) -> sa.Select:
    """How many events the batch holds in [low, high)."""
    held = members(batch, low, high).subquery()
    return sa.select(sa.func.count()).select_from(held)


def rows_lie_in_seq_order(conn: sa.Connection, batch: Batch, low: int, high: int) -> bool:
    """Checks 1 and 2: the source's outbox rows in [low, high) are the batch's events there, and the table holds
    them in seq order (each one's seq above the one before it in the table)."""
    o = tables.writeback_outbox
    bound = _bound_in_range(batch, low, high).scalar_subquery()
    rowid = sa.literal_column(f"{o.name}.rowid")
    rows = (sa.select(o.c.seq, sa.func.lag(o.c.seq).over(order_by=rowid).label("before"))
            .where(*source_range(batch, low, high)).subquery())
    count, out_of_order, batch_count = conn.execute(
        sa.select(sa.func.count(), sa.func.count().filter(rows.c.seq <= rows.c.before), bound)).one()
    return count == batch_count and out_of_order == 0


def plan_keeps_order(conn: sa.Connection, copy_sql: str) -> bool:
    """Check 3: DuckDB's physical plan of the COPY statement writes in order and holds only order-keeping
    operators (EXPLAIN plans it without running it)."""
    (_, plan), = conn.exec_driver_sql(f"EXPLAIN (FORMAT json) {copy_sql}").fetchall()
    roots = json.loads(plan)

    def operators(node: dict):
        yield node["name"]
        for child in node.get("children", []):
            yield from operators(child)

    return (len(roots) == 1 and roots[0]["name"] == ORDERED_COPY
            and set(operators(roots[0])) - {ORDERED_COPY} <= ORDER_KEEPING)
