"""Closed-loop requests: on a schedule, the owners of accepted, still-open leads are asked for an update,
with a link to each lead's status page and to the partner's CSV upload.

The owner of a lead is its rep when the partner assigned one, else the partner's default
lead-notification users. Partners that opted out (partners.yaml `closed_loop: false`) get nothing, nor do
auto-accept partners when `closed_loop.skip_auto_accept` (they update through their CRM, by import/API).
One email per owner and period (`closed_loop.every_days`): running the job again in the same period
sends nothing new.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.lead_view import lead_views
from leadsync.lifecycle.links import link
from leadsync.lifecycle.mail_queue import queue_email, send_pending
from leadsync.lifecycle.partner_email import local, render_for
from leadsync.lifecycle.smtp import Mailer
from leadsync.store import tables

MAX_LEADS_PER_EMAIL = 200


@dataclass
class ClosedLoopReport:
    period: int = 0
    emails_queued: int = 0
    leads_asked: int = 0
    sent: int = 0
    skipped_partners: dict[str, str] = field(default_factory=dict)  # partner id → why no email
    problems: list[str] = field(default_factory=list)


def eligible_partners(ctx: Lifecycle, report: ClosedLoopReport | None = None) -> list[str]:
    report = report if report is not None else ClosedLoopReport()
    chosen = []
    for p in ctx.partners.partners:
        if not p.closed_loop:
            report.skipped_partners[p.id] = "opted out (closed_loop: false)"
        elif p.crm is not None:
            report.skipped_partners[p.id] = "updates come from its own CRM (partners.yaml crm)"
        elif p.auto_accept and ctx.settings.closed_loop.skip_auto_accept:
            report.skipped_partners[p.id] = "auto-accept partner updating through its CRM"
        else:
            chosen.append(p.id)
    return chosen


def period_of(ctx: Lifecycle, now: datetime) -> int:
    return int(now.timestamp() // (ctx.settings.closed_loop.every_days * 86400))


def queue_closed_loop(ctx: Lifecycle, now: datetime, report: ClosedLoopReport | None = None) -> ClosedLoopReport:
    """Queue this period's update requests (nothing when already queued this period)."""
    report = report if report is not None else ClosedLoopReport()
    settings = ctx.settings.closed_loop
    if not settings.enabled:
        return report
    report.period = period_of(ctx, now)
    partner_ids = eligible_partners(ctx, report)
    if not partner_ids:
        return report
    a, p = tables.assignments, lt.lead_progress
    query = (sa.select(a.c.lead_id, a.c.partner_id, p.c.sales_status, p.c.rep_name, p.c.rep_email, p.c.accepted_at)
             .join(p, p.c.lead_id == a.c.lead_id)
             .where(a.c.status == "accepted", a.c.partner_id.in_(partner_ids), p.c.partner_id == a.c.partner_id,
                    p.c.closed.is_(False))
             .order_by(a.c.partner_id, p.c.accepted_at, a.c.lead_id))
    if settings.stale_after_days:
        query = query.where(p.c.touched_at <= now - timedelta(days=settings.stale_after_days))
    with ctx.store.begin() as conn:
        leads = [dict(r) for r in conn.execute(query).mappings().all()]
        if not leads:
            return report
        views = lead_views(ctx, conn, [r["lead_id"] for r in leads])
        groups: dict[tuple[str, tuple[str, ...]], dict] = {}
        for r in leads:
            partner = ctx.partner(r["partner_id"])
            if r["rep_email"]:
                to, greeting = (r["rep_email"],), r["rep_name"] or r["rep_email"]
            else:
                to, greeting = tuple(u.email for u in partner.default_users()), partner.name
            if not to:
                report.problems.append(f"lead {r['lead_id']} of {partner.name}: no rep and no default user to ask")
                continue
            view = views.get(r["lead_id"])
            group = groups.setdefault((partner.id, to), {"greeting": greeting, "items": [], "rep": bool(r["rep_email"])})
            group["items"].append({
                "title": view.title if view else r["lead_id"], "partner_name": partner.name,
                "sales_status": r["sales_status"], "accepted_on": local(r["accepted_at"], partner),
                "status_url": link(ctx, "status", partner.id, r["lead_id"], now)})
        for (partner_id, to), group in groups.items():
            items = group["items"][:MAX_LEADS_PER_EMAIL]
            digest = hashlib.sha1(",".join(to).encode()).hexdigest()[:12]
            partner = ctx.partner(partner_id)
            email = render_for(ctx, conn, "closed_loop", f"Please update your {len(group['items'])} open lead(s)",
                               partner, recipient=to[0] if group["rep"] else None,
                               greeting=group["greeting"], items=items,
                               import_url=link(ctx, "import", partner_id, None, now))
            if queue_email(conn, delivery_id=f"closed_loop:{report.period}:{partner_id}:{digest}", kind="closed_loop",
                           partner_id=partner_id, recipients=list(to), email=email, now=now):
                report.emails_queued += 1
                report.leads_asked += len(group["items"])
    return report


def send_closed_loop(ctx: Lifecycle, now: datetime, mailer: Mailer | None = None) -> ClosedLoopReport:
    """The scheduled job: queue this period's requests and send every pending email."""
    report = queue_closed_loop(ctx, now)
    sent = send_pending(ctx, now, mailer)
    report.sent = sent.sent
    report.problems += sent.errors
    return report
