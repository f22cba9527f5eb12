"""Leads waiting at a partner: routed to it and not yet accepted, rejected or withdrawn, split by why they wait.

- `not_told`: nobody at the partner has heard of them yet: the partner has no one to notify (no default
  user, no rep), or its notification email is still queued, or was refused by the mail server, or the next
  delivery run has not handled them yet (an auto-accept partner's leads wait for that run too).
- `awaiting_acceptance`: the notification email went out; the partner has not answered.

For the CLI summary (`leadsync summary`), the `partners/deliveries` asset metadata and the demo's summary.
One grouped query over the current assignments and the notification ledger, whatever the number of leads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd
import sqlalchemy as sa

from leadsync.config.partners import PartnersConfig
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.delivery import recipients
from leadsync.store import LeadStore, tables


@dataclass(frozen=True)
class PartnerWaiting:
    partner_id: str
    partner: str  # its name (the id when partners.yaml no longer has it)
    not_told: int
    awaiting_acceptance: int
    why_not_told: str  # '' when not_told is 0

    @property
    def waiting(self) -> int:
        return self.not_told + self.awaiting_acceptance


def waiting_per_partner(store: LeadStore, partners: PartnersConfig | None = None) -> list[PartnerWaiting]:
    """Every partner with leads waiting, most waiting first. Without `partners` (partners.yaml does not
    load) the reasons cannot name a partner's missing recipients; the counts are the same."""
    a, d = tables.assignments, lt.deliveries
    notice = (sa.select(d.c.lead_id, d.c.version, d.c.state).where(d.c.kind == "new_lead")).subquery()
    query = (
        sa.select(a.c.partner_id, notice.c.state, sa.func.count().label("leads"))
        .select_from(a.outerjoin(notice, sa.and_(notice.c.lead_id == a.c.lead_id,
                                                 notice.c.version == a.c.version)))
        .where(a.c.status == "routed", a.c.partner_id.is_not(None))
        .group_by(a.c.partner_id, notice.c.state)
    )
    with store.begin() as conn:
        lt.ensure_tables(conn)
        rows = conn.execute(query).all()
    counts: dict[str, dict[str | None, int]] = {}
    for partner_id, state, n in rows:
        counts.setdefault(partner_id, {})[state] = int(n)
    found = [_partner_waiting(pid, by_state, partners) for pid, by_state in counts.items()]
    return sorted(found, key=lambda w: (-w.waiting, w.partner_id))


def _partner_waiting(partner_id: str, by_state: dict[str | None, int],
                     partners: PartnersConfig | None) -> PartnerWaiting:
    partner = partners.by_id(partner_id) if partners is not None else None
    told = by_state.get("sent", 0)
    unsent = {state: n for state, n in by_state.items() if state != "sent" and n}
    reasons = []
    if unsent.get(None):
        if partner is not None and partner.auto_accept:
            reasons.append(f"{_leads(unsent[None])} wait for the next delivery run to accept them (auto-accept)")
        elif partner is not None and not recipients(partner):
            reasons.append(f"{_leads(unsent[None])} with no one to tell: add users or reps to {partner_id} in "
                           "partners.yaml")
        elif partners is not None and partner is None:
            reasons.append(f"{_leads(unsent[None])} of a partner no longer in partners.yaml")
        else:
            reasons.append(f"{_leads(unsent[None])} not yet emailed (the next delivery run sends them)")
    if unsent.get("pending"):
        reasons.append(f"{_emails(unsent['pending'])} queued, not yet sent (partner_mail_retry_schedule retries them)")
    if unsent.get("failed"):
        reasons.append(f"{_emails(unsent['failed'])} refused for good (recipients refused; see deliveries.last_error)")
    others = {s: n for s, n in unsent.items() if s not in (None, "pending", "failed")}
    for state, n in sorted(others.items()):
        reasons.append(f"{_emails(n)} {state}")
    return PartnerWaiting(partner_id, partner.name if partner is not None else partner_id,
                          sum(unsent.values()), told, "; ".join(reasons))


def _leads(n: int) -> str:
    return f"{n} lead{'' if n == 1 else 's'}"


def _emails(n: int) -> str:
    return f"{n} email{'' if n == 1 else 's'}"


def waiting_summary(store: LeadStore, partners: PartnersConfig | None = None) -> dict[str, dict]:
    """{partner id: {partner, waiting, not_told, awaiting_acceptance, why_not_told}}, for JSON."""
    return {w.partner_id: {"waiting": w.waiting, **{k: v for k, v in asdict(w).items() if k != "partner_id"}}
            for w in waiting_per_partner(store, partners)}


def waiting_frame(waiting: list[PartnerWaiting]) -> pd.DataFrame:
    """One row per partner, for a Markdown table in the Dagster UI."""
    return pd.DataFrame([{"partner": w.partner, "waiting": w.waiting, "not told": w.not_told,
                          "why not told": w.why_not_told, "awaiting acceptance": w.awaiting_acceptance}
                         for w in waiting],
                        columns=["partner", "waiting", "not told", "why not told", "awaiting acceptance"])
