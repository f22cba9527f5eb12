"""Opportunity Overview (by partner and stage), Opportunity Details (the pipeline) and Opportunity Summary
(by origin).

An opportunity's origin is decided from the store, first match wins:

- crm_only: no lead leadsync distributed stands behind it (its lead is not in `leads`, or was never routed
  to a partner): the opportunities a partner created in its own CRM without a leadsync lead, read by the
  partner-CRM pull when that partner's `crm.crm_only_opportunities` is on (leadsync/partner_crm/).
- partner_generated: the lead's email is that of a lead a partner registered itself (`partner_registrations`,
  decision `registered`), whichever partner works it now.
- marketing_lead: the lead carries marketing provenance from its source: a campaign (its `campaign` field or
  a `campaign_members` row for its source record) or activity history pulled from the source.
- distributed: any other lead leadsync routed to a partner (e.g. a purchased list dropped on SFTP).

Amounts are summed as stored, in the currency of lifecycle.yaml `opportunities.currency`. Each report takes
the options' date range (when the opportunity was created), filters (a partner filter names the
opportunity's partner; other filters its lead's fields) and, for the overview and the summary, grouping by
partner, stage, origin, source, campaign, status (the lead's), month (created) or any mapped lead field.
"""

from __future__ import annotations

import pandas as pd

from leadsync.lifecycle import tables as lt
from leadsync.reports.charts import BarChart
from leadsync.reports.data import query
from leadsync.reports.options import ReportError, ReportOptions
from leadsync.reports.scope import NO_CAMPAIGN, NO_PARTNER, field_sql, quote, scoped_db
from leadsync.store import LeadStore, tables

ORIGINS = (
    ("marketing_lead", "Marketing lead",
     "lead pulled from a source with a campaign, campaign membership or source activity"),
    ("partner_generated", "Partner-generated", "lead a partner registered (auto-registration)"),
    ("distributed", "Distributed", "other lead leadsync routed to a partner"),
    ("crm_only", "CRM-only", "no lead distributed through leadsync behind it"),
)

_READS = {
    lt.opportunities: ["opportunity_id", "lead_id", "source", "partner_id", "name", "stage", "amount", "currency",
                       "close_date", "created_at", "updated_at"],
    tables.leads: ["lead_id", "source", "source_record_id", "email", "company", "campaign"],
    tables.assignment_history: ["lead_id", "partner_id"],
    lt.partner_registrations: ["email", "decision"],
    tables.assignments: ["lead_id", "status"],
    tables.campaign_members: ["source", "record_id"],
    tables.lead_activities: ["source", "record_id"],
}

_ORIGIN = """
WITH distributed AS (SELECT DISTINCT lead_id FROM assignment_history WHERE partner_id IS NOT NULL),
registered AS (
    SELECT DISTINCT lower(trim(email)) AS email FROM partner_registrations
    WHERE decision = 'registered' AND email IS NOT NULL),
members AS (SELECT DISTINCT source, record_id FROM campaign_members),
activities AS (SELECT DISTINCT source, record_id FROM lead_activities),
origin AS (
    SELECT o.opportunity_id,
           CASE WHEN d.lead_id IS NULL THEN 'crm_only'
                WHEN r.email IS NOT NULL THEN 'partner_generated'
                WHEN nullif(trim(l.campaign), '') IS NOT NULL OR m.record_id IS NOT NULL
                     OR act.record_id IS NOT NULL THEN 'marketing_lead'
                ELSE 'distributed' END AS origin
    FROM opportunities o
    LEFT JOIN leads l ON l.lead_id = o.lead_id
    LEFT JOIN distributed d ON d.lead_id = l.lead_id
    LEFT JOIN registered r ON r.email = lower(trim(l.email))
    LEFT JOIN members m ON m.source = l.source AND m.record_id = l.source_record_id
    LEFT JOIN activities act ON act.source = l.source AND act.record_id = l.source_record_id)
"""


def _frames(options: ReportOptions | None) -> dict[str, pd.DataFrame]:
    options = options or ReportOptions()
    origins = pd.DataFrame(ORIGINS, columns=["origin", "label", "description"]).astype("string")
    origins["position"] = range(len(origins))
    return {"partner_names": options.names_frame(), "origins": origins}


