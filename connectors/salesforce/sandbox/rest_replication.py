"""Replication: `GET /sobjects/{o}/updated/?start&end` and `/deleted/?start&end` (simple-salesforce's
`sf.Lead.updated(start, end)` and `.deleted(start, end)`).

`updated` lists the ids of live records whose SystemModstamp falls in the window; `deleted` the records
deleted in it (their deletion stamped SystemModstamp), with `deletedDate`. `latestDateCovered` is `end`
truncated to the minute, as Salesforce reports it. A window whose start is after its end, or that starts
more than 30 days ago, is refused with 400 INVALID_REPLICATION_DATE.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.responses import JSONResponse

from leadsync.connectors.salesforce.sandbox.clock import BadDateTime, format_datetime, parse_datetime
from leadsync.connectors.salesforce.sandbox.context import ApiCall, Org
from leadsync.connectors.salesforce.sandbox.errors import ApiError

MAX_DAYS_BACK = 30


def _window(org: Org, call: ApiCall) -> tuple[str, str, str]:
    try:
        start, end = parse_datetime(call.query.get("start", "")), parse_datetime(call.query.get("end", ""))
    except BadDateTime:
        raise ApiError(400, "INVALID_REPLICATION_DATE", "start and end must be date-times") from None
    if end < start:
        raise ApiError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
    if start < org.clock.now() - timedelta(days=MAX_DAYS_BACK):
        raise ApiError(400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {MAX_DAYS_BACK} days ago")
    covered = end.replace(second=0, microsecond=0)
    return format_datetime(start), format_datetime(end), format_datetime(covered)


def _changed(org: Org, call: ApiCall, deleted: bool) -> tuple[list[tuple[str, str]], str]:
    table = org.store.table(call.params["sobject"])
    if table is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    start, end, covered = _window(org, call)
    with org.store.lock:
        ids, stamps = table.column("Id"), table.column("SystemModstamp")
        rows = [r for r in range(table.size) if table.is_deleted(r) == deleted and start <= stamps[r] < end]
        return [(ids[r], stamps[r]) for r in rows], covered


def updated(org: Org, call: ApiCall) -> JSONResponse:
    changed, covered = _changed(org, call, deleted=False)
    return JSONResponse({"ids": [record_id for record_id, _ in changed], "latestDateCovered": covered})


def deleted(org: Org, call: ApiCall) -> JSONResponse:
    changed, covered = _changed(org, call, deleted=True)
    earliest = min((stamp for _, stamp in changed), default=covered)
    return JSONResponse({"deletedRecords": [{"id": record_id, "deletedDate": stamp} for record_id, stamp in changed],
                         "earliestDateAvailable": earliest, "latestDateCovered": covered})
