"""Recording partner actions: the lifecycle event (audit), its writeback outbox event, and changes to the
lead's assignment made through leadsync.routing.state.record. All inside the caller's transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle
from leadsync.portal.i18n import Message
from leadsync.routing.state import DECISION_FIELDS, record
from leadsync.store import tables
from leadsync.writeback.events import queue_event
from leadsync.writeback.lead_context import insert_events

# Distribution statuses the lifecycle adds, as written back (routing's STATUS_LABELS has the others).
LIFECYCLE_LABELS = {"accepted": "Accepted", "rejected": "Rejected", "closed": "Closed"}


class LifecycleError(ValueError):
    """An action that cannot be taken; the message says why and what to do instead.

    `field` names the input at fault (a form field / import column), `status_code` the HTTP answer."""

    def __init__(self, message: str, field: str | None = None, status_code: int = 400):
        super().__init__(message)
        self.field = field
        self.status_code = status_code


def _rows(result) -> list[dict]:
    # fetch every row: DuckDB refuses new work while a result is left half-read
    return [dict(r) for r in result.mappings().all()]


def _locked(ctx: Lifecycle, query: sa.Select) -> sa.Select:
    # Postgres: concurrent clicks on the same lead queue behind each other. DuckDB: the store's file lock
    # already serialises every transaction.
    return query.with_for_update() if ctx.store.dialect == "postgresql" else query


def current_assignment(ctx: Lifecycle, conn: sa.Connection, lead_id: str, lock: bool = False) -> dict | None:
    a = tables.assignments
    query = sa.select(a).where(a.c.lead_id == lead_id)
    rows = _rows(conn.execute(_locked(ctx, query) if lock else query))
    return rows[0] if rows else None


def progress(ctx: Lifecycle, conn: sa.Connection, lead_id: str, lock: bool = False) -> dict | None:
    p = lt.lead_progress
    query = sa.select(p).where(p.c.lead_id == lead_id)
    rows = _rows(conn.execute(_locked(ctx, query) if lock else query))
    return rows[0] if rows else None


def held_lead(ctx: Lifecycle, conn: sa.Connection, lead_id: str, partner_id: str) -> tuple[dict, dict]:
    """The assignment and progress of a lead the partner has accepted; LifecycleError otherwise."""
    current = current_assignment(ctx, conn, lead_id, lock=True)
    if current is None:
        raise LifecycleError(Message("lead '%(lead)s' is not known; check the lead id in the email", lead=lead_id),
                             "lead_id", 404)
    name = ctx.partner_name(partner_id)
    if current["partner_id"] != partner_id or current["status"] not in ("routed", "accepted", "closed"):
        raise LifecycleError(Message("lead '%(lead)s' is not assigned to %(partner)s", lead=lead_id, partner=name),
                             "lead_id", 409)
    if current["status"] == "routed":
        raise LifecycleError(Message("lead '%(lead)s' is not accepted yet: accept it first (link in the email)",
                                     lead=lead_id), "lead_id", 409)
    held = progress(ctx, conn, lead_id, lock=True)
    if held is None or held["partner_id"] != partner_id:  # accepted before the lifecycle tables existed
        held = start_progress(ctx, conn, current, current["decided_at"])
    return current, held


def start_progress(ctx: Lifecycle, conn: sa.Connection, assignment: dict, now: datetime) -> dict:
    """The lead's sales side when a partner accepts it: Not Contacted, the routed rep if any."""
    before = progress(ctx, conn, assignment["lead_id"])
    row = {"lead_id": assignment["lead_id"], "source": assignment["source"], "partner_id": assignment["partner_id"],
           "sales_status": "Not Contacted", "rep_name": assignment["rep_name"], "rep_email": assignment["rep_email"],
           "accepted_at": now, "touched_at": now, "closed": False,
           "version": (before["version"] + 1) if before else 1}
    p = lt.lead_progress
    if before:
        conn.execute(sa.update(p).where(p.c.lead_id == row["lead_id"]).values(**row))
    else:
        conn.execute(sa.insert(p).values(**row))
    return row


def save_progress(conn: sa.Connection, lead_id: str, **values: Any) -> None:
    p = lt.lead_progress
    conn.execute(sa.update(p).where(p.c.lead_id == lead_id).values(**values))


def event_exists(conn: sa.Connection, event_id: str) -> bool:
    e = lt.lifecycle_events
    return bool(conn.execute(sa.select(e.c.event_id).where(e.c.event_id == event_id)).all())


