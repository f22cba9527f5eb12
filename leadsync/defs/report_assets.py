"""The reports as Dagster assets: group `reports`, keys reports/<name>, each reading the store when
materialised and showing a markdown table and a chart (a matplotlib PNG as an inline `data:` image, which
the UI shows at once; leadsync/reports/charts.py) as metadata. The reports themselves (leadsync/reports/)
know nothing of Dagster.

By default they come after partners/deliveries, so a run of every asset reports what that run did. The
grouped reports' grouping is run config (`group_by`: built-in dimensions or mapped fields; each report's
default when empty).
"""

# No `from __future__ import annotations` here: Dagster reads the config and resource annotations at runtime.

from collections.abc import Sequence

import dagster as dg
import pandas as pd
from pydantic import Field

from leadsync.config import ConfigError
from leadsync.defs.metadata import md_table
from leadsync.defs.resources import LeadsyncResource
from leadsync.reports.charts import markdown_image, render_png
from leadsync.reports.export import mapped_fields, partner_names
from leadsync.reports.options import DEFAULT_GROUP_BY, GROUP_BY_VALUES, ReportError
from leadsync.reports.registry import REPORTS, Report, report_options

DELIVERIES = dg.AssetKey(["partners", "deliveries"])
GROUP = "reports"
TABLE_ROWS = 25


class DistributionConfig(dg.Config):
    group_by: list[str] = Field(default_factory=list,
                                description=f"1 to 3 of {', '.join(GROUP_BY_VALUES)} or mapped lead fields, in "
                                            f"this order; empty: the report's default (lead_distribution_summary: "
                                            f"{', '.join(DEFAULT_GROUP_BY)}).")


def report_metadata(report: Report, frame: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    """Row count, the first rows as a markdown table, and the chart as a markdown image."""
    chart = report.chart(frame)
    image = markdown_image(render_png(chart), chart.title) if chart is not None else "_no data yet_"
    return {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "report": md_table(frame, limit=TABLE_ROWS),
        "chart": dg.MetadataValue.md(image),
        "columns": dg.MetadataValue.text(", ".join(frame.columns)),
    }


def _compute(report: Report, leadsync: LeadsyncResource, **options: object) -> dg.MaterializeResult:
    try:
        names = partner_names(leadsync.mappings_dir)
        frame = report.function(leadsync.store(), report_options(
            report, {**options, "partner_names": names, "fields": mapped_fields(leadsync.mappings_dir)}))
    except ConfigError as exc:
        raise dg.Failure(description=f"The partners file does not load: {exc}", allow_retries=False) from exc
    except ReportError as exc:
        raise dg.Failure(description=f"{report.title}: {exc}", allow_retries=False) from exc
    metadata = report_metadata(report, frame)
    if options.get("group_by"):
        metadata["group_by"] = dg.MetadataValue.text(", ".join(options["group_by"]))
    return dg.MaterializeResult(metadata=metadata)


def _report_asset(report: Report, deps: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    spec = {"key": dg.AssetKey([GROUP, report.name]), "deps": list(deps), "group_name": GROUP,
            "kinds": {"duckdb", "report"}, "description": f"{report.title}: {report.description}"}
    if report.takes_group_by:
        @dg.asset(**spec)
        def grouped_report(leadsync: LeadsyncResource, config: DistributionConfig) -> dg.MaterializeResult:
            return _compute(report, leadsync, group_by=config.group_by or None)
        return grouped_report

    @dg.asset(**spec)
    def plain_report(leadsync: LeadsyncResource) -> dg.MaterializeResult:
        return _compute(report, leadsync)
    return plain_report


def report_assets(deps: Sequence[dg.AssetKey] = (DELIVERIES,)) -> list[dg.AssetsDefinition]:
    """One asset per report (see leadsync.reports.REPORTS), each depending on `deps`."""
    return [_report_asset(report, deps) for report in REPORTS.values()]
