"""Bulk API 2.0 routes: fields, export and import definitions, uploads, syncs and their data, rejects, logs.

Entities: contacts, accounts, activities, campaignResponses (exports) and customObjects/{id}. Discovery:
contacts/fields, accounts/fields, activities/fields[?activityType=], customObjects and customObjects/{id}/fields.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadsync.connectors.eloqua.sandbox import bulk_service as bulk
from leadsync.connectors.eloqua.sandbox.accounts import ACCOUNT_FIELDS, bulk_account_field
from leadsync.connectors.eloqua.sandbox.bulk_catalog import ACTIVITY_TYPES, activity_fields, bulk_custom_object
from leadsync.connectors.eloqua.sandbox.definitions import failure
from leadsync.connectors.eloqua.sandbox.field_shapes import (
    bulk_contact_field,
    bulk_custom_object_field,
    bulk_custom_object_system_fields,
)
from leadsync.connectors.eloqua.sandbox.http_common import (
    bulk_paging,
    empty,
    error_response,
    json_response,
    read_json,
    user_of,
)
from leadsync.connectors.eloqua.sandbox.imports import MAX_UPLOAD_BYTES

BULK = "/api/bulk/2.0"
JSON = "application/json; charset=utf-8"
ENTITIES = {"contacts": ("exports", "imports"), "accounts": ("exports", "imports"), "activities": ("exports", "imports"),
            "campaignresponses": ("exports",),
            "customobjects/{object_id:int}": ("exports", "imports")}


def _entity(request: Request, prefix: str) -> str:
    if prefix.startswith("customobjects"):
        return f"customObjects/{request.path_params['object_id']}"
    return {"campaignresponses": "campaignResponses"}.get(prefix, prefix)


def bulk_routes(state) -> list[Route]:
    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except bulk.BulkError as exc:
                return error_response(exc)
        return endpoint

    def definition_routes(prefix: str, kind: str) -> list[Route]:
        base = f"{BULK}/{prefix}/{kind}"

        def definition(request: Request):
            return bulk.get_definition(state, _entity(request, prefix), kind, request.path_params["id"])

        async def create(request: Request) -> Response:
            body = await read_json(request)
            created = bulk.create_definition(state, _entity(request, prefix), kind, body, user_of(request))
            return json_response(created.body, 201)

        async def listing(request: Request) -> Response:
            limit, offset = bulk_paging(request, bulk.MAX_LIST_LIMIT)
            entity = _entity(request, prefix)
            bulk.source_for(state, entity) if kind == "exports" else None  # 404 for unknown custom objects
            with state.lock:
                items = [d.body for d in state.definitions.values() if d.entity == entity and d.kind == kind]
            return json_response(bulk.list_page(items, limit, offset))

        async def get(request: Request) -> Response:
            return json_response(definition(request).body)

        async def delete(request: Request) -> Response:
            bulk.delete_definition(state, definition(request))
            return empty(204)

        async def upload(request: Request) -> Response:
            found = definition(request)
            if int(request.headers.get("content-length") or 0) > MAX_UPLOAD_BYTES:
                return empty(404)  # Eloqua answers oversize uploads (over 32 MB) with 404 Not Found
            raw = await request.body()
            if len(raw) > MAX_UPLOAD_BYTES:
                return empty(404)
            sync = await run_in_threadpool(bulk.upload, state, found, raw,
                                           request.headers.get("content-type", "application/json"),
                                           user_of(request))
            return json_response(sync.to_json(), 201) if sync else empty(204)

        async def clear_staged(request: Request) -> Response:
            definition(request).staged.clear()
            return empty(204)

        async def definition_data(request: Request) -> Response:
            # The definition's own data endpoint: Eloqua recommends /syncs/{id}/data instead; this serves the
            # latest successful sync of the definition.
            found = definition(request)
            syncs = [s for s in state.syncs.values() if s.synced_instance_uri == found.uri and s.status == "success"]
            if not syncs:
                return json_response(bulk.list_page([], 1000, 0))
            limit, offset = bulk_paging(request, bulk.MAX_DATA_LIMIT)
            raw = await run_in_threadpool(bulk.sync_data, state, syncs[-1], limit, offset)
            return Response(raw, media_type=JSON)

        routes = [Route(base, guarded(create), methods=["POST"]), Route(base, guarded(listing), methods=["GET"]),
                  Route(f"{base}/{{id:int}}", guarded(get), methods=["GET"]),
                  Route(f"{base}/{{id:int}}", guarded(delete), methods=["DELETE"])]
        if kind == "imports":
            routes += [Route(f"{base}/{{id:int}}/data", guarded(upload), methods=["POST"]),
                       Route(f"{base}/{{id:int}}/data", guarded(clear_staged), methods=["DELETE"])]
        else:
            routes.append(Route(f"{base}/{{id:int}}/data", guarded(definition_data), methods=["GET"]))
        return routes

    async def contact_fields(request: Request) -> Response:
        limit, offset = bulk_paging(request, bulk.MAX_LIST_LIMIT)
        items = [bulk_contact_field(f) for f in state.contacts.fields]
        return json_response(bulk.list_page(items, limit, offset))

    async def contact_field(request: Request) -> Response:
        f = state.contacts.field_by_id(request.path_params["id"])
        return json_response(bulk_contact_field(f)) if f else empty(404)

    async def custom_object_fields(request: Request) -> Response:
        limit, offset = bulk_paging(request, bulk.MAX_LIST_LIMIT)
        data = state.custom_objects.get(request.path_params["object_id"])
        if data is None:
            return empty(404)
        items = [bulk_custom_object_field(data.schema, f) for f in data.schema.fields]
        items += bulk_custom_object_system_fields(data.schema)
        return json_response(bulk.list_page(items, limit, offset))

    async def account_fields(request: Request) -> Response:
        limit, offset = bulk_paging(request, bulk.MAX_LIST_LIMIT)
        return json_response(bulk.list_page([bulk_account_field(f) for f in ACCOUNT_FIELDS], limit, offset))

    async def account_field(request: Request) -> Response:
        f = next((f for f in ACCOUNT_FIELDS if f.id == request.path_params["id"]), None)
        return json_response(bulk_account_field(f)) if f else empty(404)

    async def list_activity_fields(request: Request) -> Response:
        limit, offset = bulk_paging(request, bulk.MAX_LIST_LIMIT)
        activity_type = request.query_params.get("activityType")
        if activity_type is not None and activity_type not in ACTIVITY_TYPES:
            raise bulk.validation_error(failure("activityType", "Must be one of: " + ", ".join(ACTIVITY_TYPES) + ".",
                                                activity_type))
        return json_response(bulk.list_page(activity_fields(activity_type), limit, offset))

    async def activity_field(request: Request) -> Response:
        uri = f"/activities/fields/{request.path_params['id']}"
        found = next((f for f in activity_fields() if f["uri"] == uri), None)
        return json_response(found) if found else empty(404)

    async def custom_objects(request: Request) -> Response:
        limit, offset = bulk_paging(request, bulk.MAX_LIST_LIMIT)
        with state.custom_objects.lock:
            schemas = [data.schema for data in state.custom_objects.objects.values()]
        items = [bulk_custom_object(co, user_of(request)) for co in sorted(schemas, key=lambda co: co.id)]
        return json_response(bulk.list_page(items, limit, offset))

    async def custom_object(request: Request) -> Response:
        data = state.custom_objects.get(request.path_params["object_id"])
        return json_response(bulk_custom_object(data.schema, user_of(request))) if data else empty(404)

    async def create_sync(request: Request) -> Response:
        body = await read_json(request)
        sync = await run_in_threadpool(bulk.start_sync, state, body, user_of(request))
        return json_response(sync.to_json(), 201)

    async def list_syncs(request: Request) -> Response:
        limit, offset = bulk_paging(request, bulk.MAX_LIST_LIMIT)
        with state.lock:
            items = [s.to_json() for s in state.syncs.values()]
        return json_response(bulk.list_page(items, limit, offset))

    async def get_sync(request: Request) -> Response:
        return json_response(bulk.get_sync(state, request.path_params["id"]).to_json())

    async def sync_data(request: Request) -> Response:
        sync = bulk.get_sync(state, request.path_params["id"])
        limit, offset = bulk_paging(request, bulk.MAX_DATA_LIMIT)
        total = request.query_params.get("totalResults", "true").lower() != "false"
        raw = await run_in_threadpool(bulk.sync_data, state, sync, limit, offset, total)
        return Response(raw, media_type=JSON)

    async def sync_rejects(request: Request) -> Response:
        sync = bulk.get_sync(state, request.path_params["id"])
        limit, offset = bulk_paging(request, bulk.MAX_LIST_LIMIT)
        return json_response(bulk.sync_rejects(state, sync, limit, offset))

    async def sync_logs(request: Request) -> Response:
        sync = bulk.get_sync(state, request.path_params["id"])
        limit, offset = bulk_paging(request, bulk.MAX_LIST_LIMIT)
        return json_response(bulk.list_page(list(sync.logs), limit, offset))

    routes = [
        Route(f"{BULK}/contacts/fields", guarded(contact_fields), methods=["GET"]),
        Route(f"{BULK}/contacts/fields/{{id:int}}", guarded(contact_field), methods=["GET"]),
        Route(f"{BULK}/customobjects/{{object_id:int}}/fields", guarded(custom_object_fields), methods=["GET"]),
        Route(f"{BULK}/accounts/fields", guarded(account_fields), methods=["GET"]),
        Route(f"{BULK}/accounts/fields/{{id:int}}", guarded(account_field), methods=["GET"]),
        Route(f"{BULK}/activities/fields", guarded(list_activity_fields), methods=["GET"]),
        Route(f"{BULK}/activities/fields/{{id:int}}", guarded(activity_field), methods=["GET"]),
        Route(f"{BULK}/customobjects", guarded(custom_objects), methods=["GET"]),
        Route(f"{BULK}/customobjects/{{object_id:int}}", guarded(custom_object), methods=["GET"]),
        Route(f"{BULK}/syncs", guarded(create_sync), methods=["POST"]),
        Route(f"{BULK}/syncs", guarded(list_syncs), methods=["GET"]),
        Route(f"{BULK}/syncs/{{id:int}}", guarded(get_sync), methods=["GET"]),
        Route(f"{BULK}/syncs/{{id:int}}/data", guarded(sync_data), methods=["GET"]),
        Route(f"{BULK}/syncs/{{id:int}}/rejects", guarded(sync_rejects), methods=["GET"]),
        Route(f"{BULK}/syncs/{{id:int}}/logs", guarded(sync_logs), methods=["GET"]),
    ]
    for prefix, kinds in ENTITIES.items():
        for kind in kinds:
            routes += definition_routes(prefix, kind)
    return routes
