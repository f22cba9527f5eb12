"""Reports over the lead store, computed with DuckDB SQL: Lead Summary, Lead Distribution Summary, Opportunity
Overview / Details / Summary and the rep stack ranking. Each is `(store, options) -> DataFrame`, charted as
an SVG, shown as asset metadata (leadsync/defs/report_assets.py) and exported as CSV (reports/export.py)."""

from leadsync.reports.options import GROUP_BY_VALUES, ReportError, ReportOptions
from leadsync.reports.registry import REPORTS, Report, get_report, run_report

__all__ = ["GROUP_BY_VALUES", "REPORTS", "Report", "ReportError", "ReportOptions", "get_report", "run_report"]
