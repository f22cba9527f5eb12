"""Lead Summary and Lead Distribution Summary: where the leads of each source stand, and what came of them.

A lead's `status` is its current distribution status (the assignments table): routed (awaiting acceptance),
accepted, closed (the partner converted it or found it unqualified), rejected, withdrawn, unassigned,
needs_review, segregated (stored, never distributed), or `new` when it has not been routed yet.
`accepted` counts leads a partner accepted, closed ones included; `converted` those whose sales status is
Converted Opportunity. `marketing_events` are the partners' events on the lead; `source_activities` the
activity history pulled from the lead's source (e.g. Marketo activities) for its record.
"""

from __future__ import annotations

import pandas as pd

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.status import CONVERTED
from leadsync.reports.charts import BarChart
from leadsync.reports.data import query, report_db
from leadsync.reports.options import ReportOptions
from leadsync.store import LeadStore, tables

NO_PARTNER = "(no partner)"
NO_CAMPAIGN = "(no campaign)"

_READS = {
    tables.leads: ["lead_id", "source", "source_record_id", "campaign", "received_at"],
    tables.assignments: ["lead_id", "partner_id", "status"],
    lt.lead_progress: ["lead_id", "sales_status"],
    lt.opportunities: ["lead_id", "amount"],
    lt.marketing_events: ["lead_id"],
    tables.lead_activities: ["source", "record_id"],
}

# One row per lead with its dimensions and measures; the reports below group it.
_FACTS = """
WITH opp AS (
    SELECT lead_id, count(*) AS opportunities, coalesce(sum(amount), 0) AS opportunity_value
    FROM opportunities GROUP BY lead_id),
mev AS (SELECT lead_id, count(*) AS marketing_events FROM marketing_events GROUP BY lead_id),
act AS (SELECT source, record_id, count(*) AS source_activities FROM lead_activities GROUP BY source, record_id),
facts AS (
    SELECT l.lead_id,
           l.source,
           coalesce(nullif(trim(l.campaign), ''), $no_campaign) AS campaign,
           strftime(l.received_at, '%Y-%m') AS month,
           coalesce(a.partner_id, $no_partner) AS partner,
           coalesce(a.status, 'new') AS status,
           p.lead_id IS NOT NULL AS accepted,
           coalesce(p.sales_status = $converted, false) AS converted,
           coalesce(mev.marketing_events, 0) AS marketing_events,
           coalesce(act.source_activities, 0) AS source_activities,
           coalesce(opp.opportunities, 0) AS opportunities,
           coalesce(opp.opportunity_value, 0) AS opportunity_value
    FROM leads l
    LEFT JOIN assignments a ON a.lead_id = l.lead_id
    LEFT JOIN lead_progress p ON p.lead_id = l.lead_id
    LEFT JOIN opp ON opp.lead_id = l.lead_id
    LEFT JOIN mev ON mev.lead_id = l.lead_id
    LEFT JOIN act ON act.source = l.source AND act.record_id = l.source_record_id)
"""
_PARAMS = {"no_campaign": NO_CAMPAIGN, "no_partner": NO_PARTNER, "converted": CONVERTED}

# Current distribution statuses in the order a lead meets them; `other` catches any status added later.
STATUS_COLUMNS = ("not_routed", "segregated", "needs_review", "unassigned", "routed", "accepted", "rejected",
                  "withdrawn", "closed", "other")

