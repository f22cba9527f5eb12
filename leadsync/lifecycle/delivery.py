"""Deliver routed leads to their partners.

Auto-accept partners get the lead accepted at once and no email. Every other partner gets one
notification email per assignment (lead + version) — to its default lead-notification users and its
reps — with the partner-visible fields, the campaign, the activity history and single-use accept and
reject links. Running it again sends nothing new: the `deliveries` row of an assignment is its proof.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa

from leadsync.config.partners import Partner
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.events import record_decisions
from leadsync.lifecycle.lead_view import lead_views
from leadsync.lifecycle.links import link
from leadsync.lifecycle.mail_queue import queue_emails, send_pending
from leadsync.lifecycle.partner_email import render_for
from leadsync.lifecycle.smtp import Mailer
from leadsync.routing.state import DECISION_FIELDS
from leadsync.store import tables


@dataclass
class DeliveryReport:
    auto_accepted: int = 0
    queued: int = 0
    sent: int = 0
    failed: int = 0
    retry_later: int = 0
    per_partner: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def recipients(partner: Partner, notified_reps: list[str] | None = None) -> list[str]:
    """Who is told about a new lead: the partner's default lead-notification users (Partner.default_users)
    and its reps (those of `notified_reps` when the partner chose them in the portal), each address once."""
    reps = [r.email for r in partner.reps if notified_reps is None or r.email in notified_reps]
    return list(dict.fromkeys([u.email for u in partner.default_users()] + reps))


def told_of(ctx: Lifecycle, partner: Partner | None) -> list[str]:
    """recipients() of a partner with the reps it chose in the portal (every email about a lead it may take:
    new lead, reminder, withdrawal, offer)."""
    if partner is None:
        return []
    chosen = ctx.settings_of(partner.id)
    return recipients(partner, chosen.notified_reps if chosen else None)


def expiry_in(when: datetime, partner: Partner) -> datetime:
    """`when` in the partner's time zone (portal `time_zone`, else partners.yaml `timezone`)."""
    return when.astimezone(ZoneInfo(partner.timezone))


def deliver(ctx: Lifecycle, now: datetime, mailer: Mailer | None = None) -> DeliveryReport:
    """Auto-accept, queue the notification emails of newly routed leads, send every pending email."""
    report = DeliveryReport()
    ctx.refresh_partner_settings()  # a setting changed in the portal counts from the next lead delivered
    report.auto_accepted = auto_accept_routed(ctx, now)
    queue_new_lead_emails(ctx, now, report)
    sent = send_pending(ctx, now, mailer)
    report.sent, report.failed, report.retry_later = sent.sent, sent.failed, sent.retry_later
    report.problems += sent.errors
    return report


def auto_accept_routed(ctx: Lifecycle, now: datetime) -> int:
    """Accept every routed lead of an auto-accept partner; returns how many."""
    auto = [p.id for p in ctx.partners.partners if p.auto_accept]
    if not auto:
        return 0
    a = tables.assignments
    with ctx.store.begin() as conn:
        routed = ctx.store.read_frame(conn, sa.select(a).where(a.c.status == "routed", a.c.partner_id.in_(auto)))
        if routed.empty:
            return 0
        routed = routed.astype(object).where(routed.notna(), None)
        decisions = routed[["lead_id", "source", "attempt", *DECISION_FIELDS]].copy()
        decisions["version"] = routed["version"].astype("int64") + 1
        decisions["action"] = decisions["status"] = "accepted"
        decisions["decided_by"] = "auto_accept"
        decisions["reason"] = "accepted on delivery (auto-accept partner)"
        record_decisions(ctx, conn, decisions, now)
        _start_progress_bulk(ctx, conn, decisions, now)
        ctx.store.insert_frame(conn, lt.lifecycle_events, pd.DataFrame({
            "event_id": decisions["lead_id"] + ":accepted:" + decisions["version"].astype(str),
            "lead_id": decisions["lead_id"], "source": decisions["source"], "partner_id": decisions["partner_id"],
            "kind": "accepted", "detail": '{"via": "auto_accept"}', "actor": "auto_accept", "occurred_at": now,
        }), conflict="nothing")
    return len(decisions)


