"""Application (REST) API routes: contacts, accounts, contact fields, campaigns, custom objects and their
records."""

from __future__ import annotations

import fnmatch

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadsync.connectors.eloqua.sandbox.bulk_service import BulkError
from leadsync.connectors.eloqua.sandbox.contacts import contact_id_ext, to_timestamp
from leadsync.connectors.eloqua.sandbox.field_shapes import (
    rest_campaign,
    rest_contact_field,
    rest_custom_object,
    rest_custom_object_record,
)
from leadsync.connectors.eloqua.sandbox.http_common import (
    empty,
    error_response,
    json_response,
    read_json,
    rest_envelope,
    rest_paging,
    user_of,
)
from leadsync.connectors.eloqua.sandbox.rest_accounts import (
    account_changes,
    account_json,
    account_search_column,
    new_account,
)
from leadsync.connectors.eloqua.sandbox.rest_contacts import (
    RestValidationError,
    contact_changes,
    contact_json,
    contact_search_column,
    search_mask,
)

REST1 = "/api/rest/1.0"
REST2 = "/api/rest/2.0"
ORDERABLE = {"id": "id", "createdat": "C_DateCreated", "updatedat": "C_DateModified", "name": "C_EmailAddress",
             "emailaddress": "C_EmailAddress"}
ACCOUNT_ORDERABLE = {"id": "id", "createdat": "created_at", "updatedat": "updated_at", "name": "M_CompanyName"}


def _page(items: list, page: int, count: int) -> list:
    return items[(page - 1) * count: page * count]


