"""Bulk Program Member Extract (`/bulk/v1/program/members/export/...`): the job's spec and its SQL.

Filters (ANDed): `programId` or `programIds` (up to 10; then a `programId` column comes first in the file),
`statusNames` (ORed), `isExhausted`, and `updatedAt` (a window, like the lead extract's, on subscriptions
that have it). Fields: program member fields (Describe Program Member, plus `program`, the program's name)
and lead fields (Describe Lead2), by REST API name. The job runs through the same queue, quota and file
handling as the lead and activity extracts (bulk_extract).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leadsync.connectors.marketo.sandbox.envelope import MarketoError
from leadsync.connectors.marketo.sandbox.fields import FieldSet, LeadSchema

ENTITY = "program/members"
MAX_PROGRAMS = 10
_TIME = "strftime({}, '%Y-%m-%dT%H:%M:%SZ')"
# member field -> SQL over the `pm` (program_members) and `prog` (programs) subqueries
MEMBER_COLUMNS = {
    "leadId": "pm.leadId", "programId": "pm.programId", "statusName": "pm.progressionStatus",
    "reachedSuccess": "CASE WHEN pm.reachedSuccess THEN 'true' ELSE 'false' END",
    "acquiredBy": "CASE WHEN pm.acquiredBy THEN 'true' ELSE 'false' END",
    "membershipDate": _TIME.format("pm.membershipDate"), "updatedAt": _TIME.format("pm.updatedAt"),
    "program": "prog.name", "isExhausted": "'false'",
}


def member_spec(body: dict[str, Any], lead_schema: LeadSchema, member_fields: FieldSet,
                window: Callable[[Any, str], dict[str, str]], updated_at_allowed: bool) -> dict[str, Any]:
    """The checked spec of a create request; raises MarketoError 1003 (or 1035 for updatedAt)."""
    fields = body.get("fields")
    if not isinstance(fields, list) or not fields:
        raise MarketoError("1003", "fields cannot be blank")
    for name in fields:
        if str(name) not in MEMBER_COLUMNS and member_fields.get(str(name)) is None \
                and lead_schema.get(str(name)) is None:
            raise MarketoError("1003", f"Invalid field '{name}'")
    filter_ = body.get("filter")
    if not isinstance(filter_, dict):
        raise MarketoError("1003", "filter cannot be blank")
    unknown = set(filter_) - {"programId", "programIds", "statusNames", "isExhausted", "nurtureCadence",
                              "updatedAt"}
    if unknown:
        raise MarketoError("1003", f"Invalid filter type '{min(unknown)}'")
    if ("programId" in filter_) == ("programIds" in filter_):
        raise MarketoError("1003", "filter needs either programId or programIds")
    ids = [filter_["programId"]] if "programId" in filter_ else filter_["programIds"]
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_PROGRAMS or not all(isinstance(i, int) for i in ids):
        raise MarketoError("1003", f"programIds must be 1 to {MAX_PROGRAMS} program ids")
    out: dict[str, Any] = {"programIds": ids}
    names = [str(n) for n in fields]
    if "programIds" in filter_ and "programId" not in names:
        names.insert(0, "programId")  # "added to the export file as the first field"
    if "statusNames" in filter_:
        statuses = filter_["statusNames"]
        if not isinstance(statuses, list) or not statuses:
            raise MarketoError("1003", "Invalid statusNames")
        out["statusNames"] = [str(s) for s in statuses]
    if "isExhausted" in filter_:
        out["isExhausted"] = bool(filter_["isExhausted"])
    if "updatedAt" in filter_:
        if not updated_at_allowed:
            raise MarketoError("1035", "Unsupported filter type for target subscription: updatedAt")
        out["updatedAt"] = window(filter_["updatedAt"], "updatedAt")
    headers = body.get("columnHeaderNames") or {}
    if not isinstance(headers, dict) or any(k not in names for k in headers):
        raise MarketoError("1003", "columnHeaderNames may only rename exported fields")
    return {"fields": names, "filter": out, "columnHeaderNames": {str(k): str(v) for k, v in headers.items()}}


def member_sql(spec: dict[str, Any], lead_schema: LeadSchema, render_lead: Callable, stored: Callable,
               quote: Callable[[str], str]) -> tuple[str, list[Any]]:
    """SELECT for the file: members of the programs joined to their leads, ordered by program and lead."""
    headers = spec.get("columnHeaderNames") or {}
    columns = []
    for name in spec["fields"]:
        if name in MEMBER_COLUMNS:
            expr = MEMBER_COLUMNS[name]
        elif lead_schema.get(name) is not None:
            expr = render_lead(lead_schema.require(name))  # qualified with the `l` alias
        else:  # a custom program member field, kept as JSON on the membership
            expr = f"json_extract_string(pm.custom, '$.\"{quote(name)}\"')"
        columns.append(f'{expr} AS "{quote(headers.get(name, name))}"')
    filter_ = spec["filter"]
    where = [f"pm.programId IN ({', '.join('?' * len(filter_['programIds']))})"]
    params: list[Any] = list(filter_["programIds"])
    if filter_.get("statusNames"):
        where.append(f"pm.progressionStatus IN ({', '.join('?' * len(filter_['statusNames']))})")
        params += filter_["statusNames"]
    if filter_.get("isExhausted"):
        where.append("FALSE")  # nobody in the sandbox has exhausted a nurture program's content
    if filter_.get("updatedAt"):
        where.append("pm.updatedAt BETWEEN ? AND ?")
        params += [stored(filter_["updatedAt"]["startAt"]), stored(filter_["updatedAt"]["endAt"])]
    sql = (f"SELECT {', '.join(columns)} FROM program_members pm JOIN leads l ON l.id = pm.leadId "
           f"LEFT JOIN programs prog ON prog.id = pm.programId WHERE {' AND '.join(where)} "
           "ORDER BY pm.programId, pm.leadId")
    return sql, params
