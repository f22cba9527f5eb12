"""Route a source's new leads, and withdraw and reroute leads not accepted in time; every decision is
recorded with its audit row and its writeback event in one transaction, and the round-robin pointers move in
that same one or (new leads on Postgres: see ROUTE_SLICE) in the routing section's transaction just before it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from leadsync.config.schema import PartnersConfig, SourceConfig
from leadsync.intake import leads_frame, parse_payloads
from leadsync.routing.business_time import latest_start, moments
from leadsync.routing.conflicts import CONFLICT_KEYS, earlier_holders
from leadsync.routing.conflicts import policy_for as conflict_policy
from leadsync.routing.engine import RoutingResult, RoutingState, fields_used, route
from leadsync.routing.offers import expire_offers
from leadsync.routing.state import (
    DECISION_FIELDS,
    DECISION_SCHEMA,
    ROUTING_DUCKDB_MEMORY,
    ROUTING_SECTION,
    ROW_GROUP,
    await_recordings,
    begin_recording,
    end_recording,
    hold_routing,
    load_state,
    record,
    save_positions,
    section_reads,
)
from leadsync.store import LeadStore, tables
from leadsync.store.engine import insertion_order_kept
from leadsync.store.tables import STANDARD_LEAD_FIELDS


@dataclass
class RoutingReport:
    decided: int = 0
    per_partner: Counter = field(default_factory=Counter)
    per_step: Counter = field(default_factory=Counter)
    unassigned: int = 0
    needs_review: int = 0
    withdrawn: int = 0
    offers_expired: int = 0
    preview: pd.DataFrame | None = None

    def add(self, decisions: pd.DataFrame | pa.Table, partners: PartnersConfig) -> None:
        """Count decisions (a DataFrame, or an Arrow table as the routing stage records them)."""
        if isinstance(decisions, pa.Table):
            frame = decisions.select(["status", "partner_id", "step"]).to_pandas()  # dictionary → categorical
            preview = decisions.slice(0, 10).to_pandas().astype(object)
            preview = preview.where(preview.notna(), None)
        else:
            frame = preview = decisions
        self.decided += len(frame)
        routed = frame[frame["status"] == "routed"]
        names = {p.id: p.name for p in partners.partners}
        self.per_partner.update({names.get(p, p): int(n) for p, n in routed["partner_id"].value_counts().items() if n})
        self.per_step.update({s: int(n) for s, n in frame["step"].value_counts().items() if n})
        self.unassigned += int((frame["status"] == "unassigned").sum())
        self.needs_review += int((frame["status"] == "needs_review").sum())
        self.preview = preview.head(10)[["lead_id", "status", "partner_id", "step", "rule_group", "reason"]]


def _arrival_order(leads: pd.DataFrame) -> pd.DataFrame:
    """Round robin hands out slots in arrival order: the same input always routes the same way."""
    return leads.sort_values(["received_at", "batch_id", "row_number"], kind="stable").reset_index(drop=True)


# Routing reads the waiting leads in slices of ROUTE_SLICE (arrival order), so its memory stays that of one
# slice however many leads wait. A slice is whole DuckDB row groups (see state.ROW_GROUP), so each slice's
# decisions go to the store without a part-filled group.
#
# One router per source at a time (the section `routing:<source>`, held for the whole run) chooses the source's
# waiting leads once, as a queue, and reads each slice's leads outside the routing section: nobody else routes
# them. Each slice is then a transaction of its own that enters the routing section (shared by every source)
# only to decide: read the state (pointers, open leads per partner), route, record the new pointers and the
# decisions the state counts (state.section_reads: leads given to partners with a capacity), commit. On Postgres
# the slice's other decisions and their events, nearly all of its rows, are recorded in a second transaction
# once the section is left. Deciding a slice takes ~0.15 s and recording it 2.3-3.3 s of COPY (245,760
# assignments and events): recorded in the section, two sources' slices took turns and routing kept about one of
# the two cores busy; recorded after it, the other source's turn and COPY go on beside it. Until it commits, such
# a recording is in flight (state.begin_recording): a router checking conflicts (earlier_holders reads every
# decision that holds an account, any source's) waits for all of them in the section, and records its own slices
# whole there; one decided with other capacity partners waits for those with different ones (load_state). A
# run that dies between the two transactions leaves those leads waiting, routed by the next run with new slots
# (a slot is never handed out twice; one lost so is skipped). The state is read afresh for each slice,
# since the other source's slices commit between ours. DuckDB has one writer (the session keeps the file lock
# from the first slice to the last), so the state read once carries over from slice to slice and a slice is one
# transaction. A transaction per slice also bounds DuckDB's memory: it keeps every block a transaction wrote
# until it ends (one transaction over 5M leads grew by ~300 MB). A run that dies between two slices leaves the
# rest waiting, routed by the next run like any new lead.
ROUTE_SLICE = 2 * ROW_GROUP


def route_new_leads(cfg: SourceConfig, partners: PartnersConfig, store: LeadStore, now: datetime) -> RoutingReport:
    report = RoutingReport()
    shared_state = store.dialect != "duckdb"  # other processes' decisions can commit between our slices
    with store.exclusive(f"{ROUTING_SECTION}:{cfg.name}"), \
            store.session(duckdb_memory_limit=ROUTING_DUCKDB_MEMORY) as session:
        with session.begin() as conn:
            waiting, finished = _queue_new_leads(store, conn, cfg)
        used = fields_used(partners, cfg)
        policy = conflict_policy(cfg, partners)
        state: RoutingState | None = None
        for start in range(0, waiting, ROUTE_SLICE):
            stop = min(start + ROUTE_SLICE, waiting)
            with session.begin() as conn:
                leads = _queued_leads(store, conn, cfg, used, start, stop)
                context = _lead_context(conn, leads)
                held = leads["segregated"].to_numpy(dtype=bool, na_value=False)
                if policy:  # the conflict check joins the queue: its statistics made before the section
                    _with_statistics(store, conn)
                hold_routing(store, conn)  # from here until the slice commits
                if state is None or shared_state:
                    state = load_state(store, conn, partners)
                if policy:
                    await_recordings(store, conn, partners, every=True)
                conflicts = earlier_holders(store, conn, policy, _queue_slice(
                    store, conn, CONFLICT_KEYS, start, stop)) if policy else None
                result = route(leads[~held].reset_index(drop=True), partners, cfg, state, conflicts)
                decisions = _first_decisions(leads["lead_id"], held, result, cfg)
                inside = section_reads(decisions, partners) if shared_state and not policy else None
                if inside is None:
                    record(store, conn, decisions, partners, now, first=True, context=context)
                else:
                    record(store, conn, decisions.filter(inside), partners, now, first=True,
                           context=context.filter(inside))
                    begin_recording(store, conn, partners)  # the rest is in flight until it commits
                save_positions(store, conn, result.positions, now)
            if inside is not None:  # the rest, once the section is left (see ROUTE_SLICE)
                with session.begin() as conn:
                    after = pc.invert(inside)
                    record(store, conn, decisions.filter(after), partners, now, first=True,
                           context=context.filter(after))
                with session.begin() as conn:  # only once committed (a failed block discards the connection)
                    end_recording(store, conn, partners)
            report.add(decisions, partners)
            state = advance(state, result)
        with session.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS routing_queue")
            _record_routed(store, conn, cfg.name, finished, now)  # every slice has committed
    return report


def _queue_new_leads(store: LeadStore, conn: sa.Connection, cfg: SourceConfig) -> tuple[int, list[str]]:
    """The source's leads not yet routed, in arrival order, as a temporary table the slices read; returns how
    many, and which of the batches looked in to record as routed once the slices have committed (_waiting_in).
    On DuckDB the queue holds only each lead's row id, written in arrival order (its own row ids are
    then the queue's order): a temporary table stays in memory until the transaction ends, and millions of
    lead ids would cost hundreds of MB. On Postgres it holds lead ids numbered in arrival order (`ord`), with
    where each lead lies (its batch and row number: see _read_slice)."""
    l, a = tables.leads, tables.assignments
    arrival = (l.c.received_at, l.c.batch_id, l.c.row_number)
    conn.exec_driver_sql("DROP TABLE IF EXISTS routing_queue")
    batches, finished = _waiting_in(store, conn, cfg.name)
    if batches is not None and not batches:
        return 0, finished
    in_batches = [l.c.batch_id.in_(batches)] if batches is not None else []
    not_routed = (l.c.source == cfg.name, ~sa.exists().where(a.c.lead_id == l.c.lead_id), *in_batches)
    if store.dialect == "duckdb":
        # Batches sort by their ordinal among the source's batches, not by their ids: the sort of millions of
        # leads then carries three fixed-width keys, which halves its memory.
        ids = sa.select(l.c.batch_id).where(l.c.source == cfg.name, *in_batches).distinct().subquery("batch_ids")
        order = sa.select(ids.c.batch_id, sa.func.row_number().over(order_by=ids.c.batch_id).label("batch_ord")
                          ).subquery("batch_order")
        waiting = (sa.select(sa.literal_column("leads.rowid").label("rid"))
                   .select_from(l.join(order, order.c.batch_id == l.c.batch_id)).where(*not_routed)
                   .order_by(l.c.received_at, order.c.batch_ord, l.c.row_number))
        with insertion_order_kept(conn):  # the ORDER BY is the queue's row order
            conn.exec_driver_sql("CREATE TEMP TABLE routing_queue AS " + store.render(conn, waiting))
    else:
        waiting = sa.select(l.c.lead_id, l.c.batch_id, l.c.row_number,
                            sa.func.row_number().over(order_by=arrival).label("ord")).where(*not_routed)
        # CREATE TABLE AS reports the rows it wrote ("SELECT n"): no count(*) reads the queue back
        queued = conn.exec_driver_sql("CREATE TEMP TABLE routing_queue AS " + store.render(conn, waiting)).rowcount
        # each slice reads a range of `ord`, in order: without the index every slice scanned and sorted the
        # whole queue (500,000 rows read three times over for a source's three slices)
        conn.exec_driver_sql("CREATE INDEX ON routing_queue (ord)")
        conn.info.pop(_QUEUE_ANALYZED, None)  # the statistics are made when a join first needs them
        if queued is not None and queued >= 0:
            return queued, finished
    return conn.exec_driver_sql("SELECT count(*) FROM routing_queue").scalar_one(), finished


# Past this many batches not yet recorded as routed (after a long outage), the queue looks through the whole source,
# as it did before the ledger, rather than through a list of batches that long.
BATCH_LIST_MAX = 1000


def _waiting_in(store: LeadStore, conn: sa.Connection, source: str) -> tuple[list[str] | None, list[str]]:
    """Where the source's unrouted leads can be: the batches the intake has stored leads of (its ledgers: a slice's
    leads commit with its `intake_slices` row, a finished batch's with its `intake_batches` row) that the
    routed-batches ledger (tables.routing_batches) does not hold; or None, the whole source, when that ledger holds
    none of the source's batches yet (its first run, or the first after `leadsync store migrate` to schema 8: the
    leads of an earlier leadsync need not have intake ledger rows) or past BATCH_LIST_MAX. Read from the small
    ledgers, not the leads: its cost grows with the source's batches, as the intake's own `new_batches` does.

    Also which of those batches the intake had finished when this statement read them: recorded as routed after
    this run (those with no lead too, so they are not looked in again). A batch the intake is still mapping, a
    slice at a time, is looked in but not recorded: its later slices' leads are not stored yet. A finished batch
    has all its leads committed before this read, so the queue made after it finds them."""
    ib, sl, sf, r = tables.intake_batches, tables.intake_slices, tables.source_files, tables.routing_batches
    known = sa.union(sa.select(ib.c.batch_id).where(ib.c.source == source),
                     sa.select(sl.c.batch_id).join(sf, sf.c.batch_id == sl.c.batch_id)
                     .where(sf.c.source == source)).subquery("known")
    rows = conn.execute(sa.select(known.c.batch_id, sa.exists().where(ib.c.batch_id == known.c.batch_id))
                        .where(~sa.exists().where(r.c.source == source, r.c.batch_id == known.c.batch_id))).all()
    finished = [batch for batch, done in rows if done]
    first = conn.execute(sa.select(sa.literal(1)).where(r.c.source == source).limit(1)).first() is None
    if first or len(rows) > BATCH_LIST_MAX:
        return None, finished
    return [batch for batch, _done in rows], finished


def _record_routed(store: LeadStore, conn: sa.Connection, source: str, batches: list[str], now: datetime) -> None:
    """Record `batches` in the routed-batches ledger: their intake had finished before this run's queue was made,
    and every lead the queue took from them has been decided and committed."""
    if batches:
        store.insert_frame(conn, tables.routing_batches,
                           pd.DataFrame({"source": source, "batch_id": batches, "routed_at": now}), conflict="nothing")


# conn.info key: the Postgres routing queue of this connection has its statistics.
_QUEUE_ANALYZED = "leadsync.routing_queue_analyzed"


def _with_statistics(store: LeadStore, conn: sa.Connection) -> None:
    """Analyze `conn`'s Postgres routing queue (once per queue) for a query that joins it to the leads:
    a temporary table has no statistics, and without them the planner looped over the queue for each lead. The
    slices' own reads (a range of `ord`, by its index) need none, and ANALYZE took 0.2-0.3 s of the server's
    CPU per source at 1M leads, so a run whose slices are all read by their spans never pays it."""
    if store.dialect == "postgresql" and not conn.info.get(_QUEUE_ANALYZED):
        conn.exec_driver_sql("ANALYZE routing_queue")
        conn.info[_QUEUE_ANALYZED] = True


def _queued_leads(store: LeadStore, conn: sa.Connection, cfg: SourceConfig, used: list[str], start: int,
                  stop: int) -> pd.DataFrame:
    """Queued leads start < position <= stop (stop at most the queue's length) in arrival order, with the
    fields routing reads, as Arrow-backed columns (no Python object per value; routing dictionary-encodes them
    in Arrow). Mapped fields without a column of their own come from the leads' attributes."""
    l = tables.leads
    extra = [f.field for f in cfg.fields if f.field not in STANDARD_LEAD_FIELDS and f.field in set(used)]
    held = sa.func.coalesce(l.c.segregated, False).label("segregated")
    context = [l.c.row_number.label(CONTEXT_READ["source_row"]), l.c.batch_id.label(CONTEXT_READ["source_file"])]
    fields = {name for name in used if name in STANDARD_LEAD_FIELDS or name == "received_at"} | {"email"}
    cols = [l.c.lead_id, held, *context, *[l.c[name] for name in sorted(fields)]]
    table = _read_slice(store, conn, cfg.name, [*cols, *([l.c.attributes] if extra else [])], start, stop)
    leads = table.to_pandas(types_mapper=pd.ArrowDtype)
    if extra:
        attributes = leads.pop("attributes")
        present = attributes.notna() & (attributes != "")
        values = parse_payloads(attributes[present].astype(object)) if present.any() else pd.DataFrame()
        values.index = leads.index[present]
        for name in extra:
            leads[name] = values[name].reindex(leads.index) if name in values else None
    return leads


# The leads' context their writeback events carry (writeback/lead_context.py), read with the slice under names
# of their own; the batch id becomes its file's name. The email is the `email` column routing reads anyway
# (fields_used always has it): read once, not twice through the slice's sort.
CONTEXT_READ = {"source_row": "context_row", "source_file": "context_batch"}


def _lead_context(conn: sa.Connection, leads: pd.DataFrame) -> pa.Table:
    """Takes the context columns out of a slice's leads (the email stays, routing reads it): an Arrow table of
    CONTEXT, row for row."""
    email = pa.array(leads["email"])
    row, batch = (pa.array(leads.pop(CONTEXT_READ[name])) for name in ("source_row", "source_file"))
    batches = pc.unique(batch).drop_null()
    f = tables.source_files
    names = dict(conn.execute(sa.select(f.c.batch_id, f.c.file_name).where(
        f.c.batch_id.in_(batches.to_pylist()))).fetchall()) if len(batches) else {}
    keys = pa.array(list(names), pa.string())
    files = pc.take(pa.array(list(names.values()), pa.string()), pc.index_in(batch, value_set=keys))
    return pa.table({"email": pc.cast(email, pa.string()), "source_file": files,
                     "source_row": pc.cast(row, pa.int64())})


# The Postgres routing queue's columns the slices read (_queue_new_leads makes it).
POSTGRES_QUEUE = sa.table("routing_queue", sa.column("lead_id", sa.String), sa.column("batch_id", sa.String),
                          sa.column("row_number", sa.BigInteger), sa.column("ord", sa.BigInteger))


def _queue_slice(store: LeadStore, conn: sa.Connection, columns: list, start: int, stop: int) -> sa.Select:
    """`columns` of the leads at queue positions start … stop - 1, in queue order."""
    query = sa.select(*columns)
    if store.dialect == "duckdb":
        return _in_queue_rows(conn, query, start, stop)
    l, queue = tables.leads, POSTGRES_QUEUE
    _with_statistics(store, conn)
    return (query.select_from(l.join(queue, queue.c.lead_id == l.c.lead_id))
            .where(queue.c.ord > start, queue.c.ord <= stop).order_by(queue.c.ord))


# A slice spanning more batches than this is read by _queue_slice's join (_slice_spans' bounds are a condition
# per batch).
SLICE_SPANS = 64


def _read_slice(store: LeadStore, conn: sa.Connection, source: str, columns: list, start: int,
                stop: int) -> pa.Table:
    """`columns` (lead_id first) of the leads at queue positions start … stop - 1, in queue order, as Arrow.
    Postgres: the leads are read by where they lie (_slice_spans) and put in queue order here. The join to
    the queue read every lead of every source for each slice (at 1M leads in two sources, six slices read
    6M rows); bounds added to that join were no cure: without statistics on freshly loaded leads, Postgres
    estimated the bounded leads at a few rows and looped over the queue for each (a slice ran minutes)."""
    if store.dialect != "postgresql":
        return _joined_slice(store, conn, columns, start, stop)
    q = POSTGRES_QUEUE
    ids = (sa.select(q.c.lead_id, q.c.batch_id, q.c.row_number).where(q.c.ord > start, q.c.ord <= stop)
           .order_by(q.c.ord))
    queued = _arrow(store.read_batches(conn, ids), ids)  # one read of the queue: the order and the spans
    spans = _slice_spans(queued)
    if not spans:
        return _joined_slice(store, conn, columns, start, stop)
    l = tables.leads
    where = sa.or_(*[sa.and_(l.c.batch_id == batch, l.c.row_number.between(low, high)) for batch, low, high in spans])
    query = sa.select(*columns).where(l.c.source == source, where)
    found = _arrow(store.read_batches(conn, query), query)
    # a lead inside the bounds but not in this slice (routed before the queue was made) is left out
    at = pc.index_in(pc.cast(queued.column(0), pa.string()), value_set=pc.cast(found.column(0), pa.string()))
    if at.null_count:
        # a queued lead is no longer where the queue saw it (a key-mode pull moved it to its new batch and
        # row meanwhile): this slice is read by the join, which finds leads by id wherever they lie
        return _joined_slice(store, conn, columns, start, stop)
    return found.take(at)


def _joined_slice(store: LeadStore, conn: sa.Connection, columns: list, start: int, stop: int) -> pa.Table:
    query = _queue_slice(store, conn, columns, start, stop)
    return _arrow(store.read_batches(conn, query), query)


def _slice_spans(queued: pa.Table) -> list[tuple[str, int, int]] | None:
    """Where a slice's queued leads (lead_id, batch_id, row_number) lie: per batch, the row numbers they span
    (a source's batch is queued in row order, so they are one range of it); None past SLICE_SPANS batches."""
    spans = queued.group_by("batch_id").aggregate([("row_number", "min"), ("row_number", "max")])
    if spans.num_rows > SLICE_SPANS:
        return None
    return list(zip(*(spans[name].to_pylist() for name in ("batch_id", "row_number_min", "row_number_max")),
                    strict=True))


def _arrow(batches: Iterator[pa.RecordBatch], query: sa.Select) -> pa.Table:
    batches = list(batches)
    return pa.Table.from_batches(batches) if batches else pa.table(
        {c.name: pa.array([], pa.bool_() if c.name == "segregated" else pa.string()) for c in query.selected_columns})


def _in_queue_rows(conn: sa.Connection, query: sa.Select, start: int, stop: int) -> sa.Select:
    """DuckDB: the leads at queue positions start … stop - 1, in queue order. A queue made inside the
    transaction numbers its rows from a base of its own (DuckDB's row ids for rows not yet committed),
    consecutively in the order written. The bounds on the leads' own row ids (the slice's smallest and largest)
    are redundant with the join; they let DuckDB skip the row groups of leads outside the slice instead of
    reading every lead for every slice."""
    rowid = sa.literal_column("leads.rowid")
    base = conn.exec_driver_sql("SELECT min(rowid) FROM routing_queue").scalar_one()
    first, last = base + start, base + stop - 1
    low, high = conn.exec_driver_sql(f"SELECT min(rid), max(rid) FROM routing_queue "
                                     f"WHERE rowid BETWEEN {int(first)} AND {int(last)}").one()
    position = sa.literal_column("rowid")
    part = (sa.select(sa.literal_column("rid"), position.label("pos")).select_from(sa.table("routing_queue"))
            .where(position.between(first, last)).subquery("queue"))
    return (query.select_from(tables.leads.join(part, part.c.rid == rowid))
            .where(rowid.between(low, high)).order_by(part.c.pos))


def _first_decisions(lead_ids: pd.Series, held: np.ndarray, result: RoutingResult, cfg: SourceConfig) -> pa.Table:
    """A slice's first decisions as an Arrow table (state.DECISION_SCHEMA, text columns dictionary-encoded),
    in arrival order: the engine's decision kinds by code, and the leads matching the source's segregation
    filter (stored, recorded, never distributed). No text is copied per lead."""
    kinds = pd.concat([result.kinds, pd.DataFrame([{
        "status": "segregated", "step": "segregated",
        "reason": "matches the source's segregation filter: stored, never distributed"}])], ignore_index=True)
    codes = np.full(len(lead_ids), len(kinds) - 1, dtype=np.int64)
    codes[~held] = result.codes
    n = len(codes)
    per_lead = pa.array(codes)
    ids = pa.array(lead_ids)
    columns = {"lead_id": ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids,
               "version": pa.repeat(pa.scalar(1, pa.int64()), n)}
    for name in DECISION_FIELDS:
        columns[name] = _by_code(kinds[name], per_lead, DECISION_SCHEMA.field(name).type)
    constant = pa.array(np.zeros(n, dtype=np.int64))
    columns.update(source=_by_code(pd.Series([cfg.name]), constant, pa.string()),
                   decided_by=_by_code(pd.Series(["engine"]), constant, pa.string()),
                   attempt=pa.repeat(pa.scalar(1, pa.int64()), n), action=columns["status"])
    return pa.table(columns)


def _by_code(per_kind: pd.Series, codes: pa.Array, type_: pa.DataType) -> pa.Array:
    """Per lead `per_kind[code]`: text as a dictionary array over the distinct values (null where None). The
    kinds' own column is taken by the leads' codes in Arrow (a dictionary array's take moves only indices)."""
    values = per_kind.astype(object).where(per_kind.notna(), None)
    if not pa.types.is_string(type_):
        return pa.array(values.tolist(), type_).take(codes)
    value_codes, distinct = pd.factorize(values, use_na_sentinel=True)
    kinds = pa.DictionaryArray.from_arrays(pa.array(value_codes, type=pa.int32(), mask=value_codes < 0),
                                           pa.array(distinct.tolist(), pa.string()))
    return kinds.take(codes)


def advance(state: RoutingState, result: RoutingResult) -> RoutingState:
    """The state after a slice's decisions: its pointers, and its routed leads counted as open."""
    positions = {**state.positions, **{k: slot for k, (slot, _partners) in result.positions.items()}}
    open_leads = dict(state.open_leads)
    for partner, n in result.count("partner_id", where={"status": "routed"}).items():
        open_leads[partner] = open_leads.get(partner, 0) + int(n)
    return RoutingState(positions=positions, open_leads=open_leads, excluded=state.excluded)


def overdue(assigned: pd.DataFrame, partners: PartnersConfig, now: datetime) -> pd.Series:
    """Which routed leads have waited longer than their partner's (or the global) acceptance window, counted
    in the partner's time zone and business days (routing.business_time). Auto-accept partners accept on
    delivery, so their leads never time out."""
    ends = moments(assigned, partners)
    return ends.notna() & (ends <= pd.Timestamp(now))


def reroute_overdue(cfg: SourceConfig, partners: PartnersConfig, store: LeadStore, now: datetime) -> RoutingReport:
    """Withdraw leads not accepted in time (recording the partner that had them) and route them again,
    never back to a partner that already had them; unassigned when none is left."""
    report = RoutingReport()
    report.offers_expired = expire_offers(cfg, partners, store, now)  # unclaimed offers go to their fallback
    cutoff = reroute_cutoff(partners, now)
    if cutoff is None:
        return report
    with store.begin() as conn:  # a look outside the routing section first (see _late_routed)
        if _late_routed(store, conn, cfg, partners, cutoff, now).empty:
            return report
    with store.begin() as conn:
        hold_routing(store, conn)
        late = _late_routed(store, conn, cfg, partners, cutoff, now)  # again: another step may have taken some
        if late.empty:
            return report
        names = {p.id: p.name for p in partners.partners}
        days = late["partner_id"].map(lambda pid: partners.by_id(pid).accept_within_days
                                      or partners.routing.accept_within_days)
        withdrawn = pd.DataFrame({
            "lead_id": late["lead_id"], "source": cfg.name, "version": late["version"] + 1,
            "action": "withdrawn", "status": "withdrawn", "step": "timeout", "partner_id": late["partner_id"],
            "rep_email": None, "rep_name": None, "rule_group": None, "candidates": None, "rr_key": None,
            "rr_slot": None, "attempt": late["attempt"], "decided_by": "reroute",
            "reason": [f"not accepted by {names.get(p, p)} within {d:g} days: withdrawn"
                       for p, d in zip(late["partner_id"], days, strict=True)],
        })
        record(store, conn, withdrawn, partners, now)

        ids = late["lead_id"].tolist()
        leads = _arrival_order(leads_frame(store, conn, cfg, tables.leads.c.lead_id.in_(ids),
                                           fields_used(partners, cfg)))
        result = route(leads, partners, cfg, load_state(store, conn, partners, ids))
        versions = late.set_index("lead_id")
        rerouted = result.decisions.assign(source=cfg.name, action="rerouted", decided_by="reroute")
        rerouted["version"] = rerouted["lead_id"].map(versions["version"]).to_numpy() + 2
        rerouted["attempt"] = rerouted["lead_id"].map(versions["attempt"]).to_numpy() + 1
        record(store, conn, rerouted, partners, now)
        save_positions(store, conn, result.positions, now)
    report.withdrawn = len(withdrawn)
    report.add(rerouted, partners)
    return report


def _late_routed(store: LeadStore, conn: sa.Connection, cfg: SourceConfig, partners: PartnersConfig,
                 cutoff: datetime, now: datetime) -> pd.DataFrame:
    """The source's routed leads past their acceptance window now. Read once outside the routing section, so a
    run with nothing overdue (most runs) does not queue behind another source's routing (12 s for 500,000 leads
    on Postgres) to find nothing: a lead becomes overdue only as time passes after a decision long committed,
    and a decision being taken now by another step is not overdue now. When some are, they are read again
    under the section, which decides."""
    a = tables.assignments
    assigned = store.read_frame(conn, sa.select(a.c.lead_id, a.c.partner_id, a.c.version, a.c.attempt,
                                                a.c.decided_at)
                                .where(a.c.source == cfg.name, a.c.status == "routed", a.c.decided_at <= cutoff))
    return assigned[overdue(assigned, partners, now)] if not assigned.empty else assigned


def reroute_cutoff(partners: PartnersConfig, now: datetime) -> datetime | None:
    """Decisions taken after this cannot be overdue now (None when nothing ever times out)."""
    return latest_start(partners, now)
