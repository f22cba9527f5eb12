"""A partner's pipeline: the opportunities of its leads with stage and amount, totals by stage (in the order
lifecycle.yaml lists the stages), and the same as CSV — every cell that a spreadsheet would run as a formula
(starting with = + - @, a tab or a carriage return) is neutralised with a leading apostrophe."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import sqlalchemy as sa

from leadsync.csv_safe import neutralise
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.lead_view import lead_views

CSV_COLUMNS = ("lead_id", "lead", "opportunity", "stage", "amount", "currency", "close_date", "updated_at")


@dataclass(frozen=True)
class Pipeline:
    opportunities: list[dict]  # CSV_COLUMNS
    totals: list[dict]  # stage, count, amount
    count: int
    amount: float


def pipeline(ctx: Lifecycle, partner_id: str) -> Pipeline:
    o = lt.opportunities
    with ctx.store.begin() as conn:
        rows = [dict(r) for r in conn.execute(
            sa.select(o.c.lead_id, o.c.name, o.c.stage, o.c.amount, o.c.currency, o.c.close_date, o.c.updated_at)
            .where(o.c.partner_id == partner_id).order_by(o.c.updated_at.desc(), o.c.opportunity_id)).mappings()]
        views = lead_views(ctx, conn, [r["lead_id"] for r in rows])
    opportunities = [{"lead_id": r["lead_id"], "lead": views[r["lead_id"]].title if r["lead_id"] in views
                      else r["lead_id"], "opportunity": r["name"], "stage": r["stage"], "amount": r["amount"],
                      "currency": r["currency"] or ctx.settings.opportunities.currency,
                      "close_date": r["close_date"], "updated_at": r["updated_at"]} for r in rows]
    stages = list(ctx.settings.opportunities.stages)
    stages += sorted({r["stage"] for r in rows} - set(stages))  # a stage since removed from the YAML
    totals = [{"stage": s, "count": sum(r["stage"] == s for r in rows),
               "amount": sum(r["amount"] or 0 for r in rows if r["stage"] == s)} for s in stages]
    return Pipeline(opportunities, totals, len(rows), sum(r["amount"] or 0 for r in rows))


def pipeline_csv(p: Pipeline) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in p.opportunities:
        writer.writerow([neutralise(row[c]) if c != "amount" else ("" if row[c] is None else f"{row[c]:.2f}")
                         for c in CSV_COLUMNS])
    return out.getvalue()
