"""Bulk assign, reroute and withdraw from the console: each lead through leadsync/routing/manual.py, exactly
as `leadsync assign` / `leadsync withdraw` do it (one decision recorded per lead, with the note as its reason
and the console user as who; written back on the next writeback run). A lead that cannot be changed is
reported and the others go on; submitting the same change twice changes nothing the second time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from leadsync.config.partners import PartnersConfig
from leadsync.routing.manual import ManualAssignmentError, ManualResult, assign_by_hand, withdraw_by_hand
from leadsync.store import LeadStore

ACTIONS = ("assign", "reroute", "withdraw")
MAX_LEADS = 1000


@dataclass
class BulkOutcome:
    done: list[ManualResult] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (lead id, why)


def bulk_change(store: LeadStore, partners: PartnersConfig, action: str, lead_ids: list[str], now: datetime,
                actor: str, note: str, partner_id: str | None = None, rep_email: str | None = None) -> BulkOutcome:
    """assign (a queue's leads to `partner_id`), reroute (leads with a partner to another one) or withdraw.
    ValueError, before anything changes, when the request itself is wrong."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action '{action}'; actions: {', '.join(ACTIONS)}")
    if not lead_ids:
        raise ValueError("select at least one lead")
    if len(lead_ids) > MAX_LEADS:
        raise ValueError(f"{len(lead_ids)} leads selected; at most {MAX_LEADS} at once")
    if not note.strip():
        raise ValueError("a note is required: it is kept in the audit trail and written back")
    if action in ("assign", "reroute") and not partner_id:
        raise ValueError(f"choose the partner to {action} the leads to")
    out = BulkOutcome()
    for lead_id in dict.fromkeys(lead_ids):  # a lead selected twice is changed once
        try:
            if action == "withdraw":
                out.done.append(withdraw_by_hand(store, partners, lead_id, now, reason=note, actor=actor))
            else:
                out.done.append(assign_by_hand(store, partners, lead_id, partner_id, now, rep_email=rep_email,
                                               reason=note, actor=actor))
        except ManualAssignmentError as exc:
            out.refused.append((lead_id, str(exc)))
    return out
