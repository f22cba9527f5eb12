"""Offers (`mode: offer` rule groups): the claim that decides who gets an offered lead, and what happens to
offers nobody claimed in time.

A claim is one conditional insert into `offer_claims`, keyed by (lead, assignment version): the first
partner's row goes in, any other's does nothing (ON CONFLICT DO NOTHING on the key), so two partners
accepting in the same instant — in two web-app processes, on DuckDB or Postgres — cannot both win; each
then reads the row to learn who did. The claim window is counted in UTC days from the offer (the offered
partners may sit in different zones).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from leadsync.config.partners import PartnersConfig
from leadsync.config.schema import SourceConfig
from leadsync.lifecycle import tables as lt
from leadsync.routing.business_time import utc
from leadsync.routing.state import hold_routing, record
from leadsync.store import LeadStore, tables


def claim(store: LeadStore, conn: sa.Connection, lead_id: str, version: int, partner_id: str,
          now: datetime) -> tuple[str, datetime]:
    """Claim the offered lead (its assignment `version`) for `partner_id`; returns the partner that holds the
    claim and when it was made — `partner_id` itself when this claim won."""
    c = lt.offer_claims
    store.insert_frame(conn, c, pd.DataFrame([{"lead_id": lead_id, "version": int(version),
                                               "partner_id": partner_id, "claimed_at": now}]), conflict="nothing")
    winner, at = conn.execute(sa.select(c.c.partner_id, c.c.claimed_at)
                              .where(c.c.lead_id == lead_id, c.c.version == int(version))).one()
    return winner, at


def winner_of(conn: sa.Connection, lead_id: str) -> tuple[str, datetime] | None:
    """The partner that claimed the lead's latest offer, and when (None: never claimed)."""
    c = lt.offer_claims
    row = conn.execute(sa.select(c.c.partner_id, c.c.claimed_at).where(c.c.lead_id == lead_id)
                       .order_by(c.c.version.desc()).limit(1)).first()
    return (row[0], row[1]) if row else None


def claim_window(partners: PartnersConfig, rule_group: str | None) -> float | None:
    group = partners.rule_group(rule_group)
    days = group.offer.claim_within_days if group is not None and group.offer else None
    return days or partners.routing.accept_within_days


def expire_offers(cfg: SourceConfig, partners: PartnersConfig, store: LeadStore, now: datetime) -> int:
    """Offers of the source unclaimed past their window go to their group's fallback (the default partner
    when it is active, else the unassigned queue); returns how many."""
    with store.begin() as conn:  # a look outside the routing section first, as assign._late_routed does
        if _late_offers(store, conn, cfg, partners, now).empty:
            return 0
    with store.begin() as conn:
        hold_routing(store, conn)
        late = _late_offers(store, conn, cfg, partners, now)  # again: another step may have taken some
        if late.empty:
            return 0
        rows = []
        for r in late.itertuples(index=False):
            group = partners.rule_group(r.rule_group)
            fallback = group.offer.fallback if group is not None and group.offer else "unassigned"
            default = partners.by_id(partners.routing.default_partner) if partners.routing.default_partner else None
            days = claim_window(partners, r.rule_group)
            why = f"offer to {r.candidates.replace(',', ', ')} not claimed within {days:g} days"
            if fallback == "default_partner" and default is not None and default.active:
                decision = {"partner_id": default.id, "status": "routed", "step": "default_partner",
                            "reason": f"{why}: default partner {default.name}"}
            else:
                decision = {"partner_id": None, "status": "unassigned", "step": "none",
                            "reason": f"{why}: unassigned queue"}
            rows.append({"lead_id": r.lead_id, "source": cfg.name, "version": int(r.version) + 1,
                         "action": "offer_expired", "rep_email": None, "rep_name": None,
                         "rule_group": r.rule_group, "candidates": r.candidates, "rr_key": None, "rr_slot": None,
                         "attempt": int(r.attempt), "decided_by": "reroute", **decision})
        record(store, conn, pd.DataFrame(rows), partners, now)
    return len(rows)


def _late_offers(store: LeadStore, conn: sa.Connection, cfg: SourceConfig, partners: PartnersConfig,
                 now: datetime) -> pd.DataFrame:
    """The source's offers unclaimed past their window now (an offer made now is not)."""
    a = tables.assignments
    offered = store.read_frame(conn, sa.select(a).where(a.c.source == cfg.name, a.c.status == "offered"))
    if offered.empty:
        return offered
    windows = offered["rule_group"].map(lambda g: claim_window(partners, g))
    ends = pd.to_datetime(offered["decided_at"], utc=True) + pd.to_timedelta(windows.astype(float), unit="D")
    return offered[windows.notna() & (ends <= pd.Timestamp(now))]


def claim_ends(partners: PartnersConfig, rule_group: str | None, offered_at: datetime) -> datetime | None:
    days = claim_window(partners, rule_group)
    return utc(offered_at) + timedelta(days=days) if days else None
