"""Lead Summary and Lead Distribution Summary: where the leads of each source stand, and what came of them.

A lead's `status` is its current distribution status (the assignments table): routed (awaiting acceptance),
accepted, closed (the partner converted it or found it unqualified), rejected, withdrawn, unassigned,
needs_review, segregated (stored, never distributed), or `new` when it has not been routed yet.
`accepted` counts leads a partner accepted, closed ones included; `converted` those whose sales status is
Converted Opportunity. `marketing_events` are the partners' events on the lead; `source_activities` the
activity history pulled from the lead's source (e.g. Marketo activities) for its record.

Every report here takes the options' date range (when leadsync received the lead), filters and grouping
(reports/options.py); a grouping may name any mapped lead field, internal-only ones included.
"""

from __future__ import annotations

import pandas as pd

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.status import CONVERTED
from leadsync.reports.campaign_columns import READS as CAMPAIGN_READS
from leadsync.reports.campaign_columns import with_campaign_columns
from leadsync.reports.charts import BarChart
from leadsync.reports.data import query
from leadsync.reports.options import DEFAULT_GROUP_BY, OPPORTUNITY_DIMENSIONS, ReportError, ReportOptions
from leadsync.reports.scope import NO_CAMPAIGN, NO_PARTNER, field_sql, quote, scoped_db
from leadsync.store import LeadStore, tables

_READS = {
    tables.leads: ["lead_id", "source", "source_record_id", "campaign", "received_at"],
    tables.assignments: ["lead_id", "partner_id", "status"],
    lt.lead_progress: ["lead_id", "sales_status"],
    lt.opportunities: ["lead_id", "amount"],
    lt.marketing_events: ["lead_id"],
    tables.lead_activities: ["source", "record_id"],
}


def _facts(options: ReportOptions) -> str:
    """One row per lead with its dimensions (the built-in ones and the mapped fields the options name) and
    measures; the reports below group it."""
    extra = "".join(f",\n           {field_sql('l', f)} AS {quote(f)}" for f in options.lead_fields())
    return f"""
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
           l.received_at,
           coalesce(a.partner_id, $no_partner) AS partner,
           coalesce(a.status, 'new') AS status,
           p.sales_status,
           p.lead_id IS NOT NULL AS accepted,
           coalesce(p.sales_status = $converted, false) AS converted,
           coalesce(mev.marketing_events, 0) AS marketing_events,
           coalesce(act.source_activities, 0) AS source_activities,
           coalesce(opp.opportunities, 0) AS opportunities,
           coalesce(opp.opportunity_value, 0) AS opportunity_value{extra}
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
_STATUS_OF = {"not_routed": "new", "segregated": "segregated", "needs_review": "needs_review",
              "unassigned": "unassigned", "routed": "routed", "accepted": "accepted", "rejected": "rejected",
              "withdrawn": "withdrawn", "closed": "closed"}


def _lead_dims(options: ReportOptions, default: tuple[str, ...], report: str) -> list[str]:
    dims = list(options.grouping(default))
    wrong = [d for d in dims if d in OPPORTUNITY_DIMENSIONS]
    if wrong:
        raise ReportError(f"{report} groups leads; '{wrong[0]}' is a dimension of the opportunity reports")
    return dims


def _select_dims(dims: list[str]) -> tuple[list[str], list[str]]:
    """(select list, group/order list) for the dimensions; `partner` brings its name along."""
    select, order = [], []
    for dim in dims:
        select.append(f"f.{quote(dim)}")
        order.append(f"f.{quote(dim)}")
        if dim == "partner":
            select.append("coalesce(n.partner_name, f.partner) AS partner_name")
    return select, order


def lead_summary(store: LeadStore, options: ReportOptions | None = None) -> pd.DataFrame:
    """One row per source (or per the options' grouping): leads stored, rows quarantined at intake (grouped
    by source only), leads per current distribution status (the STATUS_COLUMNS, which add up to `leads`),
    converted leads, opportunities and their value."""
    options = options or ReportOptions()
    dims = _lead_dims(options, ("source",), "lead_summary")
    select, order = _select_dims(dims)
    known = ", ".join(f"'{v}'" for v in _STATUS_OF.values())
    statuses = ",\n       ".join(
        f"count(*) FILTER (WHERE f.status = '{status}') AS {col}" for col, status in _STATUS_OF.items())
    sql = _facts(options) + f"""
SELECT {', '.join(select)},
       count(*) AS leads,
       {statuses},
       count(*) FILTER (WHERE f.status NOT IN ({known})) AS other,
       count(*) FILTER (WHERE f.converted) AS converted,
       sum(f.opportunities)::BIGINT AS opportunities,
       sum(f.opportunity_value)::DOUBLE AS opportunity_value
