"""The endpoint table: which Marketo path and method runs which operation of the sandbox's stores."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from typing import Any

from starlette.responses import FileResponse, PlainTextResponse, Response

from leadsync.connectors.marketo.sandbox.activities import CHANGE_DATA_VALUE, DELETE_LEAD, NEW_LEAD
from leadsync.connectors.marketo.sandbox.api import Call, Route
from leadsync.connectors.marketo.sandbox.envelope import MarketoError
from leadsync.connectors.marketo.sandbox.leads import batch_size
from leadsync.connectors.marketo.sandbox.served_writes import by_status, custom_activities, lead_sync, object_sync
from leadsync.connectors.marketo.sandbox.state import MarketoState

MAX_ACTIVITY_TYPES, MAX_ACTIVITY_LEADS = 10, 30
CONTENT_TYPES = {"CSV": "text/csv", "TSV": "text/tab-separated-values", "SSV": "text/csv"}


def _ints(raw: Any, name: str, most: int, required: bool = False) -> list[int] | None:
    if raw in (None, ""):
        if required:
            raise MarketoError("701", f"{name} cannot be blank")
        return None
    try:
        values = [int(v) for v in str(raw).split(",") if v.strip()]
    except ValueError:
        raise MarketoError("1003", f"Invalid {name} '{raw}'") from None
    if len(values) > most:
        raise MarketoError("1003", f"{name} may hold at most {most} values")
    return values


def build_routes(s: MarketoState) -> list[Route]:
    """Every endpoint the sandbox answers. Handlers return the envelope's members (result, nextPageToken,
    moreResult, warnings) or a raw Response (export files); write handlers count what they applied
    (served_writes.py)."""

    def leads_query(c: Call) -> dict:
        p = c.params
        return s.leads.by_filter(p.get("filterType"), p.get("filterValues"), p.get("fields"), p.get("batchSize"),
                                 p.get("nextPageToken"))

    def leads_sync(c: Call) -> dict:
        body = c.json()
        result = s.leads.sync(body.get("input"), body.get("action"), body.get("lookupField"), c.request_id)
        lead_sync(s.writes, s.schema, body, result)
        return {"result": result}

    def activities(c: Call) -> dict:
        p = c.params
        types = _ints(p.get("activityTypeIds"), "activityTypeIds", MAX_ACTIVITY_TYPES, required=True)
        leads = _ints(p.get("leadIds"), "leadIds", MAX_ACTIVITY_LEADS)
        if p.get("listId"):  # the list's members (any leadIds as well)
            leads = sorted(set(s.lists.member_ids(p["listId"])) & set(leads or s.lists.member_ids(p["listId"])))
            if not leads:
                return {"result": [], "nextPageToken": p.get("nextPageToken"), "moreResult": False}
        return s.activities.page(p.get("nextPageToken"), types, leads, batch_size(p.get("batchSize"), s.limits))

    def lead_changes(c: Call) -> dict:
        p = c.params
        if not p.get("fields"):
            raise MarketoError("701", "fields cannot be blank")
        names = [f.name for f in s.schema.parse_list(p["fields"], [])]
        leads = _ints(p.get("leadIds"), "leadIds", MAX_ACTIVITY_LEADS)
        return s.activities.page(p.get("nextPageToken"), [NEW_LEAD, CHANGE_DATA_VALUE], leads,
                                 batch_size(p.get("batchSize"), s.limits), field_names=names)

    def custom_activity_type(c: Call) -> dict:
        kind = next((t for t in s.activities.custom_types.values() if t.api_name == c.path["apiName"]), None)
        if kind is None:
            raise MarketoError("1013", f"Activity type '{c.path['apiName']}' not found")
        return {"result": [kind.describe()]}

    def add_custom_activities(c: Call) -> dict:
        items = c.json().get("input")
        if not isinstance(items, list) or not items:
            raise MarketoError("701", "input cannot be blank")
        if len(items) > s.limits.max_batch:
            raise MarketoError("1003", f"input may hold at most {s.limits.max_batch} records")
        result = s.activities.add_custom(items)
        custom_activities(s.writes, items, result)
        return {"result": result}

    def custom_object(name: str) -> str:
        if not s.objects.type(name).custom:
            raise MarketoError("1013", f"Custom object '{name}' not found")
        return name

    def lead_database_object(prefix: str, name: str | None) -> list[Route]:
        """describe / query+sync / delete for opportunities, roles, or a custom object (name from path)."""
        def kind(c: Call) -> str:
            return name or custom_object(c.path["apiName"])
        return [
            Route(rf"{prefix}/describe\.json", {"GET": lambda c: {"result": [s.objects.type(kind(c)).describe()]}}),
            Route(rf"{prefix}/delete\.json", {"POST": lambda c: write_objects(kind(c), c, s.objects.delete)}),
            Route(rf"{prefix}\.json", {"GET": lambda c: s.objects.query(kind(c), c.params),
                                       "POST": lambda c: write_objects(kind(c), c, s.objects.sync)}),
        ]

    def write_objects(name: str, c: Call, write: Callable[[str, dict], list[dict]]) -> dict:
        result = write(name, c.json())
        object_sync(s.writes, name, c.json(), result)
        return {"result": result}

    def export_file(c: Call) -> Response:
        entity, export_id = c.path["entity"], c.path["exportId"]
        path = s.exports.file_path(entity, c.client_id, export_id)
        if path is None:
            return PlainTextResponse(f"Export job {export_id} not found or its file is not ready", status_code=404)
        fmt = path.suffix[1:].upper()
        return FileResponse(path, media_type=CONTENT_TYPES.get(fmt) or mimetypes.guess_type(path.name)[0])

    def delete_leads(c: Call) -> dict:
        body = c.body if isinstance(c.body, dict) else {}
        items = body.get("input") if isinstance(body.get("input"), list) else []
        ids = [item.get("id") for item in items if isinstance(item, dict)]
        result = s.leads.delete(ids or _ints(c.params.get("id"), "id", s.limits.max_batch) or [])
        by_status(s.writes, "lead", "deleted", result)
        return {"result": result}

    def deleted_leads(c: Call) -> dict:
        p = c.params
        return s.activities.page(p.get("nextPageToken"), [DELETE_LEAD], None, batch_size(p.get("batchSize"), s.limits))

    def list_change(action: str) -> Callable[[Call], dict]:
        def handler(c: Call) -> dict:
            body = c.body if isinstance(c.body, dict) else {}
            items = body.get("input") or c.params.get("input") or []
            ids = [item.get("id") for item in items if isinstance(item, dict)] if isinstance(items, list) else []
            answer = s.lists.change(c.path["listId"], ids or _ints(c.params.get("id"), "id", 300) or [], action)
            by_status(s.writes, "staticListMember", "member", answer["result"], prefix=c.path["listId"])
            return answer
        return handler

    def member_status(c: Call) -> dict:
        body = c.json() or {}
        result = s.programs.sync_member_status(c.path["programId"], body.get("statusName"), body.get("input"))
        by_status(s.writes, "programMember", "progressionStatus", result, "leadId", prefix=c.path["programId"])
        return {"result": result}

    def delete_members(c: Call) -> dict:
        result = s.programs.delete_members(c.path["programId"], (c.json() or {}).get("input"))
        by_status(s.writes, "programMember", "deleted", result, "leadId", prefix=c.path["programId"])
        return {"result": result}

    def usage(c: Call) -> dict:
        return {"result": [{"date": s.clock.central_day().isoformat(), "total": s.meter.calls_today(),
                            "users": [{"userId": s.tokens.scope, "count": s.meter.calls_today()}]}]}

    bulk = r"/bulk/v1/(?P<entity>leads|activities|program/members)/export"
    job = rf"{bulk}/(?P<exportId>[A-Za-z0-9-]+)"
    return [
        Route(r"/rest/v1/lead/(?P<id>\d+)\.json",
              {"GET": lambda c: {"result": s.leads.by_id(int(c.path["id"]), c.params.get("fields"))}}),
        Route(r"/rest/v1/leads\.json", {"GET": leads_query, "POST": leads_sync, "DELETE": delete_leads}),
        Route(r"/rest/v1/leads/delete\.json", {"POST": delete_leads}),
        Route(r"/rest/v1/activities/deletedleads\.json", {"GET": deleted_leads}),
        Route(r"/rest/v1/leads/describe\.json", {"GET": lambda c: {"result": s.schema.describe()}}),
        Route(r"/rest/v1/leads/describe2\.json", {"GET": lambda c: {"result": s.schema.describe2()}}),
        Route(r"/rest/v1/leads/programs/(?P<programId>\d+)\.json", {"GET": lambda c: s.programs.leads_of(
            c.path["programId"], c.params.get("fields"), c.params.get("batchSize"), c.params.get("nextPageToken"))}),
        Route(r"/rest/v1/leads/(?P<id>\d+)/programMembership\.json",
              {"GET": lambda c: {"result": s.programs.memberships_of(c.path["id"]), "moreResult": False}}),
        Route(r"/rest/v1/activities/types\.json",
              {"GET": lambda c: {"result": [t.describe() for t in s.activities.types]}}),
        Route(r"/rest/v1/activities/pagingtoken\.json",
              {"GET": lambda c: {"nextPageToken": s.activities.paging_token(c.params.get("sinceDatetime"))}}),
        Route(r"/rest/v1/activities\.json", {"GET": activities}),
        Route(r"/rest/v1/activities/leadchanges\.json", {"GET": lead_changes}),
        Route(r"/rest/v1/activities/external/types\.json",
              {"GET": lambda c: {"result": [t.summary() for t in s.activities.custom_types.values()]}}),
        Route(r"/rest/v1/activities/external/type/(?P<apiName>\w+)/describe\.json", {"GET": custom_activity_type}),
        Route(r"/rest/v1/activities/external\.json", {"POST": add_custom_activities}),
        Route(r"/rest/v1/programs/members/describe\.json",
              {"GET": lambda c: {"result": s.programs.describe_members()}}),
        Route(r"/rest/v1/programs/(?P<programId>\d+)/members/status\.json", {"POST": member_status}),
        Route(r"/rest/v1/programs/(?P<programId>\d+)/members/delete\.json", {"POST": delete_members}),
        Route(r"/rest/v1/programs/(?P<programId>\d+)/members\.json",
              {"GET": lambda c: s.programs.members(c.path["programId"], c.params)}),
        *lead_database_object("/rest/v1/opportunities/roles", "opportunityRole"),
        *lead_database_object("/rest/v1/opportunities", "opportunity"),
        Route(r"/rest/v1/customobjects\.json",
              {"GET": lambda c: {"result": s.objects.custom_types(c.params.get("names"))}}),
        *lead_database_object(r"/rest/v1/customobjects/(?P<apiName>\w+)", None),
        Route(r"/rest/v1/lists\.json", {"GET": lambda c: s.lists.lists(c.params)}),
        Route(r"/rest/v1/lists/(?P<listId>\d+)\.json", {"GET": lambda c: s.lists.get(c.path["listId"])}),
        Route(r"/rest/v1/lists?/(?P<listId>\d+)/leads\.json", {
            "GET": lambda c: s.lists.leads_of(c.path["listId"], c.params.get("fields"), c.params.get("batchSize"),
                                              c.params.get("nextPageToken")),
            "POST": list_change("add"), "DELETE": list_change("remove")}),
        Route(r"/rest/v1/lists/(?P<listId>\d+)/leads/ismember\.json", {"GET": list_change("check")}),
        Route(r"/rest/v1/stats/usage\.json", {"GET": usage}),
        Route(r"/rest/asset/v1/staticLists\.json", {"GET": lambda c: s.lists.browse(c.params)}, asset=True),
        Route(r"/rest/asset/v1/staticList/(?P<id>\d+)\.json",
              {"GET": lambda c: s.lists.asset(list_id=c.path["id"])}, asset=True),
        Route(r"/rest/asset/v1/staticList/byName\.json",
              {"GET": lambda c: s.lists.asset(name=c.params.get("name") or "")}, asset=True),
        Route(r"/rest/asset/v1/programs\.json", {"GET": lambda c: s.programs.browse(c.params)}, asset=True),
        Route(r"/rest/asset/v1/program/(?P<id>\d+)\.json",
              {"GET": lambda c: s.programs.get(program_id=c.path["id"])}, asset=True),
        Route(r"/rest/asset/v1/program/byName\.json",
              {"GET": lambda c: s.programs.get(name=c.params.get("name") or "")}, asset=True),
        Route(rf"{bulk}/create\.json",
              {"POST": lambda c: {"result": s.exports.create(c.path["entity"], c.client_id, c.json())}}),
        Route(rf"{bulk}\.json", {"GET": lambda c: s.exports.list(c.path["entity"], c.client_id, c.params)}),
        Route(rf"{job}/enqueue\.json", {"POST": lambda c: {
            "result": s.exports.enqueue(c.path["entity"], c.client_id, c.path["exportId"])}}),
        Route(rf"{job}/cancel\.json", {"POST": lambda c: {
            "result": s.exports.cancel(c.path["entity"], c.client_id, c.path["exportId"])}}),
        Route(rf"{job}/status\.json", {"GET": lambda c: {
            "result": s.exports.status(c.path["entity"], c.client_id, c.path["exportId"])}}),
        Route(rf"{job}/file\.json", {"GET": export_file}),
    ]
