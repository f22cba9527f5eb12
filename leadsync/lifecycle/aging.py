"""Leads that wait, and who is told: a reminder to the partner before its acceptance window ends, a notice
to the partner when a lead is withdrawn from it, and an escalation to the source's contacts about leads
that stayed unassigned or in review too long (lifecycle.yaml `aging`).

Every email is a `deliveries` row (mail_queue.queue_email) with a deterministic id — `reminder:<lead>:<version>`,
`withdrawn:<lead>:<version>`, `escalation:<source>:<digest>` — queued in the transaction that decides it,
so a rerun or a retry never adds a second one; `send_pending` sends them. An escalated lead is marked by a
lifecycle event `<lead>:escalated:<version>` in the same transaction, so it is escalated once per decision.
Which leads are due is found by one query per kind (anti-joins against the ledger); the partner's window,
reminder time and the dates shown are counted in its time zone and business days (routing.business_time).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.delivery import told_of
from leadsync.lifecycle.email_render import render
from leadsync.lifecycle.lead_view import lead_views
from leadsync.lifecycle.links import link
from leadsync.lifecycle.mail_queue import queue_email
from leadsync.lifecycle.partner_email import render_for
from leadsync.routing.business_time import latest_start, moments, shown
from leadsync.store import tables

SUPPLIER = "(supplier)"  # the deliveries row's partner_id for an email to the supplier's own contacts
ESCALATION_LIST = 200  # leads listed in one escalation email (the rest are counted)


@dataclass
class AgingReport:
    reminders: int = 0
    withdrawal_notices: int = 0
    escalations: int = 0  # emails
    escalated_leads: int = 0
    problems: list[str] = field(default_factory=list)


def queue_aging_emails(ctx: Lifecycle, now: datetime) -> AgingReport:
    """Queue every reminder, withdrawal notice and escalation due at `now` (none twice)."""
    report = AgingReport()
    aging = ctx.settings.aging
    if aging.remind_days_before is not None:
        _reminders(ctx, now, aging.remind_days_before, report)
    if aging.withdrawal_notice:
        _withdrawal_notices(ctx, now, aging.notice_within_days, report)
    if aging.escalate_after_days is not None:
        _escalations(ctx, now, aging.escalate_after_days, report)
    return report


def _not_emailed(kind: str, a: sa.Table | sa.Subquery):
    d = lt.deliveries
    return ~sa.exists().where(d.c.lead_id == a.c.lead_id, d.c.version == a.c.version, d.c.kind == kind)


def _reminders(ctx: Lifecycle, now: datetime, days_before: float, report: AgingReport) -> None:
    latest = latest_start(ctx.partners, now, days_before)
    if latest is None:
        return
    a = tables.assignments
    with ctx.store.begin() as conn:
        waiting = ctx.store.read_frame(conn, sa.select(a.c.lead_id, a.c.version, a.c.partner_id, a.c.decided_at)
                                       .where(a.c.status == "routed", a.c.partner_id.is_not(None),
                                              a.c.decided_at <= latest, _not_emailed("reminder", a))
                                       .order_by(a.c.decided_at, a.c.lead_id))
        if waiting.empty:
            return
        remind_at, ends = moments(waiting, ctx.partners, days_before), moments(waiting, ctx.partners)
        stamp = pd.Timestamp(now)
        due = waiting[remind_at.notna() & (remind_at <= stamp) & (ends > stamp)]
        views = lead_views(ctx, conn, due["lead_id"].tolist())
        ttl = timedelta(hours=ctx.settings.web.token_ttl_hours)
        for row, end in zip(due.itertuples(index=False), ends[due.index], strict=True):
            partner, view = ctx.partner(row.partner_id), views.get(row.lead_id)
            to = told_of(ctx, partner)
            if view is None or not to:
                continue
            version = int(row.version)
            email = render_for(ctx, conn, "reminder", f"Reminder: accept or reject by {shown(end, partner)}: "
                               f"{view.title}", partner, partner=partner, view=view, ends_at=shown(end, partner),
                           accept_url=link(ctx, "accept", partner.id, row.lead_id, now, version),
                           reject_url=link(ctx, "reject", partner.id, row.lead_id, now, version),
                           expires_at=shown(now + ttl, partner))
            if queue_email(conn, delivery_id=f"reminder:{row.lead_id}:{version}", kind="reminder",
                           partner_id=partner.id, recipients=to, email=email, now=now, lead_id=row.lead_id,
                           version=version):
                report.reminders += 1


def _withdrawal_notices(ctx: Lifecycle, now: datetime, within_days: float, report: AgingReport) -> None:
    h = tables.assignment_history
    with ctx.store.begin() as conn:
        withdrawn = ctx.store.read_frame(conn, sa.select(h.c.lead_id, h.c.version, h.c.partner_id, h.c.decided_at,
                                                         h.c.reason)
                                         .where(h.c.status == "withdrawn", h.c.partner_id.is_not(None),
                                                h.c.decided_at >= now - timedelta(days=within_days),
                                                _not_emailed("withdrawn", h))
                                         .order_by(h.c.decided_at, h.c.lead_id))
        if withdrawn.empty:
            return
        views = lead_views(ctx, conn, withdrawn["lead_id"].tolist())
        for row in withdrawn.itertuples(index=False):
            partner, view = ctx.partner(row.partner_id), views.get(row.lead_id)
            to = told_of(ctx, partner)
            if view is None or not to:
                continue
            version = int(row.version)
            at = shown(row.decided_at.to_pydatetime(), partner)
            email = render_for(ctx, conn, "withdrawn", f"Lead withdrawn: {view.title}", partner, partner=partner,
                               view=view,
                           withdrawn_at=at, why=row.reason)
            if queue_email(conn, delivery_id=f"withdrawn:{row.lead_id}:{version}", kind="withdrawn",
                           partner_id=partner.id, recipients=to, email=email, now=now, lead_id=row.lead_id,
                           version=version):
                report.withdrawal_notices += 1


def _escalations(ctx: Lifecycle, now: datetime, after_days: float, report: AgingReport) -> None:
    a, e = tables.assignments, lt.lifecycle_events
    marker = a.c.lead_id + ":escalated:" + sa.cast(a.c.version, sa.String)
    with ctx.store.begin() as conn:
        stuck = ctx.store.read_frame(conn, sa.select(a.c.lead_id, a.c.version, a.c.source, a.c.status,
                                                     a.c.decided_at, a.c.reason)
                                     .where(a.c.status.in_(("unassigned", "needs_review")),
                                            a.c.decided_at <= now - timedelta(days=after_days),
                                            ~sa.exists().where(e.c.event_id == marker))
                                     .order_by(a.c.source, a.c.decided_at, a.c.lead_id))
        for source, leads in stuck.groupby("source", sort=True):
            cfg = ctx.sources.get(source)
            if cfg is None or not cfg.contacts:
                report.problems.append(
                    f"{len(leads)} lead(s) of source '{source}' waited more than {after_days:g} days without a "
                    f"partner, and the source has no contacts to escalate to: add `contacts` to "
                    f"mappings/sources/{source}.yaml")
                continue
            keys = (leads["lead_id"] + ":" + leads["version"].astype(str)).tolist()
            delivery_id = f"escalation:{source}:{hashlib.sha256(','.join(keys).encode()).hexdigest()[:24]}"
            listed = [{"lead_id": r.lead_id, "status": r.status.replace("_", " "),
                       "since": f"{r.decided_at:%Y-%m-%d %H:%M}", "days": int((now - r.decided_at) / timedelta(days=1)),
                       "reason": r.reason} for r in leads.head(ESCALATION_LIST).itertuples(index=False)]
            more = len(leads) - len(listed)
            subject = f"{len(leads)} lead(s) of '{source}' waiting over {after_days:g} days without a partner"
            email = render("escalation", subject, limits=ctx.settings.emails, source=source, after_days=f"{after_days:g}",
                           leads=listed + ([{"lead_id": f"… and {more} more", "status": "", "since": "", "days": "",
                                             "reason": "see leadsync summary"}] if more else []))
            if not queue_email(conn, delivery_id=delivery_id, kind="escalation", partner_id=SUPPLIER,
                               recipients=list(cfg.contacts), email=email, now=now):
                continue
            ctx.store.insert_frame(conn, e, pd.DataFrame({
                "event_id": leads["lead_id"] + ":escalated:" + leads["version"].astype(str),
                "lead_id": leads["lead_id"], "source": source, "partner_id": None, "kind": "escalated",
                "detail": [json.dumps({"status": s, "delivery_id": delivery_id}) for s in leads["status"]],
                "actor": "aging", "occurred_at": now}), conflict="nothing")
            report.escalations += 1
            report.escalated_leads += len(leads)
