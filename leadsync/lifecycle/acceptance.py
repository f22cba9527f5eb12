"""A partner accepts or rejects a lead routed to it.

Accepting makes the assignment `accepted` (the lead stays with the partner and its sales status starts
at Not Contacted). Rejecting needs a reason (lifecycle.yaml `reject_reasons`); the assignment records
`rejected` and a `rejection` writeback event carries the reason. Then, with `rejected_leads: reroute`
(the default), the lead is routed again, never to a partner that already had it (unassigned when none is
left); with `return_to_supplier` it stays rejected until the supplier assigns it by hand.
Both are recorded once: a second click finds the lead already decided and changes nothing.

An offered lead (a rule group in `mode: offer`) goes to the first offered partner to accept: the claim is
a conditional insert (routing/offers.py), so two acceptances at once cannot both win; the winner's
acceptance is recorded as a `claimed` decision, the others get OfferTaken (the "taken" page) and an email.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from leadsync.intake import leads_frame
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.events import (
    LifecycleError,
    add_event,
    change_assignment,
    current_assignment,
    start_progress,
)
from leadsync.lifecycle.offers import queue_taken_emails
from leadsync.portal.i18n import Message
from leadsync.routing.engine import fields_used, route
from leadsync.routing.offers import claim, winner_of
from leadsync.routing.state import load_state, record, save_positions
from leadsync.store import tables


@dataclass(frozen=True)
class Decision:
    lead_id: str
    outcome: str  # accepted | rejected | already_accepted | already_rejected
    message: str  # for the partner
    decided_at: datetime | None = None
    rerouted_to: str | None = None  # partner id the rejected lead went to next (None: unassigned / returned)
    emails: tuple[str, ...] = ()  # deliveries queued by the decision (offer taken), to send now


class OfferTaken(LifecycleError):
    """The lead was offered to several partners and another one accepted it first."""

    def __init__(self, message: str, taken_at: datetime | None = None):
        super().__init__(message, "lead_id", 409)
        self.taken_at = taken_at  # when the other partner accepted it (the web page shows it in the reader's zone)


def _taken_check(ctx: Lifecycle, conn: sa.Connection, lead_id: str, partner_id: str) -> None:
    """OfferTaken when the lead's offer was claimed by another partner."""
    won = winner_of(conn, lead_id)
    if won is not None and won[0] != partner_id:
        raise OfferTaken(f"This lead was taken: another partner accepted it first ({won[1]:%d %b %Y %H:%M} UTC). "
                         f"Nothing was changed for {ctx.partner_name(partner_id)}.", taken_at=won[1])


def _claim(ctx: Lifecycle, conn: sa.Connection, current: dict, partner_id: str, now: datetime,
           actor: str) -> Decision:
    lead_id, name = current["lead_id"], ctx.partner_name(partner_id)
    offered = (current["candidates"] or "").split(",")
    if partner_id not in offered:
        raise LifecycleError(f"This lead was not offered to {name}.", "lead_id", 409)
    winner, _at = claim(ctx.store, conn, lead_id, int(current["version"]), partner_id, now)
    if winner != partner_id:
        _taken_check(ctx, conn, lead_id, partner_id)
    version = change_assignment(ctx, conn, current, action="claimed", status="accepted", now=now,
                                reason=f"claimed by {name}: the first of the {len(offered)} partners offered it "
                                       f"({', '.join(offered)}) to accept", decided_by=f"partner:{partner_id}",
                                partner_id=partner_id)
    start_progress(ctx, conn, {**current, "partner_id": partner_id}, now)
    add_event(ctx, conn, event_id=f"{lead_id}:accepted:{version}", lead_id=lead_id, source=current["source"],
              partner_id=partner_id, kind="accepted", detail={"via": actor, "offered_to": offered}, actor=actor,
              now=now)
    emails = queue_taken_emails(ctx, conn, current, partner_id, now)
    return Decision(lead_id, "accepted", Message("You accepted this lead for %(partner)s; it is yours. The other "
                                                 "partners it was offered to are told it is taken.", partner=name),
                    now, emails=tuple(emails))


