"""Bulk actions of the portal's lead list: accept, reject (a reason for all), set the sales status, assign
a rep. Each lead is one call of the same lifecycle function an emailed link or the status page makes
(acceptance.accept / reject, updates.apply_update), in a transaction of its own: a lead that cannot take
the action is reported and the others go ahead; each action is recorded once and written back the same way.
A lead not currently assigned to the member's partner is refused before anything is read of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from leadsync.lifecycle.acceptance import accept, reject
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.events import LifecycleError
from leadsync.lifecycle.status import SALES_STATUSES
from leadsync.lifecycle.updates import apply_update
from leadsync.portal.auth import Member
from leadsync.portal.i18n import Message
from leadsync.portal.leads import owned

Action = Literal["accept", "reject", "status", "rep"]
MAX_LEADS = 500
NOT_YOURS = Message("not one of your leads (or no longer assigned to you)")


@dataclass(frozen=True)
class Outcome:
    lead_id: str
    ok: bool
    message: str | tuple[str, ...]  # Messages (portal.i18n), shown in the member's language


@dataclass
class BulkResult:
    outcomes: list[Outcome] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)  # delivery ids queued (rep notifications)

    @property
    def done(self) -> int:
        return sum(o.ok for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def check(ctx: Lifecycle, member: Member, action: str, lead_ids: list[str], form: dict[str, str]) -> None:
    """LifecycleError (with the form field at fault) when the action as a whole cannot be taken."""
    if action not in ("accept", "reject", "status", "rep"):
        raise LifecycleError(Message("'%(action)s' is not an action; choose accept, reject, status or rep",
                                     action=action), "action")
    if not lead_ids:
        raise LifecycleError(Message("Select at least one lead."), "lead_id")
    if len(lead_ids) > MAX_LEADS:
        raise LifecycleError(Message("Select at most %(n)s leads at a time.", n=MAX_LEADS), "lead_id")
    if action == "reject" and ctx.settings.reject_reason(form.get("reason")) is None:
        raise LifecycleError(Message("Choose a reason for rejecting the selected leads."), "reason")
    if action == "status" and form.get("sales_status") not in SALES_STATUSES:
        raise LifecycleError(Message("Choose the sales status to set."), "sales_status")
    if action == "rep":
        partner = ctx.partner(member.partner_id)
        if not form.get("rep") or partner is None or partner.rep(form["rep"]) is None:
            raise LifecycleError(Message("Choose one of your reps."), "rep")


def run(ctx: Lifecycle, member: Member, action: Action, lead_ids: list[str], form: dict[str, str],
        now: datetime) -> BulkResult:
    """Apply `action` to each lead; the caller ran check() first."""
    ids = list(dict.fromkeys(lead_ids))
    pid = member.partner_id
    actor = f"portal:{member.email}"
    with ctx.store.begin() as conn:
        mine = owned(conn, pid, ids)
    result = BulkResult()
    rep = ctx.partner(pid).rep(form.get("rep", "")) if action == "rep" else None
    for lead_id in ids:
        if lead_id not in mine:
            result.outcomes.append(Outcome(lead_id, False, NOT_YOURS))
            continue
        try:
            if action in ("accept", "reject"):
                with ctx.store.begin() as conn:
                    decision = accept(ctx, conn, lead_id, pid, now, actor) if action == "accept" else reject(
                        ctx, conn, lead_id, pid, form.get("reason"), form.get("comment"), now, actor)
                result.outcomes.append(Outcome(lead_id, decision.outcome in ("accepted", "rejected"),
                                               decision.message))
                continue
            row = {"lead_id": lead_id, "sales_status": form["sales_status"]} if action == "status" else \
                {"lead_id": lead_id, "rep_name": rep.name, "rep_email": rep.email}
            update = apply_update(ctx, pid, row, now, actor)
            result.emails += update.emails
            result.outcomes.append(Outcome(lead_id, bool(update.changes),
                                           tuple(update.changes) or Message("nothing changed")))
        except LifecycleError as exc:
            result.outcomes.append(Outcome(lead_id, False, exc.args[0]))
    return result
