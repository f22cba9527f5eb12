"""Rep stack ranking: every partner's sales reps in one ranking, by the opportunity amount of the leads they
hold, then conversions, then reward points, then leads held (ties share a rank).

A rep is a (partner, rep email) pair, the email compared without case; a lead counts for the rep it has now
(lead_progress). Points are the rewards ledger's entries credited to that rep at that partner.
"""

from __future__ import annotations

import pandas as pd

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.status import CONVERTED
from leadsync.reports.charts import BarChart
from leadsync.reports.data import query, report_db
from leadsync.reports.options import ReportOptions
from leadsync.store import LeadStore

_SQL = """
WITH held AS (
    SELECT lead_id, partner_id, lower(trim(rep_email)) AS rep_email, rep_name, sales_status, closed, touched_at
    FROM lead_progress WHERE nullif(trim(rep_email), '') IS NOT NULL),
opp AS (SELECT lead_id, count(*) AS opportunities, coalesce(sum(amount), 0) AS amount
        FROM opportunities GROUP BY lead_id),
mev AS (SELECT lead_id, count(*) AS events FROM marketing_events GROUP BY lead_id),
pts AS (SELECT partner_id, lower(trim(rep_email)) AS rep_email, sum(points) AS points
        FROM rewards_ledger WHERE rep_email IS NOT NULL GROUP BY ALL),
per_rep AS (
    SELECT h.partner_id, h.rep_email, arg_max(h.rep_name, h.touched_at) AS rep_name,
           count(*) AS leads,
           count(*) FILTER (WHERE NOT h.closed) AS open_leads,
           count(*) FILTER (WHERE h.sales_status = $converted) AS converted,
           coalesce(sum(opp.opportunities), 0) AS opportunities,
           coalesce(sum(opp.amount), 0)::DOUBLE AS pipeline_amount,
           coalesce(sum(mev.events), 0) AS marketing_events
    FROM held h
    LEFT JOIN opp ON opp.lead_id = h.lead_id
    LEFT JOIN mev ON mev.lead_id = h.lead_id
    GROUP BY h.partner_id, h.rep_email)
SELECT rank() OVER (ORDER BY r.pipeline_amount DESC, r.converted DESC, coalesce(p.points, 0) DESC,
                             r.leads DESC) AS rank,
       r.rep_name, r.rep_email, r.partner_id, coalesce(n.partner_name, r.partner_id) AS partner_name,
       r.leads, r.open_leads, r.converted, round(100.0 * r.converted / r.leads, 1) AS conversion_rate_pct,
       r.opportunities, r.pipeline_amount, r.marketing_events, coalesce(p.points, 0) AS points
FROM per_rep r
LEFT JOIN pts p ON p.partner_id = r.partner_id AND p.rep_email = r.rep_email
LEFT JOIN partner_names n ON n.partner_id = r.partner_id
ORDER BY rank, r.rep_email, r.partner_id
"""

_READS = {
    lt.lead_progress: ["lead_id", "partner_id", "rep_name", "rep_email", "sales_status", "closed", "touched_at"],
    lt.opportunities: ["lead_id", "amount"],
    lt.marketing_events: ["lead_id"],
    lt.rewards_ledger: ["partner_id", "rep_email", "points"],
}


def rep_stack_ranking(store: LeadStore, options: ReportOptions | None = None) -> pd.DataFrame:
    """One row per rep, best first: rank, rep_name, rep_email, partner_id, partner_name, leads (held now),
    open_leads, converted, conversion_rate_pct, opportunities, pipeline_amount, marketing_events, points."""
    options = options or ReportOptions()
    with report_db(store, _READS, {"partner_names": options.names_frame()}) as db:
        frame = query(db, _SQL, {"converted": CONVERTED})
    for col in ("rank", "leads", "open_leads", "converted", "opportunities", "marketing_events", "points"):
        frame[col] = frame[col].astype("int64")
    return frame


def rep_stack_ranking_chart(frame: pd.DataFrame) -> BarChart | None:
    if frame.empty:
        return None
    labels = [f"{r.rank}. {r.rep_name or r.rep_email} ({r.partner_name})" for r in frame.itertuples()]
    return BarChart("Rep stack ranking: pipeline amount of the leads each rep holds", labels,
                    {"pipeline amount": frame["pipeline_amount"].tolist()})