_SUMMARY = _FACTS + """,
counts AS (
    SELECT source,
           count(*) AS leads,
           count(*) FILTER (WHERE status = 'new') AS not_routed,
           count(*) FILTER (WHERE status = 'segregated') AS segregated,
           count(*) FILTER (WHERE status = 'needs_review') AS needs_review,
           count(*) FILTER (WHERE status = 'unassigned') AS unassigned,
           count(*) FILTER (WHERE status = 'routed') AS routed,
           count(*) FILTER (WHERE status = 'accepted') AS accepted,
           count(*) FILTER (WHERE status = 'rejected') AS rejected,
           count(*) FILTER (WHERE status = 'withdrawn') AS withdrawn,
           count(*) FILTER (WHERE status = 'closed') AS closed,
           count(*) FILTER (WHERE status NOT IN ('new', 'segregated', 'needs_review', 'unassigned', 'routed',
                                                 'accepted', 'rejected', 'withdrawn', 'closed')) AS other,
           count(*) FILTER (WHERE converted) AS converted,
           sum(opportunities)::BIGINT AS opportunities,
           sum(opportunity_value)::DOUBLE AS opportunity_value
    FROM facts GROUP BY source),
held_back AS (SELECT source, count(*) AS quarantined FROM quarantine GROUP BY source),
sources AS (SELECT source FROM counts UNION SELECT source FROM held_back)
SELECT s.source,
       coalesce(c.leads, 0) AS leads,
       coalesce(h.quarantined, 0) AS quarantined,
       coalesce(c.not_routed, 0) AS not_routed,
       coalesce(c.segregated, 0) AS segregated,
       coalesce(c.needs_review, 0) AS needs_review,
       coalesce(c.unassigned, 0) AS unassigned,
       coalesce(c.routed, 0) AS routed,
       coalesce(c.accepted, 0) AS accepted,
       coalesce(c.rejected, 0) AS rejected,
       coalesce(c.withdrawn, 0) AS withdrawn,
       coalesce(c.closed, 0) AS closed,
       coalesce(c.other, 0) AS other,
       coalesce(c.converted, 0) AS converted,
       coalesce(c.opportunities, 0) AS opportunities,
       coalesce(c.opportunity_value, 0) AS opportunity_value
FROM sources s
LEFT JOIN counts c ON c.source = s.source
LEFT JOIN held_back h ON h.source = s.source
ORDER BY s.source
"""


def lead_summary(store: LeadStore, options: ReportOptions | None = None) -> pd.DataFrame:
    """One row per source: leads stored, rows quarantined at intake, leads per current distribution status
    (the STATUS_COLUMNS, which add up to `leads`), converted leads, opportunities and their value."""
    reads = {**_READS, tables.quarantine: ["source"]}
    with report_db(store, reads) as db:
        return _ints(query(db, _SUMMARY, _PARAMS))


def lead_distribution_summary(store: LeadStore, options: ReportOptions | None = None) -> pd.DataFrame:
    """Leads grouped by `options.group_by` (1–3 of partner, source, campaign, status, month): leads, accepted,
    converted, marketing_events, source_activities, opportunities, opportunity_value. `partner` is the
    current partner ('(no partner)' when none) followed by its name; `month` is when leadsync received the
    lead (YYYY-MM, UTC); `campaign` the lead's campaign field ('(no campaign)' when empty)."""
    options = options or ReportOptions()
    # The dimensions are checked against GROUP_BY_VALUES by ReportOptions: only those names reach the SQL.
    dims = list(options.group_by)
    select = []
    for dim in dims:
        select.append(f"f.{dim}")
        if dim == "partner":
            select.append("coalesce(n.partner_name, f.partner) AS partner_name")
    sql = _FACTS + f"""
SELECT {', '.join(select)},
       count(*) AS leads,
       count(*) FILTER (WHERE accepted) AS accepted,
       count(*) FILTER (WHERE converted) AS converted,
       sum(marketing_events)::BIGINT AS marketing_events,
       sum(source_activities)::BIGINT AS source_activities,
       sum(opportunities)::BIGINT AS opportunities,
       sum(opportunity_value)::DOUBLE AS opportunity_value
FROM facts f
LEFT JOIN partner_names n ON n.partner_id = f.partner
GROUP BY ALL
ORDER BY {', '.join(f'f.{d}' for d in dims)}
"""
    with report_db(store, _READS, {"partner_names": options.names_frame()}) as db:
        return _ints(query(db, sql, _PARAMS))


def _ints(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts as plain int64 (DuckDB hands some back as int32 or float when a group is empty)."""
    for col in frame.columns:
        if col != "opportunity_value" and pd.api.types.is_numeric_dtype(frame[col]):
            frame[col] = frame[col].astype("int64")
    return frame


def lead_summary_chart(frame: pd.DataFrame) -> BarChart | None:
    if frame.empty:
        return None
    shown = [c for c in STATUS_COLUMNS if frame[c].sum() > 0]
    return BarChart("Leads per source by distribution status", frame["source"].tolist(),
                    {c.replace("_", " "): frame[c].tolist() for c in shown})


def lead_distribution_chart(frame: pd.DataFrame) -> BarChart | None:
    if frame.empty:
        return None
    dims = [c for c in frame.columns if c in ("partner_name", "source", "campaign", "status", "month")]
    labels = frame[dims].astype(str).agg(" / ".join, axis=1).tolist()
    return BarChart("Leads per group: accepted by a partner or not", labels,
                    {"accepted": frame["accepted"].tolist(),
                     "not accepted": (frame["leads"] - frame["accepted"]).tolist()})
