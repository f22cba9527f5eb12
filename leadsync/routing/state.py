"""Routing state in the store: round-robin pointers, open leads per partner, who already had a lead;
and recording decisions (current row, audit trail, writeback event) in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from leadsync.config.partners import PartnersConfig
from leadsync.routing.engine import RoutingState
from leadsync.store import LeadStore, tables

# Leads a partner is holding: they count against its capacity and can time out.
OPEN_STATUSES = ("routed", "accepted")

# What the source system is told, per action/status (the distribution status written back).
STATUS_LABELS = {"routed": "Routed", "unassigned": "Not Routed", "needs_review": "Needs Review",
                 "withdrawn": "Withdrawn", "rerouted": "Rerouted", "accepted": "Accepted", "rejected": "Rejected",
                 "closed": "Closed"}


# Routing decisions are made one step at a time across every worker (the store's "routing" section). A lock
# per candidate set would not do: capacity belongs to a partner, and a partner sits in many candidate sets;
# which sets a batch touches is known only once it is routed, so per-set locks would be taken in no fixed
# order and could deadlock. One section, held from reading the leads and the pointers until the decisions and
# new pointers commit, cannot hand out a slot twice or exceed a capacity, and costs little: routing a million
# leads takes seconds, while the long steps (pulls, mapping, writeback) stay parallel.
ROUTING_SECTION = "routing"


def hold_routing(store: LeadStore, conn: sa.Connection) -> None:
    """Enter the routing section for the rest of `conn`'s transaction (see ROUTING_SECTION)."""
    store.hold(conn, ROUTING_SECTION)


def load_state(store: LeadStore, conn: sa.Connection, lead_ids: Iterable[str] = ()) -> RoutingState:
    """Pointers and open-lead counts; for `lead_ids` (leads being rerouted) the partners that had them.
    Enters the routing section first, so state read here cannot change before this transaction commits."""
    hold_routing(store, conn)
    positions = dict(conn.execute(sa.select(tables.routing_positions.c.set_key,
                                            tables.routing_positions.c.next_slot)).fetchall())
    a = tables.assignments
    open_leads = dict(conn.execute(
        sa.select(a.c.partner_id, sa.func.count()).where(a.c.status.in_(OPEN_STATUSES), a.c.partner_id.is_not(None))
        .group_by(a.c.partner_id)).fetchall())
    excluded: dict[str, set[str]] = {}
    ids = list(lead_ids)
    if ids:
        h = tables.assignment_history
        for lead_id, partner_id in conn.execute(
                sa.select(h.c.lead_id, h.c.partner_id).distinct()
                .where(h.c.lead_id.in_(ids), h.c.partner_id.is_not(None))):
            excluded.setdefault(lead_id, set()).add(partner_id)
    return RoutingState(positions=positions, open_leads=open_leads, excluded=excluded)


def save_positions(store: LeadStore, conn: sa.Connection, changed: dict[str, tuple[int, str]], now: datetime) -> None:
    if not changed:
        return
    frame = pd.DataFrame([(k, partners, slot, now) for k, (slot, partners) in changed.items()],
                         columns=["set_key", "partners", "next_slot", "updated_at"])
    store.insert_frame(conn, tables.routing_positions, frame, conflict="update",
                       update=["partners", "next_slot", "updated_at"])


DECISION_FIELDS = ["partner_id", "rep_email", "rep_name", "status", "step", "rule_group", "candidates",
                   "rr_key", "rr_slot", "reason"]


def record(store: LeadStore, conn: sa.Connection, decisions: pd.DataFrame, partners: PartnersConfig,
           now: datetime, first: bool = False) -> None:
    """Record decisions: a history row each, the current assignment, and the writeback event.

    `decisions` has lead_id, source, version, action, attempt, decided_by and DECISION_FIELDS. Keys are
    (lead, version), so recording the same decision twice adds nothing. `first`: leads never routed before,
    chosen in this transaction under the routing section; nothing of theirs can exist yet, so the rows are
    plain appends (no key lookups against millions of earlier decisions)."""
    if decisions.empty:
        return
    # In slices: the engine's staging copy of a million decisions at once would take hundreds of MB; a slice
    # at a time keeps the step's memory flat (one transaction all the same).
    for start in range(0, len(decisions), RECORD_SLICE):
        _record_slice(store, conn, decisions.iloc[start:start + RECORD_SLICE], partners, now, first)


RECORD_SLICE = 250_000
COLUMNS = ["lead_id", "version", *DECISION_FIELDS, "source", "decided_at", "decided_by", "attempt"]


def _record_slice(store: LeadStore, conn: sa.Connection, decisions: pd.DataFrame, partners: PartnersConfig,
                  now: datetime, first: bool) -> None:
    """The slice is staged once; its history rows, current rows and writeback events are three set-based
    INSERT … SELECTs in the engine."""
    frame = decisions[[c for c in COLUMNS if c != "decided_at"] + ["action"]].copy()
    frame["decided_at"] = now
    frame["rr_slot"] = pd.array(frame["rr_slot"], dtype="Int64")
    frame["version"] = frame["version"].astype("int64")
    frame["attempt"] = frame["attempt"].astype("int64")
    with store.staged(conn, frame, reads=3) as stage:
        relation = f"(SELECT * FROM {stage})"
        store.insert_from(conn, tables.assignment_history, relation, [*COLUMNS, "action"],
                          "error" if first else "nothing")
        store.insert_from(conn, tables.assignments, relation, COLUMNS, "error" if first else "update",
                          [c for c in COLUMNS if c != "lead_id"])
        events = outbox_select(stage, partners, now)
        store.insert_from(conn, tables.writeback_outbox, events, OUTBOX_COLUMNS, "error" if first else "nothing")


OUTBOX_COLUMNS = ["event_id", "source", "lead_id", "kind", "distribution_status", "partner_id", "partner_name",
                  "rep_name", "rep_email", "reason", "decided_at", "created_at"]


def outbox_select(stage: str, partners: PartnersConfig, now: datetime) -> str:
    """One distribution_status event per staged decision (held-back, segregated leads are not reported to the
    source), as SQL over the stage. Its id derives from (lead, version), so the same decision can never be
    queued twice. The label is what happened (withdrawn, rerouted), else the resulting status; a reroute that
    found no partner is "Not Routed"."""
    def lit(value) -> str:
        return "NULL" if value is None else "'" + str(value).replace("'", "''") + "'"

    by_status = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in STATUS_LABELS.items())
    names = " ".join(f"WHEN {lit(p.id)} THEN {lit(p.name)}" for p in partners.partners)
    label = (f"CASE WHEN s.action = 'withdrawn' OR (s.action = 'rerouted' AND s.status = 'routed') "
             f"THEN (CASE s.action {by_status} END) ELSE (CASE s.status {by_status} END) END")
    return (f"(SELECT s.lead_id || ':distribution_status:' || CAST(s.version AS VARCHAR) AS event_id, s.source, "
            f"s.lead_id, 'distribution_status' AS kind, {label} AS distribution_status, s.partner_id, "
            f"{'CASE s.partner_id ' + names + ' END' if names else 'CAST(NULL AS VARCHAR)'} AS partner_name, "
            f"s.rep_name, s.rep_email, s.reason, {lit(now.isoformat())} AS decided_at, "
            f"CAST({lit(now.isoformat())} AS TIMESTAMP WITH TIME ZONE) AS created_at "
            f"FROM {stage} s WHERE s.status <> 'segregated')")