def _routed_to(ctx: Lifecycle, current: dict | None, lead_id: str, partner_id: str) -> dict:
    if current is None:
        raise LifecycleError(f"lead '{lead_id}' is not known; check the link in the email", "lead_id", 404)
    if current["partner_id"] != partner_id:
        raise LifecycleError(Message("This lead is no longer assigned to %(partner)s: it was withdrawn or given to "
                                     "another partner.", partner=ctx.partner_name(partner_id)), "lead_id", 409)
    return current


def _already(ctx: Lifecycle, conn: sa.Connection, current: dict, partner_id: str) -> Decision | None:
    """The earlier decision when the partner already accepted or rejected this lead."""
    if current["partner_id"] == partner_id and current["status"] in ("accepted", "closed"):
        return Decision(current["lead_id"], "already_accepted",
                        Message("%(partner)s already accepted this lead.", partner=ctx.partner_name(partner_id)))
    h = tables.assignment_history
    rejected = conn.execute(sa.select(h.c.decided_at).where(
        h.c.lead_id == current["lead_id"], h.c.partner_id == partner_id, h.c.action == "rejected")).all()
    if rejected:
        return Decision(current["lead_id"], "already_rejected",
                        Message("%(partner)s already rejected this lead.", partner=ctx.partner_name(partner_id)),
                        rejected[0][0])
    return None


def accept(ctx: Lifecycle, conn: sa.Connection, lead_id: str, partner_id: str, now: datetime,
           actor: str = "web") -> Decision:
    """Accept a lead routed (or offered) to the partner (inside the caller's transaction)."""
    current = current_assignment(ctx, conn, lead_id, lock=True)
    if current is not None and current["status"] == "offered":
        return _claim(ctx, conn, current, partner_id, now, actor)
    if current is not None and current["partner_id"] != partner_id:
        _taken_check(ctx, conn, lead_id, partner_id)
        done = _already(ctx, conn, current, partner_id)
        if done:  # rejected by this partner, and rerouted since
            raise LifecycleError(Message("%(done)s It cannot be accepted any more.", done=done.message), "lead_id", 409)
    current = _routed_to(ctx, current, lead_id, partner_id)
    if current["status"] != "routed":
        done = _already(ctx, conn, current, partner_id)
        if done and done.outcome == "already_accepted":
            return done
        if done:
            raise LifecycleError(Message("%(done)s It cannot be accepted any more.", done=done.message), "lead_id", 409)
        raise LifecycleError(Message("This lead is %(status)s; it cannot be accepted now.", status=current["status"]),
                             "lead_id", 409)
    version = change_assignment(ctx, conn, current, action="accepted", status="accepted", now=now,
                                reason=f"accepted by {ctx.partner_name(partner_id)}",
                                decided_by=f"partner:{partner_id}")
    start_progress(ctx, conn, current, now)
    add_event(ctx, conn, event_id=f"{lead_id}:accepted:{version}", lead_id=lead_id, source=current["source"],
              partner_id=partner_id, kind="accepted", detail={"via": actor}, actor=actor, now=now)
    return Decision(lead_id, "accepted", Message("You accepted this lead for %(partner)s.",
                                                 partner=ctx.partner_name(partner_id)), now)