def rest_routes(state) -> list[Route]:
    store = state.contacts

    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except BulkError as exc:
                return error_response(exc)
            except RestValidationError as exc:
                return json_response(exc.errors, 400)
        return endpoint

    def listing(request: Request, records, column_of, orderable: dict[str, str], render) -> Response:
        """A searched, ordered page of contacts or accounts in the REST envelope."""
        page, count, depth = rest_paging(request)
        table = records.table
        mask = search_mask(table, request.query_params.get("search", ""), column_of)
        positions = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        order = request.query_params.get("orderBy", "id ASC").split()
        column = orderable.get(order[0].lower(), "id") if order else "id"
        if column != "id" or (len(order) > 1 and order[1].upper() == "DESC"):
            keys = table.column(column).combine_chunks().take(pa.array(positions))
            descending = len(order) > 1 and order[1].upper() == "DESC"
            ranked = pc.array_sort_indices(keys, order="descending" if descending else "ascending")
            positions = positions[ranked.to_numpy()]
        chosen = positions[(page - 1) * count: page * count]
        rows = table.take(pa.array(chosen, pa.int64())).to_pylist()
        return json_response(rest_envelope([render(r, depth) for r in rows], page, count, len(positions)))

    def list_contacts(request: Request) -> Response:
        return listing(request, store, lambda name: contact_search_column(store, name), ORDERABLE,
                       lambda row, depth: contact_json(store, row, depth))

    def list_accounts(request: Request) -> Response:
        return listing(request, state.accounts, account_search_column, ACCOUNT_ORDERABLE, account_json)

    def position_of(contact_id: int) -> int:
        pos = int(store.positions_for_ids([contact_id])[0])
        if pos < 0:
            raise BulkError(404)
        return pos

    async def contacts(request: Request) -> Response:
        return await run_in_threadpool(list_contacts, request)

    async def accounts(request: Request) -> Response:
        return await run_in_threadpool(list_accounts, request)

    def account_position(account_id: int) -> int:
        pos = int(state.accounts.positions_for_ids([account_id])[0])
        if pos < 0:
            raise BulkError(404)
        return pos

    async def get_account(request: Request) -> Response:
        depth = request.query_params.get("depth", "complete").lower()
        depth = depth if depth in ("minimal", "partial", "complete") else "complete"
        return json_response(account_json(state.accounts.row(account_position(request.path_params["id"])), depth))

    async def put_account(request: Request) -> Response:
        body = await read_json(request)
        changes = account_changes(body if isinstance(body, dict) else {}, full=True)
        with state.accounts.lock:
            pos = account_position(request.path_params["id"])
            state.writes.add("accounts", request.path_params["id"], list(changes))
            changes["updated_at"] = to_timestamp(state.clock.now())
            state.accounts.apply({pos: changes})
            row = state.accounts.row(pos)
        return json_response(account_json(row, "complete"))

    async def create_account(request: Request) -> Response:
        body = await read_json(request)
        changes = account_changes(body if isinstance(body, dict) else {}, full=False)
        account_id = new_account(state.accounts, changes, state.clock.now())
        state.writes.add("accounts", account_id, list(changes))
        return json_response(account_json(state.accounts.row(account_position(account_id)), "complete"), 201)

    async def get_contact(request: Request) -> Response:
        depth = request.query_params.get("depth", "complete").lower()
        depth = depth if depth in ("minimal", "partial", "complete") else "complete"
        row = store.row(position_of(request.path_params["id"]))
        return json_response(contact_json(store, row, depth))

    async def put_contact(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise RestValidationError([{"type": "ObjectValidationError", "property": "body",
                                        "requirement": {"type": "NotNullRequirement"}, "value": "<null>"}])
        with store.lock:
            pos = position_of(request.path_params["id"])
            changes = contact_changes(store, body, full=True)
            other = int(store.positions_for_emails([changes["C_EmailAddress"]])[0])
            if other >= 0 and other != pos:
                return json_response([{"type": "ObjectValidationError", "property": "emailAddress",
                                       "requirement": {"type": "UniquenessRequirement"},
                                       "value": changes["C_EmailAddress"]}], 409)
            state.writes.add("contacts", request.path_params["id"], list(changes))
            changes["C_DateModified"] = to_timestamp(state.clock.now())
            store.apply({pos: changes})
            row = store.row(pos)
        return json_response(contact_json(store, row, "complete"))

    async def create_contact(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            body = {}
        with store.lock:
            changes = contact_changes(store, body, full=False)
            if int(store.positions_for_emails([changes["C_EmailAddress"]])[0]) >= 0:
                return json_response([{"type": "ObjectValidationError", "property": "emailAddress",
                                       "requirement": {"type": "UniquenessRequirement"},
                                       "value": changes["C_EmailAddress"]}], 409)
            now = to_timestamp(state.clock.now())
            new_id = store.next_id()
            state.writes.add("contacts", new_id, list(changes))
            store.apply({}, [{**changes, "id": new_id, "ContactIDExt": contact_id_ext([new_id])[0].as_py(),
                              "C_DateCreated": now, "C_DateModified": now, "_subscribed": True,
                              "_bounced": False, "_email_format": "HTML"}])
            row = store.row(position_of(new_id))
        return json_response(contact_json(store, row, "complete"), 201)

    async def contact_fields(request: Request) -> Response:
        page, count, depth = rest_paging(request)
        fields = store.fields
        search = request.query_params.get("search", "").strip("'*").lower()
        if search:
            fields = [f for f in fields if search in f.name.lower() or search in f.internal_name.lower()]
        return json_response(rest_envelope([rest_contact_field(f, depth) for f in _page(fields, page, count)],
                                           page, count, len(fields)))

    async def contact_field(request: Request) -> Response:
        f = store.field_by_id(request.path_params["id"])
        return json_response(rest_contact_field(f)) if f else empty(404)

    def campaign_list(request: Request) -> list[dict]:
        items = list(state.campaigns)
        search = request.query_params.get("search", "")
        if search and search != "*":
            term = search.split("=", 1)[-1].strip("'").lower()
            if "*" in term:
                items = [c for c in items if fnmatch.fnmatch(c["name"].lower(), term)]
            else:
                items = [c for c in items if c["name"].lower() == term or str(c["id"]) == term]
        return items

    async def campaigns(request: Request) -> Response:
        page, count, depth = rest_paging(request)
        items = campaign_list(request)
        elements = [rest_campaign(c, depth, user_of(request), state.campaign_fields) for c in _page(items, page, count)]
        return json_response(rest_envelope(elements, page, count, len(items)))

    async def campaign(request: Request) -> Response:
        found = next((c for c in state.campaigns if c["id"] == request.path_params["id"]), None)
        if found is None:
            return empty(404)
        return json_response(rest_campaign(found, "complete", user_of(request), state.campaign_fields))

    async def campaign_fields(request: Request) -> Response:
        """The campaign fields (custom fields of campaigns), as Application API 2.0 lists them."""
        page, count, _depth = rest_paging(request)
        elements = [{"type": "CampaignField", "id": str(f["id"]), "name": f["name"], "dataType": "text",
                     "depth": "minimal"} for f in state.campaign_fields]
        return json_response(rest_envelope(_page(elements, page, count), page, count, len(elements)))

    async def custom_objects(request: Request) -> Response:
        page, count, depth = rest_paging(request)
        items = [d.schema for d in state.custom_objects.objects.values()]
        elements = [rest_custom_object(co, depth, user_of(request)) for co in _page(items, page, count)]
        return json_response(rest_envelope(elements, page, count, len(items)))

    async def custom_object(request: Request) -> Response:
        data = state.custom_objects.get(request.path_params["id"])
        return json_response(rest_custom_object(data.schema, "complete", user_of(request))) if data else empty(404)

    async def custom_object_records(request: Request) -> Response:
        page, count, _ = rest_paging(request)
        data = state.custom_objects.get(request.path_params["id"])
        if data is None:
            return empty(404)
        with state.custom_objects.lock:
            records = sorted(data.records.values(), key=lambda r: r.id)
            elements = [rest_custom_object_record(data.schema, r) for r in _page(records, page, count)]
        return json_response(rest_envelope(elements, page, count, len(records)))

    return [
        Route(f"{REST1}/data/contacts", guarded(contacts), methods=["GET"]),
        Route(f"{REST1}/data/contact", guarded(create_contact), methods=["POST"]),
        Route(f"{REST1}/data/contact/{{id:int}}", guarded(get_contact), methods=["GET"]),
        Route(f"{REST1}/data/contact/{{id:int}}", guarded(put_contact), methods=["PUT"]),
        Route(f"{REST1}/data/accounts", guarded(accounts), methods=["GET"]),
        Route(f"{REST1}/data/account", guarded(create_account), methods=["POST"]),
        Route(f"{REST1}/data/account/{{id:int}}", guarded(get_account), methods=["GET"]),
        Route(f"{REST1}/data/account/{{id:int}}", guarded(put_account), methods=["PUT"]),
        Route(f"{REST1}/assets/contact/fields", guarded(contact_fields), methods=["GET"]),
        Route(f"{REST1}/assets/contact/field/{{id:int}}", guarded(contact_field), methods=["GET"]),
        Route(f"{REST2}/assets/campaigns", guarded(campaigns), methods=["GET"]),
        Route(f"{REST2}/assets/campaign/fields", guarded(campaign_fields), methods=["GET"]),
        Route(f"{REST2}/assets/campaign/{{id:int}}", guarded(campaign), methods=["GET"]),
        Route(f"{REST2}/assets/customobjects", guarded(custom_objects), methods=["GET"]),
        Route(f"{REST2}/assets/customobject/{{id:int}}", guarded(custom_object), methods=["GET"]),
        Route(f"{REST2}/data/customobject/{{id:int}}/instances", guarded(custom_object_records), methods=["GET"]),
    ]
