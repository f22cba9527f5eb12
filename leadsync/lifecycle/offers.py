"""Emails of offered leads (rule groups in `mode: offer`): the offer to each partner, with an accept link
(the first to accept gets the lead), and the "taken" email to the others once one has. Each is a
`deliveries` row with a deterministic id (`offer:<lead>:<version>:<partner>`,
`offer_taken:<lead>:<version>:<partner>`), so none is queued twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.delivery import told_of
from leadsync.lifecycle.lead_view import lead_view, lead_views
from leadsync.lifecycle.links import link
from leadsync.lifecycle.mail_queue import queue_email
from leadsync.lifecycle.partner_email import render_for
from leadsync.routing.business_time import shown
from leadsync.routing.offers import claim_ends
from leadsync.store import tables


def queue_offer_emails(ctx: Lifecycle, now: datetime) -> int:
    """Queue the offer email of every offered lead to each partner it is offered to (once); returns how many."""
    a, d = tables.assignments, lt.deliveries
    queued = 0
    with ctx.store.begin() as conn:
        offered = conn.execute(sa.select(a.c.lead_id, a.c.version, a.c.candidates, a.c.rule_group, a.c.decided_at)
                               .where(a.c.status == "offered").order_by(a.c.decided_at, a.c.lead_id)).all()
        if not offered:
            return 0
        sent = {(r.lead_id, r.version, r.partner_id) for r in conn.execute(
            sa.select(d.c.lead_id, d.c.version, d.c.partner_id).where(
                d.c.kind == "offer", d.c.lead_id.in_([o.lead_id for o in offered])))}
        views = lead_views(ctx, conn, [o.lead_id for o in offered])
        ttl = timedelta(hours=ctx.settings.web.token_ttl_hours)
        for lead_id, version, candidates, group, decided_at in offered:
            view = views.get(lead_id)
            ids = (candidates or "").split(",")
            ends = claim_ends(ctx.partners, group, decided_at)
            for pid in ids:
                partner = ctx.partner(pid)
                to = told_of(ctx, partner)
                if view is None or not to or (lead_id, version, pid) in sent:
                    continue
                email = render_for(ctx, conn, "offer", f"Lead offered to {partner.name}: {view.title}", partner,
                                   partner=partner, view=view,
                               others=len(ids) - 1, ends_at=shown(ends, partner) if ends else None,
                               accept_url=link(ctx, "accept", pid, lead_id, now, version),
                               expires_at=shown(now + ttl, partner))
                if queue_email(conn, delivery_id=f"offer:{lead_id}:{version}:{pid}", kind="offer", partner_id=pid,
                               recipients=to, email=email, now=now, lead_id=lead_id, version=version):
                    queued += 1
    return queued


def queue_taken_emails(ctx: Lifecycle, conn: sa.Connection, offer: dict, winner: str, now: datetime) -> list[str]:
    """Tell the other partners the offered lead `offer` (its offered assignment) was taken; the delivery ids."""
    view = lead_view(ctx, conn, offer["lead_id"])
    ids = []
    for pid in (offer["candidates"] or "").split(","):
        partner = ctx.partner(pid)
        to = told_of(ctx, partner)
        if pid == winner or view is None or not to:
            continue
        delivery_id = f"offer_taken:{offer['lead_id']}:{offer['version']}:{pid}"
        email = render_for(ctx, conn, "offer_taken", f"Lead taken: {view.title}", partner, partner=partner, view=view,
                       taken_at=shown(now, partner))
        if queue_email(conn, delivery_id=delivery_id, kind="offer_taken", partner_id=pid, recipients=to,
                       email=email, now=now, lead_id=offer["lead_id"], version=int(offer["version"])):
            ids.append(delivery_id)
    return ids
