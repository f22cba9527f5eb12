"""Routing state in the store: round-robin pointers, open leads per partner, who already had a lead;
and recording decisions (the current row, the replaced one kept in the log, the writeback event) in one
transaction."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from leadsync.config.partners import PartnersConfig
from leadsync.routing.engine import RoutingState
from leadsync.store import LeadStore, tables
from leadsync.writeback.lead_context import CONTEXT, insert_events
from leadsync.writeback.outbox import hold_outbox_order

# Leads a partner is holding: they count against its capacity and can time out.
OPEN_STATUSES = ("routed", "accepted")

# What the source system is told, per action/status (the distribution status written back).
STATUS_LABELS = {"routed": "Routed", "offered": "Offered", "unassigned": "Not Routed", "needs_review": "Needs Review",
                 "withdrawn": "Withdrawn", "rerouted": "Rerouted", "accepted": "Accepted", "rejected": "Rejected",
                 "closed": "Closed"}


# Routing decisions are made one step at a time across every worker (the store's "routing" section). A lock
# per candidate set would not do: capacity belongs to a partner, and a partner sits in many candidate sets;
# which sets a batch touches is known only once it is routed, so per-set locks would be taken in no fixed
# order and could deadlock. One section, held from reading the pointers and open leads until the new pointers
# and the decisions the state counts (section_reads) commit, cannot hand out a slot twice or exceed a capacity.
# New leads are routed a slice at a time, each slice a turn in the section (assign.py), so two sources' routing
# interleaves; the long steps (pulls, mapping, writeback) never take it.
ROUTING_SECTION = "routing"

# DuckDB's memory cap while a routing run's session is open. The session reads every waiting lead and writes
# their decisions and events slice by slice on one connection, and DuckDB keeps the blocks it touched cached up to
# its cap: under the store's 1 GB the run's memory grew with the store (5M leads: 912 MB against 594 MB after
# the queue; 737 MB under 256 MB). A slice's own work needs far less: under 128 MB the route stage's peak at 5M
# leads is 667 MB (774-793 MB under 256 MB), as fast.
ROUTING_DUCKDB_MEMORY = "128MB"
# …and while a slice's decisions and events are appended. DuckDB's batch insert takes its share of the cap for the
# row groups its threads build side by side; under 256 MB a slice's events (245,760 rows of 15 columns) were
# appended by one thread (0.9 s a slice, against 0.5 s on two cores under this cap). The appends read nothing:
# the cap is lowered again before the next slice's reads fill the cache.
ROUTING_APPEND_MEMORY = "512MB"


def hold_routing(store: LeadStore, conn: sa.Connection) -> None:
    """Enter the routing section for the rest of `conn`'s transaction (see ROUTING_SECTION)."""
    store.hold(conn, ROUTING_SECTION)


# Decisions recorded after the routing section (new leads on Postgres: assign.route_new_leads records there only
# those section_reads names) are in flight until their own transaction commits. Each such recording holds a shared
# mark of RECORDING (store.hold_shared; its name: the capacity partners it was decided with) from inside the
# section until it has committed. A router about to read what a recording in flight may hold waits for it, in
# the section, where no recording can begin meanwhile: for the conflict check (earlier_holders reads every
# decision that holds an account, any source's) every recording; for the open leads of capacity partners those
# decided with other capacity partners than its own (partners.yaml changed between two routers' runs: a partner
# capped now may be among the other's decisions recorded after the section). Nothing waits when every router
# has the same capacity partners and no source checks conflicts, the common case.
RECORDING = "routing-recording"


def capacity_partners(partners: PartnersConfig) -> list[str]:
    """Ids of the partners with a capacity, sorted: the only partners whose open leads routing counts."""
    return sorted(p.id for p in partners.partners if p.capacity)


def _recording_name(partners: PartnersConfig) -> str:
    return ",".join(capacity_partners(partners))


def begin_recording(store: LeadStore, conn: sa.Connection, partners: PartnersConfig) -> None:
    """Mark a recording in flight (in the section, before its transaction commits): see RECORDING. Until
    end_recording on the same connection, or the session ending (a discarded connection, a dead worker)."""
    store.hold_shared(conn, RECORDING, _recording_name(partners))


def end_recording(store: LeadStore, conn: sa.Connection, partners: PartnersConfig) -> None:
    """The recording begun on this connection has committed."""
    store.release_shared(conn, RECORDING, _recording_name(partners))


def await_recordings(store: LeadStore, conn: sa.Connection, partners: PartnersConfig, every: bool) -> None:
    """In the routing section: wait until the recordings in flight that this router's reads could miss have
    committed (every one, or those decided with other capacity partners than `partners`'s; see RECORDING)."""
    store.wait_for_shared(conn, RECORDING, but=None if every else _recording_name(partners))