def _facts(options: ReportOptions) -> str:
    """_ORIGIN plus one row per opportunity with every dimension a grouping may name."""
    extra = "".join(f",\n           {field_sql('l', f)} AS {quote(f)}" for f in options.lead_fields())
    return _ORIGIN + f"""
, facts AS (
    SELECT o.opportunity_id, o.partner_id AS partner, o.stage, g.origin, o.source,
           coalesce(nullif(trim(l.campaign), ''), '{NO_CAMPAIGN}') AS campaign,
           coalesce(a.status, 'new') AS status, strftime(o.created_at, '%Y-%m') AS month, o.amount{extra}
    FROM opportunities o
    JOIN origin g ON g.opportunity_id = o.opportunity_id
    LEFT JOIN leads l ON l.lead_id = o.lead_id
    LEFT JOIN assignments a ON a.lead_id = o.lead_id)
"""


def _dims(options: ReportOptions, default: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(select list, order list) of the grouping; `partner` is shown as partner_id and partner_name."""
    select, order = [], []
    for dim in options.grouping(default):
        if dim == "partner":
            select += ["f.partner AS partner_id", f"coalesce(n.partner_name, f.partner, '{NO_PARTNER}') AS partner_name"]
        else:
            select.append(f"f.{quote(dim)}")
        order.append(f"f.{quote(dim)}")
    return select, order


def opportunity_overview(store: LeadStore, options: ReportOptions | None = None) -> pd.DataFrame:
    """One row per partner and stage (or the options' grouping): opportunities, amount (sum), average_amount."""
    options = options or ReportOptions()
    select, order = _dims(options, ("partner", "stage"))
    sql = _facts(options) + f"""
SELECT {', '.join(select)},
       count(*) AS opportunities, coalesce(sum(f.amount), 0)::DOUBLE AS amount, avg(f.amount) AS average_amount
FROM facts f LEFT JOIN partner_names n ON n.partner_id = f.partner
GROUP BY ALL
ORDER BY {', '.join(order)}
"""
    with scoped_db(store, _READS, _frames(options), options, "opportunities") as db:
        frame = query(db, sql)
    frame["opportunities"] = frame["opportunities"].astype("int64")
    return frame


def opportunity_details(store: LeadStore, options: ReportOptions | None = None) -> pd.DataFrame:
    """The pipeline, one row per opportunity, largest amount first: its partner, stage, amount, close date,
    origin, the lead behind it (source, company, email, campaign), the lead's sales status and rep, and the
    partner's marketing events on the lead; plus the mapped fields the filters name."""
    options = options or ReportOptions()
    if options.group_by:
        raise ReportError("opportunity_details lists opportunities one by one; for groups use "
                          "opportunity_overview or opportunity_summary")
    extra = "".join(f", {field_sql('l', f)} AS {quote(f)}" for f in options.lead_fields())
    sql = _ORIGIN + f"""
, mev AS (SELECT lead_id, count(*) AS marketing_events FROM marketing_events GROUP BY lead_id)
SELECT o.opportunity_id, o.name AS opportunity_name, o.partner_id,
       coalesce(n.partner_name, o.partner_id) AS partner_name, o.stage, o.amount, o.currency,
       strftime(o.close_date, '%Y-%m-%d') AS close_date, g.origin, o.lead_id, o.source, l.company, l.email,
       l.campaign, p.sales_status, p.rep_name, p.rep_email, coalesce(mev.marketing_events, 0) AS marketing_events,
       o.created_at, o.updated_at{extra}
FROM opportunities o
JOIN origin g ON g.opportunity_id = o.opportunity_id
LEFT JOIN leads l ON l.lead_id = o.lead_id
LEFT JOIN lead_progress p ON p.lead_id = o.lead_id
LEFT JOIN mev ON mev.lead_id = o.lead_id
LEFT JOIN partner_names n ON n.partner_id = o.partner_id
ORDER BY o.amount DESC NULLS LAST, o.opportunity_id
"""
    reads = {**_READS, lt.lead_progress: ["lead_id", "sales_status", "rep_name", "rep_email"],
             lt.marketing_events: ["lead_id"]}
    with scoped_db(store, reads, _frames(options), options, "opportunities") as db:
        frame = query(db, sql)
    frame["marketing_events"] = frame["marketing_events"].astype("int64")
    return frame


def opportunity_summary(store: LeadStore, options: ReportOptions | None = None) -> pd.DataFrame:
    """One row per origin (marketing_lead, partner_generated, distributed, crm_only; every one, even when
    empty): opportunities, amount, share_of_amount_pct (of all opportunities' amount in scope) and what it
    means. With a grouping: one row per group and origin that has opportunities."""
    options = options or ReportOptions()
    if options.group_by:
        select, order = _dims(options, ())
        sql = _facts(options) + f"""
SELECT {', '.join(select)}, f.origin, c.label, count(*) AS opportunities, coalesce(sum(f.amount), 0)::DOUBLE AS amount,
       coalesce(round(100.0 * coalesce(sum(f.amount), 0) / nullif(sum(sum(f.amount)) OVER (), 0), 1), 0)
           AS share_of_amount_pct
FROM facts f JOIN origins c ON c.origin = f.origin LEFT JOIN partner_names n ON n.partner_id = f.partner
GROUP BY ALL
ORDER BY {', '.join(order)}, min(c.position)
"""
    else:
        sql = _facts(options) + """
, per_origin AS (
    SELECT origin, count(*) AS opportunities, coalesce(sum(amount), 0) AS amount FROM facts GROUP BY origin)
SELECT c.origin, c.label, coalesce(p.opportunities, 0) AS opportunities, coalesce(p.amount, 0)::DOUBLE AS amount,
       coalesce(round(100.0 * coalesce(p.amount, 0) / nullif(sum(coalesce(p.amount, 0)) OVER (), 0), 1), 0)
           AS share_of_amount_pct,
       c.description
FROM origins c LEFT JOIN per_origin p ON p.origin = c.origin
ORDER BY c.position
"""
    with scoped_db(store, _READS, _frames(options), options, "opportunities") as db:
        frame = query(db, sql)
    frame["opportunities"] = frame["opportunities"].astype("int64")
    return frame


_MEASURES = {"opportunities", "amount", "average_amount", "share_of_amount_pct", "origin", "label", "description"}


def _group_labels(frame: pd.DataFrame, drop: set[str]) -> list[str]:
    dims = [c for c in frame.columns if c not in _MEASURES | drop and c != "partner_id"]
    return frame[dims].astype(str).agg(" / ".join, axis=1).tolist() if dims else ["all"] * len(frame)


def opportunity_overview_chart(frame: pd.DataFrame) -> BarChart | None:
    if frame.empty:
        return None
    if "stage" not in frame or len([c for c in frame.columns if c not in _MEASURES]) > 3:
        return BarChart("Opportunity amount per group", _group_labels(frame, set()), {"amount": frame["amount"].tolist()})
    frame = frame.assign(group=_group_labels(frame, {"stage"}))
    wide = frame.pivot_table(index="group", columns="stage", values="amount", aggfunc="sum", fill_value=0, sort=False)
    wide = wide.loc[wide.sum(axis=1).sort_values(ascending=False).index]
    return BarChart("Opportunity amount by stage", wide.index.tolist(),
                    {str(stage): wide[stage].tolist() for stage in wide.columns})


def opportunity_details_chart(frame: pd.DataFrame) -> BarChart | None:
    if frame.empty:
        return None
    by_stage = frame.groupby("stage", sort=False)["amount"].sum().sort_values(ascending=False)
    return BarChart("Pipeline: opportunity amount per stage", by_stage.index.tolist(),
                    {"amount": by_stage.tolist()})


def opportunity_summary_chart(frame: pd.DataFrame) -> BarChart | None:
    if frame.empty or frame["opportunities"].sum() == 0:
        return None
    if "description" in frame:  # one row per origin
        labels = [f"{label} ({n})" for label, n in zip(frame["label"], frame["opportunities"], strict=True)]
        return BarChart("Opportunity amount by origin (opportunities)", labels, {"amount": frame["amount"].tolist()})
    frame = frame.assign(group=_group_labels(frame, set()))
    wide = frame.pivot_table(index="group", columns="label", values="amount", aggfunc="sum", fill_value=0, sort=False)
    return BarChart("Opportunity amount per group, by origin", wide.index.tolist(),
                    {str(origin): wide[origin].tolist() for origin in wide.columns})
