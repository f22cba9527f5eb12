"""Opportunities: created when a partner converts a lead, then updated (name, stage, amount, close date);
every change is a lifecycle event with what changed, and an `opportunity` writeback event."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date, datetime

import sqlalchemy as sa

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.events import LifecycleError, add_event, held_lead

FIELDS = ("name", "stage", "amount", "close_date")


def opportunity_id(lead_id: str) -> str:
    return f"{lead_id}:opportunity"  # one opportunity per lead


def parse_fields(ctx: Lifecycle, raw: Mapping[str, object], column_prefix: str = "opportunity_") -> dict:
    """The opportunity fields given in `raw` (keys name, stage, amount, close_date), checked and typed.
    Errors name the column (prefix + field) and what is allowed."""
    out: dict = {}
    for name in FIELDS:
        value = raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        column = column_prefix + name
        text = str(value).strip()
        if name == "name":
            if len(text) > 255:
                raise LifecycleError("opportunity name is longer than 255 characters", column)
            out[name] = text
        elif name == "stage":
            stages = ctx.settings.opportunities.stages
            match = next((s for s in stages if s.lower() == text.lower()), None)
            if match is None:
                raise LifecycleError(f"'{text}' is not an opportunity stage; allowed: {', '.join(stages)}", column)
            out[name] = match
        elif name == "amount":
            try:
                amount = float(value) if isinstance(value, int | float) else float(re.sub(r"[,\s]", "", text))
            except ValueError:
                raise LifecycleError(f"amount '{text}' is not a number; write it like 12500.00", column) from None
            if not math.isfinite(amount) or amount < 0:
                raise LifecycleError(f"amount '{text}' must be zero or more", column)
            out[name] = amount
        else:
            if isinstance(value, date):
                out[name] = value
                continue
            try:
                out[name] = date.fromisoformat(text)
            except ValueError:
                raise LifecycleError(f"close date '{text}' is not a date; write it as YYYY-MM-DD", column) from None
    return out


def current_opportunity(conn: sa.Connection, lead_id: str) -> dict | None:
    o = lt.opportunities
    rows = conn.execute(sa.select(o).where(o.c.opportunity_id == opportunity_id(lead_id))).mappings().all()
    return dict(rows[0]) if rows else None


def _payload(ctx: Lifecycle, opp: dict, change: str, changes: dict | None = None) -> dict:
    """What the sinks upsert (by external_id): see leadsync/writeback/api_sink.py."""
    return {"external_id": opp["opportunity_id"], "name": opp["name"], "stage": opp["stage"],
            "amount": opp["amount"], "currency": opp["currency"],
            "close_date": opp["close_date"].isoformat() if opp["close_date"] else None,
            "change": change, "changes": changes or {}}


def create_opportunity(ctx: Lifecycle, conn: sa.Connection, assignment: dict, values: dict, default_name: str,
                       now: datetime, actor: str) -> dict:
    """The lead's opportunity (at conversion). `values` as parsed by parse_fields; name and stage default
    to `default_name` and the first configured stage."""
    existing = current_opportunity(conn, assignment["lead_id"])
    if existing is not None:
        return existing
    opp = {"opportunity_id": opportunity_id(assignment["lead_id"]), "lead_id": assignment["lead_id"],
           "source": assignment["source"], "partner_id": assignment["partner_id"],
           "name": values.get("name") or default_name,
           "stage": values.get("stage") or ctx.settings.opportunities.stages[0],
           "amount": values.get("amount"), "currency": ctx.settings.opportunities.currency,
           "close_date": values.get("close_date"), "created_at": now, "updated_at": now, "version": 1}
    conn.execute(sa.insert(lt.opportunities).values(**opp))
    add_event(ctx, conn, event_id=f"{opp['opportunity_id']}:v1", lead_id=opp["lead_id"], source=opp["source"],
              partner_id=opp["partner_id"], kind="opportunity", actor=actor, now=now,
              detail={"change": "created", **{k: opp[k] for k in FIELDS}},
              outbox=_payload(ctx, opp, "created"))
    return opp


def update_opportunity(ctx: Lifecycle, conn: sa.Connection, lead_id: str, partner_id: str, values: dict,
                       now: datetime, actor: str) -> list[str]:
    """Apply changed fields to the lead's opportunity; the fields that changed (none: nothing is added)."""
    held_lead(ctx, conn, lead_id, partner_id)
    opp = current_opportunity(conn, lead_id)
    if opp is None:
        raise LifecycleError(f"lead '{lead_id}' has no opportunity yet: set its sales status to "
                             "Converted Opportunity first", "opportunity_name", 409)
    changes = {k: [opp[k], v] for k, v in values.items() if k in FIELDS and opp[k] != v}
    if not changes:
        return []
    opp = {**opp, **{k: v for k, (_, v) in changes.items()}, "updated_at": now, "version": opp["version"] + 1}
    o = lt.opportunities
    conn.execute(sa.update(o).where(o.c.opportunity_id == opp["opportunity_id"])
                 .values(**{k: opp[k] for k in (*FIELDS, "updated_at", "version")}))
    shown = {k: [str(a) if a is not None else None, str(b) if b is not None else None] for k, (a, b) in changes.items()}
    add_event(ctx, conn, event_id=f"{opp['opportunity_id']}:v{opp['version']}", lead_id=lead_id,
              source=opp["source"], partner_id=partner_id, kind="opportunity", actor=actor, now=now,
              detail={"change": "updated", "changes": shown}, outbox=_payload(ctx, opp, "updated", shown))
    return list(changes)