def reject(ctx: Lifecycle, conn: sa.Connection, lead_id: str, partner_id: str, reason_code: str | None,
           comment: str | None, now: datetime, actor: str = "web") -> Decision:
    """Reject a lead routed to the partner, with a reason (inside the caller's transaction)."""
    reason = ctx.settings.reject_reason(reason_code)
    allowed = ", ".join(f"{r.code} ({r.label})" for r in ctx.settings.reject_reasons)
    if reason is None:
        raise LifecycleError(Message("Choose a reason for rejecting the lead.") if not reason_code else
                             Message("'%(code)s' is not a reject reason; allowed: %(allowed)s", code=reason_code,
                                     allowed=allowed), "reason")
    comment = (comment or "").strip() or None
    if reason.comment == "required" and not comment:
        raise LifecycleError(Message("Reason '%(reason)s' needs a comment: say why.", reason=reason.label), "comment")
    if reason.comment == "none":
        comment = None
    if comment and len(comment) > 2000:
        raise LifecycleError(Message("The comment is longer than 2000 characters."), "comment")
    current = current_assignment(ctx, conn, lead_id, lock=True)
    if current is not None and current["status"] == "offered":
        raise LifecycleError(Message("This lead is offered to several partners: accept it to take it, or leave it to "
                                     "the others. There is nothing to reject."), "lead_id", 409)
    if current is not None and current["partner_id"] != partner_id:
        _taken_check(ctx, conn, lead_id, partner_id)
        done = _already(ctx, conn, current, partner_id)
        if done:
            return done
    current = _routed_to(ctx, current, lead_id, partner_id)
    if current["status"] != "routed":
        done = _already(ctx, conn, current, partner_id)
        if done:
            if done.outcome == "already_accepted":
                raise LifecycleError(Message(
                    "You accepted this lead already, so it cannot be rejected. If it is not a fit, open its "
                    "status page and set the sales status to Unqualified/Invalid."), "lead_id", 409)
            return done
        raise LifecycleError(f"This lead is {current['status']}; it cannot be rejected now.", "lead_id", 409)
    why = f"rejected by {ctx.partner_name(partner_id)}: {reason.label}" + (f" ({comment})" if comment else "")
    version = change_assignment(ctx, conn, current, action="rejected", status="rejected", now=now, reason=why,
                                decided_by=f"partner:{partner_id}")
    detail = {"reason_code": reason.code, "reason": reason.label, "comment": comment}
    add_event(ctx, conn, event_id=f"{lead_id}:rejected:{version}", lead_id=lead_id, source=current["source"],
              partner_id=partner_id, kind="rejection", detail=detail, actor=actor, now=now,
              outbox={"rejection_reason": reason.label, "rejection_code": reason.code,
                      "rejection_comment": comment, "reason": why})
    rerouted_to = None
    if ctx.settings.rejected_leads == "reroute":
        rerouted_to = _reroute(ctx, conn, {**current, "version": version, "status": "rejected"}, now)
    return Decision(lead_id, "rejected", Message("You rejected this lead for %(partner)s (reason: %(reason)s).",
                                                 partner=ctx.partner_name(partner_id), reason=reason.label),
                    now, rerouted_to)


def _reroute(ctx: Lifecycle, conn: sa.Connection, rejected: dict, now: datetime) -> str | None:
    """Route the rejected lead again, excluding every partner that had it; the partner it went to."""
    cfg = ctx.sources.get(rejected["source"])
    if cfg is None:  # without the mapping the lead cannot be routed: it waits as rejected
        return None
    lead_id = rejected["lead_id"]
    leads = leads_frame(ctx.store, conn, cfg, tables.leads.c.lead_id == lead_id, fields_used(ctx.partners, cfg))
    result = route(leads, ctx.partners, cfg, load_state(ctx.store, conn, ctx.partners, [lead_id]))
    decisions = result.decisions.assign(source=cfg.name, action="rerouted", decided_by="reject",
                                        version=int(rejected["version"]) + 1,
                                        attempt=int(rejected["attempt"]) + 1)
    record(ctx.store, conn, decisions, ctx.partners, now)
    save_positions(ctx.store, conn, result.positions, now)
    row = decisions.iloc[0]
    return row["partner_id"] if row["status"] == "routed" else None


def accept_lead(ctx: Lifecycle, lead_id: str, partner_id: str, now: datetime, actor: str = "operator") -> Decision:
    with ctx.store.begin() as conn:
        return accept(ctx, conn, lead_id, partner_id, now, actor)


def reject_lead(ctx: Lifecycle, lead_id: str, partner_id: str, reason_code: str | None, comment: str | None,
                now: datetime, actor: str = "operator") -> Decision:
    with ctx.store.begin() as conn:
        return reject(ctx, conn, lead_id, partner_id, reason_code, comment, now, actor)