def load_state(store: LeadStore, conn: sa.Connection, partners: PartnersConfig,
               lead_ids: Iterable[str] = ()) -> RoutingState:
    """Pointers and the open leads of each partner with a capacity; for `lead_ids` (leads being rerouted) the
    partners that had them. Enters the routing section first (and waits for recordings in flight decided with
    other capacity partners: await_recordings), so state read here cannot change before this transaction
    commits. Only partners with a capacity are counted (no other count is read): counting every partner's open
    leads read all of them, 0.25-0.44 s of each slice's turn in the section at 1M leads, where a capacity
    partner's are at most its capacity (an index range of (partner_id, status))."""
    hold_routing(store, conn)
    await_recordings(store, conn, partners, every=False)
    positions = dict(conn.execute(sa.select(tables.routing_positions.c.set_key,
                                            tables.routing_positions.c.next_slot)).fetchall())
    a = tables.assignments
    capped = capacity_partners(partners)
    open_leads = dict(conn.execute(
        sa.select(a.c.partner_id, sa.func.count()).where(a.c.status.in_(OPEN_STATUSES), a.c.partner_id.in_(capped))
        .group_by(a.c.partner_id)).fetchall()) if capped else {}
    excluded: dict[str, set[str]] = {}
    ids = list(lead_ids)
    if ids:
        h = tables.assignment_history
        for lead_id, partner_id in conn.execute(
                sa.select(h.c.lead_id, h.c.partner_id).distinct()
                .where(h.c.lead_id.in_(ids), h.c.partner_id.is_not(None))):
            excluded.setdefault(lead_id, set()).add(partner_id)
    return RoutingState(positions=positions, open_leads=open_leads, excluded=excluded)


def section_reads(decisions: pa.Table, partners: PartnersConfig) -> pa.ChunkedArray:
    """Which of `decisions` the routing state read after them counts (load_state): those giving a lead to a
    partner with a capacity (its open leads). The pointers are saved apart (save_positions). The rest may be
    recorded once the section is left, as a recording in flight (begin_recording): the section's other readers of
    decisions wait for those they could miss (await_recordings: the conflict check for every one, load_state of
    a router with other capacity partners for those made with different ones)."""
    capped = pa.array(capacity_partners(partners), pa.string())
    return pc.fill_null(pc.is_in(pc.cast(decisions["partner_id"], pa.string()), value_set=capped), False)


def save_positions(store: LeadStore, conn: sa.Connection, changed: dict[str, tuple[int, str]], now: datetime) -> None:
    if not changed:
        return
    frame = pd.DataFrame([(k, partners, slot, now) for k, (slot, partners) in changed.items()],
                         columns=["set_key", "partners", "next_slot", "updated_at"])
    store.insert_frame(conn, tables.routing_positions, frame, conflict="update",
                       update=["partners", "next_slot", "updated_at"])


DECISION_FIELDS = ["partner_id", "rep_email", "rep_name", "status", "step", "rule_group", "candidates",
                   "rr_key", "rr_slot", "reason"]

_TEXT, _INT = pa.string(), pa.int64()
# A decision as routing records it (decided_at aside, stamped at recording).
DECISION_SCHEMA = pa.schema([("lead_id", _TEXT), ("version", _INT),
                             *[(name, _INT if name == "rr_slot" else _TEXT) for name in DECISION_FIELDS],
                             ("source", _TEXT), ("decided_by", _TEXT), ("attempt", _INT), ("action", _TEXT)])


def record(store: LeadStore, conn: sa.Connection, decisions: pd.DataFrame | pa.Table, partners: PartnersConfig,
           now: datetime, first: bool = False, context: pa.Table | None = None) -> None:
    """Record decisions: each becomes its lead's current assignment (the one it replaces moves to the
    assignment log, so the history view keeps every decision once) and a writeback event.

    `decisions` (a DataFrame, or an Arrow table of DECISION_SCHEMA's columns, text as plain or dictionary
    arrays) has lead_id, source, version, action, attempt, decided_by and DECISION_FIELDS. Keys are (lead,
    version), so recording the same decision twice adds nothing. `first`: leads never routed before, chosen by
    the source's one router (assign.route_new_leads); nothing of theirs can exist yet, so the rows are plain appends
    (no key lookups against millions of earlier decisions). `context`: the leads' context for their events
    (writeback/lead_context.py), row for row with `decisions`, when the caller has just read it; otherwise
    the events look it up as they are queued."""
    if len(decisions) == 0:
        return
    if isinstance(decisions, pd.DataFrame):
        decisions = pa.Table.from_pandas(decisions[DECISION_SCHEMA.names], schema=DECISION_SCHEMA,
                                         preserve_index=False)
    decisions = decisions.select(DECISION_SCHEMA.names)
    if context is not None:
        for name in CONTEXT:
            decisions = decisions.append_column(name, context[name])
    # (first decisions are one per lead by construction: the queue holds each lead once)
    if not first and pc.count_distinct(decisions["lead_id"]).as_py() < decisions.num_rows:
        # several decisions of one lead at once (rare, and few): recorded round by round, oldest first
        frame = decisions.to_pandas().sort_values("version", kind="stable")
        rounds = frame.groupby("lead_id", sort=False).cumcount()
        for n in range(int(rounds.max()) + 1):
            record(store, conn, frame[rounds == n], partners, now, first)
        return
    # In slices: the engine's staging copy of a million decisions at once would take hundreds of MB; a slice
    # at a time keeps the step's memory flat (one transaction all the same).
    for start in range(0, decisions.num_rows, RECORD_SLICE):
        _record_slice(store, conn, decisions.slice(start, RECORD_SLICE), partners, now, first)


