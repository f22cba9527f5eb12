"""Marketing events a partner runs on a lead or its opportunity (a call, a webinar, an email campaign).
An event is keyed by what it says (lead, type, name, date, opportunity): recording it again adds nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime

import sqlalchemy as sa

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.events import LifecycleError, add_event, held_lead
from leadsync.lifecycle.opportunities import current_opportunity


def parse_event(ctx: Lifecycle, raw: Mapping[str, object], today: date, column_prefix: str = "marketing_event_") -> dict:
    """type, name, date (default today) and on (lead | opportunity), checked; errors name the column."""
    types = ctx.settings.marketing_events.types
    text = str(raw.get("type") or "").strip()
    kind = next((t for t in types if t.lower() == text.lower()), None)
    if kind is None:
        raise LifecycleError(f"'{text}' is not a marketing event type; allowed: {', '.join(types)}" if text else
                             f"give the marketing event type; allowed: {', '.join(types)}", column_prefix + "type")
    name = " ".join(str(raw.get("name") or "").split())
    if not name:
        raise LifecycleError("give the marketing event a name", column_prefix + "name")
    when = raw.get("date")
    if isinstance(when, date):
        day = when
    elif when is None or not str(when).strip():
        day = today
    else:
        try:
            day = date.fromisoformat(str(when).strip())
        except ValueError:
            raise LifecycleError(f"date '{when}' is not a date; write it as YYYY-MM-DD", column_prefix + "date") from None
    on = str(raw.get("on") or "lead").strip().lower()
    if on not in ("lead", "opportunity"):
        raise LifecycleError(f"'{on}' is not allowed; allowed: lead, opportunity", column_prefix + "on")
    return {"type": kind, "name": name, "date": day, "on": on}


def record_marketing_event(ctx: Lifecycle, conn: sa.Connection, lead_id: str, partner_id: str, event: dict,
                           now: datetime, actor: str) -> str | None:
    """Record a parsed event (see parse_event); its id, or None when it was recorded before."""
    current, _ = held_lead(ctx, conn, lead_id, partner_id)
    opp_id = None
    if event["on"] == "opportunity":
        opp = current_opportunity(conn, lead_id)
        if opp is None:
            raise LifecycleError(f"lead '{lead_id}' has no opportunity to attach the event to", "marketing_event_on")
        opp_id = opp["opportunity_id"]
    key = "|".join([lead_id, event["type"], event["name"].lower(), event["date"].isoformat(), opp_id or ""])
    event_id = f"{lead_id}:marketing_event:{hashlib.sha1(key.encode()).hexdigest()[:12]}"
    m = lt.marketing_events
    if conn.execute(sa.select(m.c.event_id).where(m.c.event_id == event_id)).all():
        return None
    conn.execute(sa.insert(m).values(event_id=event_id, lead_id=lead_id, opportunity_id=opp_id,
                                     partner_id=partner_id, event_type=event["type"], name=event["name"],
                                     occurred_on=event["date"], detail=None, recorded_at=now))
    add_event(ctx, conn, event_id=event_id, lead_id=lead_id, source=current["source"], partner_id=partner_id,
              kind="marketing_event", actor=actor, now=now,
              detail={"type": event["type"], "name": event["name"], "date": event["date"].isoformat(),
                      "opportunity_id": opp_id},
              outbox={"event_type": event["type"], "description": event["name"], "name": event["name"],
                      "occurred_at": event["date"].isoformat(), "opportunity_id": opp_id})
    return event_id