def _start_progress_bulk(ctx: Lifecycle, conn: sa.Connection, decisions: pd.DataFrame, now: datetime) -> None:
    p = lt.lead_progress
    ids = decisions["lead_id"].tolist()
    versions: dict[str, int] = {}
    for start in range(0, len(ids), 5000):
        versions.update(conn.execute(sa.select(p.c.lead_id, p.c.version)
                                     .where(p.c.lead_id.in_(ids[start:start + 5000]))).all())
    frame = pd.DataFrame({
        "lead_id": decisions["lead_id"], "source": decisions["source"], "partner_id": decisions["partner_id"],
        "sales_status": "Not Contacted", "rep_name": decisions["rep_name"], "rep_email": decisions["rep_email"],
        "accepted_at": now, "touched_at": now, "closed": False,
        "version": decisions["lead_id"].map(lambda lid: versions.get(lid, 0) + 1).astype("int64"),
    })
    ctx.store.insert_frame(conn, p, frame, conflict="update", update=[c for c in frame.columns if c != "lead_id"])


# New-lead emails rendered before they are queued together (one insert): their bodies are a few KB each, so
# memory stays that of a thousand emails however large the drop.
QUEUE_CHUNK = 1000


def _queue(ctx: Lifecycle, conn: sa.Connection, rendered: list[dict], names: dict[str, str],
           report: DeliveryReport) -> None:
    """Queue the rendered emails (emptying the list) and count them per partner."""
    for delivery_id in queue_emails(ctx.store, conn, rendered):
        report.queued += 1
        report.per_partner[names.pop(delivery_id)] += 1
    rendered.clear()
    names.clear()


def queue_new_lead_emails(ctx: Lifecycle, now: datetime, report: DeliveryReport | None = None) -> int:
    """Queue one notification per routed assignment not yet notified; returns how many were queued."""
    report = report if report is not None else DeliveryReport()
    a, d = tables.assignments, lt.deliveries
    notified = sa.exists().where(d.c.lead_id == a.c.lead_id, d.c.version == a.c.version, d.c.kind == "new_lead")
    auto = [p.id for p in ctx.partners.partners if p.auto_accept]
    web = ctx.settings.web
    no_recipients: Counter = Counter()
    no_mapping: Counter = Counter()
    with ctx.store.begin() as conn:
        waiting = conn.execute(
            sa.select(a.c.lead_id, a.c.version, a.c.partner_id, a.c.source)
            .where(a.c.status == "routed", a.c.partner_id.is_not(None), a.c.partner_id.not_in(auto), ~notified)
            .order_by(a.c.decided_at, a.c.lead_id)).all()
        if not waiting:
            return 0
        views = lead_views(ctx, conn, [w.lead_id for w in waiting])
        rendered: list[dict] = []  # emails rendered, queued QUEUE_CHUNK at a time
        names: dict[str, str] = {}
        for lead_id, version, partner_id, source in waiting:
            partner = ctx.partner(partner_id)
            view = views.get(lead_id)
            chosen = ctx.settings_of(partner_id)  # the partner's portal settings (reps told, language)
            to = recipients(partner, chosen.notified_reps if chosen else None) if partner else []
            if view is None:
                no_mapping[source] += 1
                continue
            if not to:
                no_recipients[partner_id] += 1
                continue
            accept_days = partner.accept_within_days or ctx.partners.routing.accept_within_days
            email = render_for(
                ctx, conn, "new_lead", f"New lead for {partner.name}: {view.title}", partner,
                partner=partner, view=view,
                accept_days=f"{accept_days:g}" if accept_days else None,
                accept_url=link(ctx, "accept", partner_id, lead_id, now, version),
                reject_url=link(ctx, "reject", partner_id, lead_id, now, version),
                expires_at=f"{expiry_in(now + timedelta(hours=web.token_ttl_hours), partner):%d %b %Y %H:%M}",
                time_zone=partner.timezone)
            rendered.append(dict(delivery_id=f"new_lead:{lead_id}:{version}", kind="new_lead", partner_id=partner_id,
                                 recipients=to, email=email, now=now, lead_id=lead_id, version=version))
            names[f"new_lead:{lead_id}:{version}"] = partner.name
            if len(rendered) >= QUEUE_CHUNK:
                _queue(ctx, conn, rendered, names, report)
        _queue(ctx, conn, rendered, names, report)
    for pid, n in no_recipients.items():
        report.problems.append(f"{n} lead(s) routed to partner '{pid}' wait: it has no users or reps to notify; "
                               "add users (one marked default: true, or the first added is the default) in "
                               "partners.yaml")
    for source, n in no_mapping.items():
        report.problems.append(f"{n} lead(s) of source '{source}' wait: its mapping (mappings/sources/{source}.yaml) "
                               "is not loaded, so the fields partners may see are unknown")
    return report.queued
