"""A partner's leads as the portal lists them: the leads currently assigned to the partner, filtered by
status, age, campaign, rep and a search, a page at a time.

Only what the partner may see is searched or shown: a lead's standard columns count only where the
source's mapping shares them (`shared: false` is never searched, so a search cannot probe hidden values),
and titles and fields come from `lead_view`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.lead_view import CAMPAIGN_FIELD, lead_views
from leadsync.store import tables

PAGE_SIZE = 100
HELD = ("routed", "accepted", "closed")  # the assignment statuses of a lead the partner holds
SEARCHED = ("first_name", "last_name", "company", "email", "city", "country", "state", "postal_code")


class LeadFilter(BaseModel):
    """The list's query string; every field optional."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["", "routed", "accepted", "closed"] = ""
    age: int | None = Field(None, ge=1, le=3650, description="Received within this many days.")
    campaign: str = ""
    rep: str = ""  # a rep's email, or "none" for leads without a rep
    q: str = Field("", max_length=200)
    page: int = Field(1, ge=1)

    @field_validator("age", mode="before")
    @classmethod
    def _blank(cls, v):
        return None if v in ("", None) else v

    def query_string(self, **changes) -> str:
        from urllib.parse import urlencode

        values = {**self.model_dump(), **changes}
        return urlencode({k: v for k, v in values.items() if v not in ("", None) and not (k == "page" and v == 1)})


@dataclass(frozen=True)
class LeadRow:
    lead_id: str
    title: str
    status: str  # routed | accepted | closed
    received_at: datetime
    campaign: str | None
    sales_status: str | None
    rep_name: str | None
    rep_email: str | None


@dataclass(frozen=True)
class LeadPage:
    rows: list[LeadRow]
    total: int
    pages: int
    campaigns: list[str]  # the campaigns of the partner's leads (filter choices)


def _shared(ctx: Lifecycle, name: str) -> list[str]:
    """Sources whose mapping shares the standard field `name` with partners."""
    out = []
    for source, cfg in ctx.sources.items():
        f = cfg.field(name)
        if f is not None and f.shared:
            out.append(source)
    return out


def _where_shared(ctx: Lifecycle, column: str, condition) -> sa.ColumnElement:
    sources = _shared(ctx, column)
    return tables.leads.c.source.in_(sources) & condition if sources else sa.false()


def owned(conn: sa.Connection, partner_id: str, lead_ids: list[str]) -> set[str]:
    """Those of `lead_ids` currently assigned to the partner (the isolation check of every action)."""
    a = tables.assignments
    if not lead_ids:
        return set()
    return {r[0] for r in conn.execute(sa.select(a.c.lead_id).where(
        a.c.lead_id.in_(lead_ids), a.c.partner_id == partner_id, a.c.status.in_(HELD))).all()}


def partner_leads(ctx: Lifecycle, partner_id: str, f: LeadFilter, now: datetime) -> LeadPage:
    a, l, p = tables.assignments, tables.leads, lt.lead_progress
    joined = a.join(l, l.c.lead_id == a.c.lead_id).outerjoin(
        p, sa.and_(p.c.lead_id == a.c.lead_id, p.c.partner_id == a.c.partner_id))
    conditions = [a.c.partner_id == partner_id, a.c.status.in_([f.status] if f.status else HELD)]
    if f.age:
        conditions.append(l.c.received_at >= now - timedelta(days=f.age))
    if f.campaign:
        conditions.append(_where_shared(ctx, CAMPAIGN_FIELD, l.c.campaign == f.campaign))
    if f.rep == "none":
        conditions.append(p.c.rep_email.is_(None))
    elif f.rep:
        conditions.append(p.c.rep_email == f.rep.lower())
    if f.q.strip():
        text = f.q.strip().lower()
        conditions.append(sa.or_(sa.func.lower(a.c.lead_id).contains(text, autoescape=True), *(
            _where_shared(ctx, col, sa.func.lower(l.c[col]).contains(text, autoescape=True)) for col in SEARCHED)))
    base = sa.select(a.c.lead_id).select_from(joined).where(*conditions)
    campaign_sources = _shared(ctx, CAMPAIGN_FIELD)
    with ctx.store.begin() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(base.subquery())).scalar_one()
        rows = conn.execute(
            sa.select(a.c.lead_id, a.c.status, l.c.received_at, l.c.source, l.c.campaign, p.c.sales_status,
                      p.c.rep_name, p.c.rep_email).select_from(joined).where(*conditions)
            .order_by(l.c.received_at.desc(), a.c.lead_id)
            .limit(PAGE_SIZE).offset((f.page - 1) * PAGE_SIZE)).all()
        campaigns = [r[0] for r in conn.execute(
            sa.select(l.c.campaign).distinct().select_from(a.join(l, l.c.lead_id == a.c.lead_id))
            .where(a.c.partner_id == partner_id, a.c.status.in_(HELD), l.c.campaign.is_not(None),
                   l.c.source.in_(campaign_sources)).order_by(l.c.campaign)).all()] if campaign_sources else []
        views = lead_views(ctx, conn, [r.lead_id for r in rows])
    out = [LeadRow(r.lead_id, views[r.lead_id].title if r.lead_id in views else r.lead_id, r.status,
                   r.received_at, r.campaign if r.source in campaign_sources else None, r.sales_status,
                   r.rep_name, r.rep_email) for r in rows]
    return LeadPage(out, total, max(1, -(-total // PAGE_SIZE)), campaigns)
