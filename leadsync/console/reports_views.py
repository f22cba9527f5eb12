"""The console's report pages: each report of leadsync/reports with a date range, filters and grouping from
the query string, shown as a table and a matplotlib chart (a PNG from the same query), and downloaded as
CSV or XLSX (every text cell neutralised, leadsync/reports/export.py).

Query string: `from`, `to` (YYYY-MM-DD, days included), `group_by` (comma-separated), `filter` (field=value,
repeatable) and, for the form's convenience, `source`, `campaign`, `partner`, `status`, `lead_type`,
`country` as filters of their own name."""

from __future__ import annotations

from urllib.parse import urlencode

import pandas as pd
from starlette.requests import Request
from starlette.responses import Response

from leadsync.reports import REPORTS, ReportError, get_report
from leadsync.reports.charts import render_png
from leadsync.reports.export import FORMATS, report_bytes
from leadsync.reports.options import GROUP_BY_VALUES, OPPORTUNITY_DIMENSIONS
from leadsync.reports.registry import Report, report_options

FORM_FILTERS = ("source", "campaign", "partner", "status", "lead_type", "country")
Form = dict[str, list[str]] | None


class ReportViews:
    """Mixed into console.views.Views (self.c is the Console, self.ctx the lifecycle context)."""

    def _fields(self) -> frozenset[str]:
        return frozenset(f.field for cfg in self.ctx.sources.values() for f in cfg.fields)

    def _compute(self, request: Request, name: str) -> tuple[Report, pd.DataFrame, dict]:
        report = get_report(name)
        q = request.query_params
        filters = [f for f in q.getlist("filter") if f.strip()]
        filters += [f"{key}={q[key]}" for key in FORM_FILTERS if q.get(key, "").strip()]
        group_by = q.get("group_by", "").strip() or None
        options = report_options(report, {
            "group_by": group_by if report.takes_group_by else None, "date_from": q.get("from") or None,
            "date_to": q.get("to") or None, "filters": filters or None, "fields": self._fields(),
            "partner_names": {p.id: p.name for p in self.ctx.partners.partners}})
        state = {"from": q.get("from", ""), "to": q.get("to", ""), "group_by": q.get("group_by", ""),
                 "filter": [f for f in q.getlist("filter") if f.strip()],
                 **{key: q.get(key, "") for key in FORM_FILTERS}}
        return report, report.function(self.ctx.store, options), state

    def reports(self, request: Request, user, form: Form) -> Response:
        return self.c.page(request, "reports", "Reports", user, reports=list(REPORTS.values()),
                           active="/console/reports")

    def report(self, request: Request, user, form: Form) -> Response:
        name = request.path_params["name"]
        try:
            report, frame, state = self._compute(request, name)
            error = None
        except ReportError as exc:
            report, frame, state, error = get_report(name), pd.DataFrame(), dict(request.query_params), str(exc)
        query = urlencode([(k, v) for k, v in request.query_params.multi_items() if v])
        limit = self.c.config.page_rows
        chart = report.chart(frame) if not frame.empty else None
        dims = [*GROUP_BY_VALUES, *(OPPORTUNITY_DIMENSIONS if report.name.startswith("opportunity") else ())]
        return self.c.page(
            request, "report", report.title, user, 400 if error else 200, report=report, error=error,
            columns=list(frame.columns), rows=frame.head(limit).to_dict("records"), total=len(frame),
            limit=limit, query=query, has_chart=chart is not None, state=state, dimensions=dims,
            fields=sorted(self._fields()), sources=sorted(self.ctx.sources),
            partners=self.ctx.partners.partners, active="/console/reports")

    def report_chart(self, request: Request, user, form: Form) -> Response:
        report, frame, _ = self._compute(request, request.path_params["name"])
        chart = report.chart(frame) if not frame.empty else None
        if chart is None:
            return Response("no data in this range", 404, media_type="text/plain")
        return Response(render_png(chart), media_type="image/png", headers={"Cache-Control": "no-store"})

    def report_export(self, request: Request, user, form: Form) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in FORMATS:
            raise ReportError(f"no export format '{fmt}'; formats: {', '.join(FORMATS)}")
        report, frame, _ = self._compute(request, request.path_params["name"])
        return Response(report_bytes(report, frame, fmt), media_type=FORMATS[fmt], headers={
            "Content-Disposition": f'attachment; filename="{report.name}.{fmt}"', "Cache-Control": "no-store"})
