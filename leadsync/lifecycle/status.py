"""The sales status of an accepted lead and the transitions a partner may make.

    Not Contacted ──▶ Contacted ◀──▶ Nurture
          │              │             │
          └──────────────┴─────────────┴──▶ Converted Opportunity | Unqualified/Invalid   (closed)

Not Contacted is where every accepted lead starts; nothing goes back to it. Converted Opportunity and
Unqualified/Invalid close the lead: its assignment becomes `closed` (it no longer counts against the
partner's capacity) and its status can no longer change. Converting creates the lead's opportunity.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.events import LifecycleError, add_event, change_assignment, held_lead, save_progress
from leadsync.lifecycle.opportunities import create_opportunity
from leadsync.lifecycle.rewards import reward_status_update
from leadsync.portal.i18n import Message

NOT_CONTACTED = "Not Contacted"
CONTACTED = "Contacted"
NURTURE = "Nurture"
CONVERTED = "Converted Opportunity"
UNQUALIFIED = "Unqualified/Invalid"
SALES_STATUSES = (NOT_CONTACTED, CONTACTED, NURTURE, CONVERTED, UNQUALIFIED)
CLOSING = (CONVERTED, UNQUALIFIED)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    NOT_CONTACTED: (CONTACTED, NURTURE, CONVERTED, UNQUALIFIED),
    CONTACTED: (NURTURE, CONVERTED, UNQUALIFIED),
    NURTURE: (CONTACTED, CONVERTED, UNQUALIFIED),
    CONVERTED: (),
    UNQUALIFIED: (),
}
# Other spellings partners' systems use for the same statuses.
_ALIASES = {"not_contacted": NOT_CONTACTED, "new": NOT_CONTACTED, "contacted": CONTACTED, "working": CONTACTED,
            "nurture": NURTURE, "nurturing": NURTURE, "converted": CONVERTED, "converted_opportunity": CONVERTED,
            "unqualified": UNQUALIFIED, "invalid": UNQUALIFIED, "unqualified_invalid": UNQUALIFIED}


def parse_status(text: str | None) -> str | None:
    """The canonical sales status for `text` (any case; 'Converted', 'unqualified' … accepted), else None."""
    if not text:
        return None
    cleaned = " ".join(str(text).split())
    exact = next((s for s in SALES_STATUSES if s.lower() == cleaned.lower()), None)
    if exact:
        return exact
    key = "_".join(cleaned.lower().replace("/", " ").replace("-", " ").split())
    return _ALIASES.get(key)


def allowed_next(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


def check_transition(current: str, target: str) -> None:
    """LifecycleError (field sales_status) unless `current` may become `target`."""
    if target == current:
        return
    nexts = allowed_next(current)
    if current in CLOSING:
        raise LifecycleError(Message("the lead is closed (%(status)s): its sales status can no longer change",
                                     status=current), "sales_status", 409)
    if target not in nexts:
        raise LifecycleError(Message("a lead cannot go from %(current)s to %(target)s; from %(current)s it can go "
                                     "to %(next)s", current=current, target=target, next=", ".join(nexts)),
                             "sales_status", 409)


def set_sales_status(ctx: Lifecycle, conn: sa.Connection, lead_id: str, partner_id: str, status_text: str,
                     now: datetime, actor: str, opportunity: dict | None = None,
                     default_opportunity_name: str | None = None) -> str | None:
    """Move the lead to a new sales status; returns the status, or None when it already had it (a repeated
    update adds nothing). `opportunity` (fields parsed by opportunities.parse_fields) is used when the
    lead converts."""
    target = parse_status(status_text)
    if target is None:
        raise LifecycleError(f"'{status_text}' is not a sales status; allowed: {', '.join(SALES_STATUSES)}",
                             "sales_status")
    current, held = held_lead(ctx, conn, lead_id, partner_id)
    before = held["sales_status"]
    if target == before:
        return None
    check_transition(before, target)
    version = held["version"] + 1
    event_id = f"{lead_id}:sales_status:{version}"
    closing = target in CLOSING
    save_progress(conn, lead_id, sales_status=target, touched_at=now, closed=closing, version=version)
    if closing:  # first, so the events below carry the lead's distribution status as it now is: Closed
        change_assignment(ctx, conn, current, action="closed", status="closed", now=now,
                          reason=f"closed by {ctx.partner_name(partner_id)}: {target}",
                          decided_by=f"partner:{partner_id}")
    add_event(ctx, conn, event_id=event_id, lead_id=lead_id, source=current["source"], partner_id=partner_id,
              kind="sales_status", detail={"from": before, "to": target}, actor=actor, now=now,
              outbox={"sales_status": target, "previous_sales_status": before, "closed": closing})
    reward_status_update(ctx, conn, event_id, held, target, now)
    if target == CONVERTED:
        create_opportunity(ctx, conn, current, opportunity or {}, default_opportunity_name or lead_id, now, actor)
    return target