# DuckDB appends in row groups of 122,880 rows; a slice of whole row groups leaves no part-filled group for the
# next slice to reopen and the checkpoint at commit to rewrite. Each row group goes in as an Arrow batch of its
# own, so the engine's threads append them side by side.
ROW_GROUP = 122_880
RECORD_SLICE = 2 * ROW_GROUP
COLUMNS = ["lead_id", "version", *DECISION_FIELDS, "source", "decided_at", "decided_by", "attempt", "action"]


def _record_slice(store: LeadStore, conn: sa.Connection, decisions: pa.Table, partners: PartnersConfig,
                  now: datetime, first: bool) -> None:
    """The slice's current rows (and the log rows they replace) and writeback events: set-based INSERT …
    SELECTs in the engine over the Arrow tables as they lie (DuckDB) or staged once by COPY (Postgres)."""
    decisions = decisions.append_column("decided_at", pa.repeat(_instant(now), decisions.num_rows))
    decisions = _in_row_groups(decisions)
    with store.memory_limit(conn, ROUTING_APPEND_MEMORY):
        _append_slice(store, conn, decisions, partners, now, first)


def _append_slice(store: LeadStore, conn: sa.Connection, decisions: pa.Table, partners: PartnersConfig,
                  now: datetime, first: bool) -> None:
    if first:  # leads routed for the first time: their decisions and events are new rows
        store.append(conn, tables.assignments, _read_once(store, decisions), COLUMNS)
    else:
        with store.staged(conn, decisions) as stage:
            _supersede(store, conn, stage)  # reads the stage three times: the table itself
    events = outbox_events(decisions, partners, now)
    events = _in_row_groups(events)
    if not events.num_rows:
        return
    if first and CONTEXT[0] in events.column_names:
        hold_outbox_order(conn, pc.unique(events["source"]).to_pylist())
        store.append(conn, tables.writeback_outbox, _read_once(store, events), events.column_names)
    else:
        insert_events(store, conn, _read_once(store, events), "error" if first else "nothing")


def _read_once(store: LeadStore, table: pa.Table) -> pa.Table | pa.RecordBatchReader:
    """What one INSERT reads: on DuckDB a stream of the table's batches. DuckDB keeps an Arrow table it read
    inside an open transaction alive until the commit (its strings are not copied), and routing records
    millions of decisions in one transaction: every slice's tables would stay in memory. A stream is copied
    as it is read."""
    if store.dialect == "duckdb":
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    return table


def _in_row_groups(table: pa.Table) -> pa.Table:
    """The table as batches of one row group each (the last one the rest). A column whose chunks break
    elsewhere than at a row-group boundary is joined first (only those: the others are sliced where they lie;
    the leads come in batches of whole row groups, and joining those copied every slice's text twice)."""
    if any(not _breaks_at_row_groups(column) for column in table.columns):
        table = pa.table({name: column if _breaks_at_row_groups(column) else column.combine_chunks()
                          for name, column in zip(table.column_names, table.columns, strict=True)})
    return pa.Table.from_batches(table.to_batches(max_chunksize=ROW_GROUP), table.schema)


def _breaks_at_row_groups(column: pa.ChunkedArray) -> bool:
    """True when every chunk but the last holds whole row groups."""
    return all(len(chunk) % ROW_GROUP == 0 for chunk in column.chunks[:-1])


