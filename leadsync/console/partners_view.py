"""The partner list: each partner's open leads against its capacity, acceptance rate and the age of its
open leads.

Open: routed (awaiting acceptance) or accepted and not closed. Acceptance rate: of the leads the partner
decided on (accepted or rejected, from the audit trail), the share accepted; none decided: blank. Age: days
since leadsync received the lead, for the partner's open leads (mean and oldest)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from leadsync.config.partners import PartnersConfig
from leadsync.store import LeadStore, tables

OPEN = ("routed", "accepted")


def partner_list(store: LeadStore, partners: PartnersConfig, now: datetime) -> pd.DataFrame:
    a, h, lead = tables.assignments, tables.assignment_history, tables.leads
    with store.begin() as conn:
        open_leads = store.read_frame(conn, sa.select(a.c.partner_id, lead.c.received_at)
                                      .join(lead, lead.c.lead_id == a.c.lead_id)
                                      .where(a.c.status.in_(OPEN), a.c.partner_id.is_not(None)))
        decided = store.read_frame(conn, sa.select(h.c.partner_id, h.c.action, sa.func.count().label("n"))
                                   .where(h.c.action.in_(("accepted", "claimed", "rejected")))
                                   .group_by(h.c.partner_id, h.c.action))
    naive_now = pd.Timestamp(now).tz_convert("UTC").tz_localize(None) if pd.Timestamp(now).tzinfo else pd.Timestamp(now)
    received = pd.to_datetime(open_leads["received_at"], utc=True).dt.tz_localize(None)
    open_leads["age_days"] = (naive_now - received).dt.total_seconds() / 86400
    rows = []
    for p in partners.partners:
        mine = open_leads[open_leads["partner_id"] == p.id]
        d = decided[decided["partner_id"] == p.id]
        accepted = int(d.loc[d["action"].isin(("accepted", "claimed")), "n"].sum())
        rejected = int(d.loc[d["action"] == "rejected", "n"].sum())
        rate = round(100 * accepted / (accepted + rejected), 1) if accepted + rejected else None
        rows.append({"partner_id": p.id, "partner_name": p.name, "active": p.active, "open_leads": len(mine),
                     "capacity": p.capacity, "accepted": accepted, "rejected": rejected,
                     "acceptance_rate_pct": rate,
                     "mean_age_days": round(float(mine["age_days"].mean()), 1) if len(mine) else None,
                     "oldest_days": round(float(mine["age_days"].max()), 1) if len(mine) else None})
    frame = pd.DataFrame(rows)
    frame["capacity"] = frame["capacity"].astype("Int64")  # a whole number, or none (no limit)
    return frame


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows for a page: missing values as None."""
    return [{k: (None if v is pd.NA or (isinstance(v, float) and pd.isna(v)) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]
