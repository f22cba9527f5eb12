"""Assign, reassign or withdraw one lead by hand, with the same audit trail and writeback as the engine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from leadsync.config.partners import PartnersConfig
from leadsync.routing.state import ROUTING_SECTION, record
from leadsync.store import LeadStore, tables


class ManualAssignmentError(ValueError):
    """A manual change that cannot be made; the message says why and what to do instead."""


@dataclass(frozen=True)
class ManualResult:
    lead_id: str
    action: str  # assigned | reassigned | withdrawn
    partner_id: str | None
    previous_partner_id: str | None
    version: int


def _current(conn: sa.Connection, lead_id: str) -> tuple[str, dict | None]:
    # fetch every row: DuckDB refuses new work while a result is left half-read
    source = next(iter(conn.execute(sa.select(tables.leads.c.source).where(tables.leads.c.lead_id == lead_id))
                       .scalars().all()), None)
    if source is None:
        raise ManualAssignmentError(f"lead '{lead_id}' is not in the store; check the id (leadsync explain shows ids)")
    a = tables.assignments
    row = next(iter(conn.execute(sa.select(a).where(a.c.lead_id == lead_id)).mappings().all()), None)
    return source, dict(row) if row else None


def _wait_for_routing(store: LeadStore, conn: sa.Connection, source: str) -> None:
    """Wait until no router of `source` is running, and keep any from starting and deciding until `conn`'s
    transaction ends. A router chooses its queue (the leads without a decision) once and decides it slice by
    slice, each as a plain append (routing.state.record, first=True): a lead assigned by hand in between would
    get a second first decision, which on Postgres fails the router's slice on the assignments' key. Taken only
    for a lead with no decision yet, so changing a routed lead never waits for a large routing run. (DuckDB:
    nothing to wait for; the router's session keeps the file's one writer from its first slice to its last.)"""
    store.hold(conn, f"{ROUTING_SECTION}:{source}")


def assign_by_hand(store: LeadStore, partners: PartnersConfig, lead_id: str, partner_id: str, now: datetime,
                   rep_email: str | None = None, reason: str | None = None, actor: str = "operator") -> ManualResult:
    partner = partners.by_id(partner_id)
    if partner is None:
        known = ", ".join(p.id for p in partners.partners[:30])
        raise ManualAssignmentError(f"'{partner_id}' is not a partner id in partners.yaml; known: {known}")
    if not partner.active:
        raise ManualAssignmentError(f"partner '{partner_id}' is inactive; activate it in partners.yaml first")
    rep = None
    if rep_email:
        rep = partner.rep(rep_email)
        if rep is None:
            reps = ", ".join(r.email for r in partner.reps) or "none listed"
            raise ManualAssignmentError(f"'{rep_email}' is not a rep of {partner.name} (reps: {reps})")
    with store.begin() as conn:
        source, current = _current(conn, lead_id)
        if current is None:  # never decided: it may be in its source's routing queue right now
            _wait_for_routing(store, conn, source)
            source, current = _current(conn, lead_id)  # the router may have decided it meanwhile
        previous = current["partner_id"] if current else None
        if current and current["status"] in ("routed", "accepted") and previous == partner_id and \
                (current["rep_email"] or None) == (rep.email if rep else None):
            raise ManualAssignmentError(f"lead '{lead_id}' is already with {partner.name}; nothing to change")
        action = "reassigned" if previous and current["status"] in ("routed", "accepted") else "assigned"
        version = (current["version"] if current else 0) + 1
        why = reason or "assigned by hand"
        if previous and action == "reassigned":
            why += f" (was {partners.by_id(previous).name if partners.by_id(previous) else previous})"
        record(store, conn, _row(lead_id, source, version, action, "routed", partner_id, rep, why, actor,
                                 (current or {}).get("attempt") or 1), partners, now)
    return ManualResult(lead_id, action, partner_id, previous, version)


def withdraw_by_hand(store: LeadStore, partners: PartnersConfig, lead_id: str, now: datetime,
                     reason: str | None = None, actor: str = "operator") -> ManualResult:
    """Take a lead back from its partner; it stays withdrawn (back in the supplier's pool) until assigned
    again by hand — the reroute schedule only moves leads that timed out."""
    with store.begin() as conn:
        source, current = _current(conn, lead_id)
        if not current or current["status"] not in ("routed", "accepted") or not current["partner_id"]:
            state = current["status"] if current else "not routed yet"
            raise ManualAssignmentError(f"lead '{lead_id}' is {state}: there is no partner to withdraw it from")
        previous = current["partner_id"]
        version = current["version"] + 1
        why = reason or "withdrawn by hand"
        record(store, conn, _row(lead_id, source, version, "withdrawn", "withdrawn", previous, None, why, actor,
                                 current["attempt"]), partners, now)
    return ManualResult(lead_id, "withdrawn", None, previous, version)


def _row(lead_id, source, version, action, status, partner_id, rep, reason, actor, attempt) -> pd.DataFrame:
    return pd.DataFrame([{
        "lead_id": lead_id, "source": source, "version": version, "action": action, "status": status,
        "step": "manual", "partner_id": partner_id, "rep_email": rep.email if rep else None,
        "rep_name": rep.name if rep else None, "rule_group": None, "candidates": None, "rr_key": None,
        "rr_slot": None, "reason": reason, "decided_by": f"manual:{actor}", "attempt": attempt,
    }])
