"""The partner assigns a rep (name, email) to a lead it holds; the rep is emailed the lead with a link to
its status page, and a `rep` writeback event carries the rep to the source."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa

from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.events import LifecycleError, add_event, held_lead, save_progress
from leadsync.lifecycle.lead_view import lead_view
from leadsync.lifecycle.links import link
from leadsync.lifecycle.mail_queue import queue_email
from leadsync.lifecycle.partner_email import render_for

EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"


def check_rep(name: str | None, email: str | None) -> tuple[str, str]:
    name = " ".join((name or "").split())
    email = (email or "").strip().lower()
    if not email:
        raise LifecycleError("give the rep's email address", "rep_email")
    if not re.fullmatch(EMAIL, email):
        raise LifecycleError(f"'{email}' is not an email address", "rep_email")
    if not name:
        raise LifecycleError("give the rep's name", "rep_name")
    if len(name) > 200:
        raise LifecycleError("the rep's name is longer than 200 characters", "rep_name")
    return name, email


def assign_rep(ctx: Lifecycle, conn: sa.Connection, lead_id: str, partner_id: str, name: str | None,
               email: str | None, now: datetime, actor: str, notify: bool = True) -> tuple[bool, str | None]:
    """Set the lead's rep and queue the rep's notification email. Returns (changed, delivery id of that
    email); (False, None) when the lead already had this rep (nothing is added). `notify=False`: no email
    (the rep was assigned in the partner's own CRM, which told them)."""
    name, email = check_rep(name, email)
    current, held = held_lead(ctx, conn, lead_id, partner_id)
    if held["rep_email"] == email and held["rep_name"] == name:
        return False, None
    version = held["version"] + 1
    save_progress(conn, lead_id, rep_name=name, rep_email=email, version=version)
    add_event(ctx, conn, event_id=f"{lead_id}:rep:{version}", lead_id=lead_id, source=current["source"],
              partner_id=partner_id, kind="rep", actor=actor, now=now,
              detail={"rep_name": name, "rep_email": email, "previous_rep_email": held["rep_email"]},
              outbox={"rep_name": name, "rep_email": email})
    if not notify:
        return True, None
    view = lead_view(ctx, conn, lead_id)
    if view is None:  # the source's mapping is not loaded: no partner view to send
        return True, None
    partner = ctx.partner(partner_id)
    delivery_id = f"rep_assigned:{lead_id}:{version}"
    queue_email(conn, delivery_id=delivery_id, kind="rep_assigned", partner_id=partner_id, recipients=[email],
                email=render_for(ctx, conn, "rep_assigned", f"Lead assigned to you: {view.title}", partner,
                                 recipient=email, partner=partner, view=view, rep_name=name,
                                 status_url=link(ctx, "status", partner_id, lead_id, now)),
                now=now, lead_id=lead_id)
    return True, delivery_id
