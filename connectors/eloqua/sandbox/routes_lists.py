"""Routes of the shared contact lists (contact_lists.py): POST/GET/PUT `/api/rest/1.0/assets/contact/list`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadsync.connectors.eloqua.sandbox.contact_lists import ContactLists
from leadsync.connectors.eloqua.sandbox.http_common import empty, json_response, read_json

REST1 = "/api/rest/1.0"


def _ids(value: object, what: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(str(v).strip().isdigit() for v in value):
        raise ValueError(f"{what} must be a list of contact ids")
    return [int(str(v).strip()) for v in value]


def contact_list_routes(state) -> list[Route]:
    lists: ContactLists = state.contact_lists

    def failure(prop: str, message: str) -> Response:
        return json_response([{"type": "ObjectValidationError", "property": prop,
                               "requirement": {"type": "ValidRequirement"}, "value": message}], 400)

    async def create(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not str(body.get("name") or "").strip():
            return failure("name", "A contact list needs a name.")
        return json_response(lists.create(str(body["name"]).strip()).render(), 201)

    async def get(request: Request) -> Response:
        found = lists.lists.get(request.path_params["id"])
        return empty(404) if found is None else json_response(found.render())

    async def put(request: Request) -> Response:
        found = lists.lists.get(request.path_params["id"])
        if found is None:
            return empty(404)
        body = await read_json(request)
        if not isinstance(body, dict) or str(body.get("id")) != str(found.id) or not body.get("name"):
            return failure("id", "The body must name the list's id and name.")
        try:
            added = _ids(body.get("membershipAdditions"), "membershipAdditions")
            removed = _ids(body.get("membershipDeletions"), "membershipDeletions")
        except ValueError as exc:
            return failure("membershipAdditions", str(exc))
        known = state.contacts.positions_for_ids(added) if added else []
        unknown = [i for i, pos in zip(added, known, strict=True) if pos < 0]
        if unknown:
            return failure("membershipAdditions", f"No contact with id {unknown[0]}.")
        with lists.lock:
            found.name = str(body["name"])
            found.members |= set(added)
            found.members -= set(removed)
        for contact_id in [*added, *removed]:
            state.writes.add("contactListMember", f"{found.id}:{contact_id}", ["member"])
        return json_response(found.render())

    return [
        Route(f"{REST1}/assets/contact/list", create, methods=["POST"]),
        Route(f"{REST1}/assets/contact/list/{{id:int}}", get, methods=["GET"]),
        Route(f"{REST1}/assets/contact/list/{{id:int}}", put, methods=["PUT"]),
    ]
