"""Every report by name: what computes it, what it shows, which options it takes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd

from leadsync.reports.charts import BarChart
from leadsync.reports.lead_age import lead_age, lead_age_chart
from leadsync.reports.leads import (
    lead_distribution_chart,
    lead_distribution_list,
    lead_distribution_list_chart,
    lead_distribution_summary,
    lead_summary,
    lead_summary_chart,
)
from leadsync.reports.opportunities import (
    opportunity_details,
    opportunity_details_chart,
    opportunity_overview,
    opportunity_overview_chart,
    opportunity_summary,
    opportunity_summary_chart,
)
from leadsync.reports.options import ReportError, ReportOptions
from leadsync.reports.reps import rep_stack_ranking, rep_stack_ranking_chart
from leadsync.store import LeadStore

OPTION_NAMES = ("group_by", "partner_names", "date_from", "date_to", "filters", "fields")
SCOPE_OPTIONS = ("date_from", "date_to", "filters")


@dataclass(frozen=True)
class Report:
    name: str  # also the asset key's last part and the CLI's NAME
    title: str
    description: str
    function: Callable[[LeadStore, ReportOptions], pd.DataFrame]
    chart: Callable[[pd.DataFrame], BarChart | None]
    takes_group_by: bool = False
    scoped: bool = True  # takes a date range and filters (reports/scope.py)


REPORTS: dict[str, Report] = {r.name: r for r in (
    Report("lead_summary", "Lead Summary",
           "Per source (or grouping): leads stored, rows quarantined, leads per distribution status, converted, "
           "opportunities.", lead_summary, lead_summary_chart, takes_group_by=True),
    Report("lead_distribution_summary", "Lead Distribution Summary (grouped)",
           "Leads, acceptance, conversion, marketing activity and opportunity value, grouped by 1 to 3 of "
           "partner, source, campaign, status, month or any mapped field.",
           lead_distribution_summary, lead_distribution_chart, takes_group_by=True),
    Report("lead_distribution_list", "Lead Distribution Summary (list)",
           "Every distributed lead with its partner, status, sales status, marketing activity and opportunity "
           "value.", lead_distribution_list, lead_distribution_list_chart),
    Report("opportunity_overview", "Opportunity Overview",
           "Opportunities and their amount per partner and stage (or grouping).", opportunity_overview,
           opportunity_overview_chart, takes_group_by=True),
    Report("opportunity_details", "Opportunity Details",
           "The pipeline: every opportunity with its partner, stage, amount, origin, lead, rep and sales status.",
           opportunity_details, opportunity_details_chart),
    Report("opportunity_summary", "Opportunity Summary",
           "Opportunities and amount by origin: marketing lead, partner-generated, distributed, CRM-only.",
           opportunity_summary, opportunity_summary_chart, takes_group_by=True),
    Report("rep_stack_ranking", "Rep Stack Ranking",
           "Every partner's reps ranked by the pipeline amount of the leads they hold, then conversions.",
           rep_stack_ranking, rep_stack_ranking_chart, scoped=False),
    Report("lead_age", "Lead Age",
           "Leads per distribution status and partner, bucketed by days since received (under 1, 1-3, 3-7, "
           "7-14, 14-30, 30+), with the oldest and the longest in its status.", lead_age, lead_age_chart,
           scoped=False),
)}


def get_report(name: str) -> Report:
    """The report called `name` (dashes or underscores); ReportError listing every name otherwise."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in REPORTS:
        raise ReportError(f"unknown report '{name}'; reports: {', '.join(REPORTS)}")
    return REPORTS[key]


def report_options(report: Report, options: Mapping[str, object]) -> ReportOptions:
    """Options for `report` from keyword values (None means not given); ReportError for one it does not take."""
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - set(OPTION_NAMES))
    if unknown:
        raise ReportError(f"unknown report option(s) {', '.join(unknown)}; options: {', '.join(OPTION_NAMES)}")
    if "group_by" in given and not report.takes_group_by:
        takers = ", ".join(r.name for r in REPORTS.values() if r.takes_group_by)
        raise ReportError(f"{report.name} has no grouping; group_by applies to: {takers}")
    if not report.scoped and any(given.get(k) for k in SCOPE_OPTIONS):
        takers = ", ".join(r.name for r in REPORTS.values() if r.scoped)
        raise ReportError(f"{report.name} has no date range or filters; they apply to: {takers}")
    return ReportOptions(**given)


def run_report(store: LeadStore, name: str, **options: object) -> pd.DataFrame:
    """Compute the report `name` over `store` (options: group_by, partner_names, date_from, date_to, filters,
    fields)."""
    report = get_report(name)
    return report.function(store, report_options(report, options))