def _supersede(store: LeadStore, conn: sa.Connection, stage: str) -> None:
    """Staged decisions (one per lead) of leads that may have some already: a newer one becomes current and the
    current row it replaces goes to the log; one older than the current goes straight to the log (each only
    once, whatever was recorded before)."""
    if store.dialect == "postgresql":  # a fresh temporary table has no statistics for the planner
        conn.exec_driver_sql(f"ANALYZE {stage}")
    cols = ", ".join(COLUMNS)
    replaced = (f"(SELECT {cols} FROM assignments c WHERE EXISTS (SELECT 1 FROM {stage} s "
                f"WHERE s.lead_id = c.lead_id AND s.version > c.version))")
    store.insert_from(conn, tables.assignment_log, replaced, COLUMNS, "nothing")
    older = (f"(SELECT {cols} FROM {stage} s WHERE EXISTS (SELECT 1 FROM assignments a "
             f"WHERE a.lead_id = s.lead_id AND a.version > s.version))")
    store.insert_from(conn, tables.assignment_log, older, COLUMNS, "nothing")
    newer = (f"(SELECT {cols} FROM {stage} s WHERE NOT EXISTS (SELECT 1 FROM assignments a "
             f"WHERE a.lead_id = s.lead_id AND a.version >= s.version))")
    store.insert_from(conn, tables.assignments, newer, COLUMNS, "update", [c for c in COLUMNS if c != "lead_id"])


def outbox_events(decisions: pa.Table, partners: PartnersConfig, now: datetime) -> pa.Table:
    """One distribution_status event per decision (held-back, segregated leads are not reported to the
    source), as an Arrow table of outbox columns (with the leads' context when the decisions carry it). Its id
    derives from (lead, version), so the same decision can never be queued twice. The label is what happened (withdrawn, rerouted), else the resulting status; a
    reroute that found no partner is "Not Routed". Labels and partner names are looked up per distinct value."""
    carried = [name for name in CONTEXT if name in decisions.column_names]  # the leads' context, when given
    d = decisions.select(["lead_id", "version", "source", "action", "status", "partner_id", "rep_name", "rep_email",
                          "reason", *carried])
    reported = pc.fill_null(pc.not_equal(d["status"], "segregated"), True)
    if not pc.all(reported).as_py():
        d = d.filter(reported)
    n = d.num_rows
    return pa.table({
        **{name: d[name] for name in carried},
        "event_id": pc.binary_join_element_wise(d["lead_id"], _version_text(d["version"]), ":distribution_status:"),
        "source": d["source"], "lead_id": d["lead_id"], "kind": pa.repeat("distribution_status", n),
        "distribution_status": _per_value([d["action"], d["status"]], _label), "partner_id": d["partner_id"],
        "partner_name": _per_value([d["partner_id"]], {p.id: p.name for p in partners.partners}.get),
        "rep_name": d["rep_name"], "rep_email": d["rep_email"], "reason": d["reason"],
        "decided_at": pa.repeat(now.isoformat(), n),
        "created_at": pa.repeat(_instant(now), n),
    })


def _version_text(versions: pa.ChunkedArray) -> pa.ChunkedArray | pa.Scalar:
    """The versions as text for event ids: one scalar when every decision has the same version (a routing
    slice's first decisions are all version 1), else per row."""
    low, high = pc.min_max(versions).values()
    if versions.null_count == 0 and low.is_valid and low == high:
        return pa.scalar(str(low.as_py()))
    return pc.cast(versions, pa.string())


def _label(action: str | None, status: str | None) -> str | None:
    if action == "withdrawn" or (action == "rerouted" and status == "routed"):
        return STATUS_LABELS.get(action)
    return STATUS_LABELS.get(status)


def _instant(now: datetime) -> pa.Scalar:
    return pa.scalar(now, pa.timestamp("us", "UTC"))


def _per_value(columns: list[pa.ChunkedArray | pa.Array], fn) -> pa.DictionaryArray:
    """`fn(*values)` per row, computed once per distinct combination of the columns' values; a dictionary
    array (null where fn gives None): no text is copied per row."""
    codes, dictionaries = [], []
    for column in columns:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
        codes.append(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) + 1)
        dictionaries.append([None, *encoded.dictionary.to_pylist()])
    combined = np.zeros(len(codes[0]), dtype=np.int64)
    for code, values in zip(codes, dictionaries, strict=True):
        combined = combined * len(values) + code
    if math.prod(len(values) for values in dictionaries) < 1 << 20:  # small numbers: no sort needed
        present = np.bincount(combined)
        distinct = np.flatnonzero(present)
        remap = np.zeros(len(present), dtype=np.int64)
        remap[distinct] = np.arange(len(distinct))
        inverse = remap[combined]
    else:
        distinct, inverse = np.unique(combined, return_inverse=True)
        inverse = inverse.reshape(-1)
    results = []
    for c in distinct.tolist():
        values = []
        for options in reversed(dictionaries):
            c, i = divmod(c, len(options))
            values.append(options[i])
        results.append(fn(*reversed(values)))
    texts, index = pd.factorize(pd.Series(results, dtype=object), use_na_sentinel=True)
    indices = texts[inverse]
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32(), mask=indices < 0),
                                          pa.array(index.tolist(), pa.string()))