FROM facts f LEFT JOIN partner_names n ON n.partner_id = f.partner
GROUP BY ALL
ORDER BY {', '.join(order)}
"""
    reads = {**_READS, tables.quarantine: ["source", "quarantined_at"]}
    with scoped_db(store, reads, {"partner_names": options.names_frame()}, options, "leads") as db:
        frame = query(db, sql, _PARAMS)
        if dims == ["source"]:
            held = query(db, "SELECT source, count(*) AS quarantined FROM quarantine GROUP BY source")
            frame = frame.merge(held, on="source", how="outer")
            frame.insert(2, "quarantined", frame.pop("quarantined"))
            frame = frame.sort_values("source").reset_index(drop=True)
            for col in frame.columns[1:]:
                frame[col] = frame[col].fillna(0)
    return _ints(frame)


def lead_distribution_summary(store: LeadStore, options: ReportOptions | None = None) -> pd.DataFrame:
    """Leads grouped by the options' grouping (1–3 dimensions; default partner and status): leads, accepted,
    converted, marketing_events, source_activities, opportunities, opportunity_value. `partner` is the
    current partner ('(no partner)' when none) followed by its name; `month` is when leadsync received the
    lead (YYYY-MM, UTC); `campaign` the lead's campaign field ('(no campaign)' when empty); a mapped field
    its value as text."""
    options = options or ReportOptions()
    # Dimensions are checked by ReportOptions (built-ins or mapped field names) and quoted.
    dims = _lead_dims(options, DEFAULT_GROUP_BY, "lead_distribution_summary")
    select, order = _select_dims(dims)
    sql = _facts(options) + f"""
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
ORDER BY {', '.join(order)}
"""
    with scoped_db(store, _READS, {"partner_names": options.names_frame()}, options, "leads") as db:
        return _ints(query(db, sql, _PARAMS))


def lead_distribution_list(store: LeadStore, options: ReportOptions | None = None) -> pd.DataFrame:
    """The distributed leads (every lead leadsync routed to a partner at least once), newest first: its
    partner now, distribution status, sales status, marketing events, source activities, opportunities
    and opportunity value, plus the mapped fields the filters name and the shared fields of the lead's
    campaign (`campaign: <label>` columns, reports/campaign_columns.py)."""
    options = options or ReportOptions()
    if options.group_by:
        raise ReportError("lead_distribution_list lists leads one by one; for groups use lead_distribution_summary")
    extra = "".join(f", f.{quote(f)}" for f in options.lead_fields())
    sql = _facts(options) + f"""
, distributed AS (SELECT DISTINCT lead_id FROM assignment_history WHERE partner_id IS NOT NULL)
SELECT f.lead_id, f.source, f.campaign, strftime(f.received_at, '%Y-%m-%d %H:%M') AS received_at, f.partner,
       coalesce(n.partner_name, f.partner) AS partner_name, f.status, f.sales_status, f.marketing_events,
       f.source_activities, f.opportunities, f.opportunity_value::DOUBLE AS opportunity_value{extra}
FROM facts f
JOIN distributed d ON d.lead_id = f.lead_id
LEFT JOIN partner_names n ON n.partner_id = f.partner
ORDER BY f.received_at DESC, f.lead_id
"""
    reads = {**_READS, **CAMPAIGN_READS, tables.assignment_history: ["lead_id", "partner_id"]}
    with scoped_db(store, reads, {"partner_names": options.names_frame()}, options, "leads") as db:
        return with_campaign_columns(db, _ints(query(db, sql, _PARAMS)))


def _ints(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts as plain int64 (DuckDB hands some back as int32 or float when a group is empty)."""
    for col in frame.columns:
        if col != "opportunity_value" and pd.api.types.is_numeric_dtype(frame[col]) \
                and not pd.api.types.is_bool_dtype(frame[col]):
            frame[col] = frame[col].fillna(0).astype("int64")
    return frame


def dimension_labels(frame: pd.DataFrame, measures: set[str]) -> list[str]:
    """One label per row: its dimension values (partner by name), joined by ' / '."""
    dims = [c for c in frame.columns if c not in measures]
    if "partner_name" in dims:
        dims = [c for c in dims if c not in ("partner", "partner_id")]
    return frame[dims].astype(str).agg(" / ".join, axis=1).tolist() if dims else ["all"] * len(frame)


def lead_summary_chart(frame: pd.DataFrame) -> BarChart | None:
    if frame.empty:
        return None
    shown = [c for c in STATUS_COLUMNS if frame[c].sum() > 0]
    measures = {*STATUS_COLUMNS, "leads", "quarantined", "converted", "opportunities", "opportunity_value"}
    return BarChart("Leads by distribution status", dimension_labels(frame, measures),
                    {c.replace("_", " "): frame[c].tolist() for c in shown}, unit="leads")


_DISTRIBUTION_MEASURES = {"leads", "accepted", "converted", "marketing_events", "source_activities",
                          "opportunities", "opportunity_value"}


def lead_distribution_chart(frame: pd.DataFrame) -> BarChart | None:
    if frame.empty:
        return None
    return BarChart("Leads per group: accepted by a partner or not", dimension_labels(frame, _DISTRIBUTION_MEASURES),
                    {"accepted": frame["accepted"].tolist(),
                     "not accepted": (frame["leads"] - frame["accepted"]).tolist()}, unit="leads")


def lead_distribution_list_chart(frame: pd.DataFrame) -> BarChart | None:
    if frame.empty:
        return None
    per = frame.groupby(["partner_name", "status"]).size().unstack(fill_value=0)
    return BarChart("Distributed leads per partner, by status", per.index.tolist(),
                    {str(s): per[s].tolist() for s in per.columns}, unit="leads")