def add_event(ctx: Lifecycle, conn: sa.Connection, *, event_id: str, lead_id: str, source: str,
              partner_id: str | None, kind: str, detail: dict, actor: str, now: datetime,
              outbox: dict | None = None) -> bool:
    """Record a lifecycle event, and with `outbox` (the payload's own fields) its writeback event of the
    same id and kind. False when the event was already recorded (nothing is added)."""
    if event_exists(conn, event_id):
        return False
    conn.execute(sa.insert(lt.lifecycle_events).values(
        event_id=event_id, lead_id=lead_id, source=source, partner_id=partner_id, kind=kind,
        detail=json.dumps(detail, default=str, sort_keys=True), actor=actor, occurred_at=now))
    if outbox is not None:
        queue_event(conn, event_id, source, lead_id, kind,
                    {**outbox_context(ctx, conn, lead_id, partner_id, now), **outbox}, now)
    return True


def outbox_context(ctx: Lifecycle, conn: sa.Connection, lead_id: str, partner_id: str | None,
                   now: datetime) -> dict:
    """The fields every writeback event carries (those of a distribution_status event), so a sink that only
    knows distribution statuses still writes a sensible row for a lifecycle event."""
    current = current_assignment(ctx, conn, lead_id) or {}
    held = progress(ctx, conn, lead_id) or {}
    status = current.get("status")
    return {
        "distribution_status": LIFECYCLE_LABELS.get(status, (status or "").replace("_", " ").title() or None),
        "partner_id": partner_id,
        "partner_name": ctx.partner_name(partner_id),
        "rep_name": held.get("rep_name", current.get("rep_name")),
        "rep_email": held.get("rep_email", current.get("rep_email")),
        "reason": None,
        "decided_at": now.isoformat(),
    }


def change_assignment(ctx: Lifecycle, conn: sa.Connection, current: dict, *, action: str, status: str,
                      reason: str, decided_by: str, now: datetime, **overrides: Any) -> int:
    """Record a new version of the lead's assignment (history row, current row, distribution-status event);
    returns the new version."""
    version = int(current["version"]) + 1
    row = {f: current.get(f) for f in DECISION_FIELDS}
    row.update(lead_id=current["lead_id"], source=current["source"], version=version, action=action,
               status=status, reason=reason, decided_by=decided_by, attempt=int(current["attempt"]), **overrides)
    record_decisions(ctx, conn, pd.DataFrame([row]), now)
    return version


def record_decisions(ctx: Lifecycle, conn: sa.Connection, decisions: pd.DataFrame, now: datetime) -> None:
    """routing.state.record for lifecycle statuses. `record` labels only routing statuses, so the
    distribution-status events of accepted / rejected / closed decisions are queued here first, with
    their label and the very ids `record` uses; its own insert of them then adds nothing."""
    lifecycle = decisions[decisions["status"].isin(list(LIFECYCLE_LABELS))]
    if not lifecycle.empty:
        names = {p.id: p.name for p in ctx.partners.partners}
        insert_events(ctx.store, conn, pd.DataFrame({
            "event_id": (lifecycle["lead_id"] + ":distribution_status:"
                         + lifecycle["version"].astype(str)).to_numpy(),
            "source": lifecycle["source"].to_numpy(),
            "lead_id": lifecycle["lead_id"].to_numpy(),
            "kind": "distribution_status",
            "distribution_status": lifecycle["status"].map(LIFECYCLE_LABELS).to_numpy(),
            "partner_id": lifecycle["partner_id"].to_numpy(),
            "partner_name": lifecycle["partner_id"].map(names).to_numpy(),
            "rep_name": lifecycle["rep_name"].to_numpy(),
            "rep_email": lifecycle["rep_email"].to_numpy(),
            "reason": lifecycle["reason"].to_numpy(),
            "decided_at": now.isoformat(),
            "created_at": now,
        }))
    record(ctx.store, conn, decisions, ctx.partners, now)


def lead_events(ctx: Lifecycle, conn: sa.Connection, lead_id: str) -> list[dict]:
    """The lead's lifecycle events, oldest first, detail parsed."""
    e = lt.lifecycle_events
    rows = _rows(conn.execute(sa.select(e).where(e.c.lead_id == lead_id).order_by(e.c.occurred_at, e.c.event_id)))
    for r in rows:
        r["detail"] = json.loads(r["detail"])
    return rows
