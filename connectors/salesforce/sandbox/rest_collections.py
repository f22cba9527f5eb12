"""sObject Collections (`/composite/sobjects`): create, update, upsert by external id, delete and retrieve
up to 200 records per call, with per-record results in input order.

With allOrNone false each record succeeds or fails alone (HTTP 200 either way); with allOrNone true one
failure rolls every record back: the bad record keeps its error, the others report
ALL_OR_NONE_OPERATION_ROLLED_BACK. A malformed request (no records, more than 200, an unknown object or
field) is refused whole with 400.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse

from leadsync.connectors.salesforce.sandbox.context import ApiCall, Org
from leadsync.connectors.salesforce.sandbox.errors import ApiError, RecordError, RecordRejected, not_found
from leadsync.connectors.salesforce.sandbox.schema import ObjectSpec

MAX_RECORDS = 200
ROLLED_BACK = RecordError("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records "
                          "were valid and the request was using AllOrNone header")


def _too_many() -> ApiError:
    return ApiError(400, "EXCEEDED_ID_LIMIT",
                    "record limit reached. cannot submit more than 200 records into this call")


def _records(org: Org, call: ApiCall, only: ObjectSpec | None = None) -> tuple[list[tuple[ObjectSpec, dict]],
                                                                                bool]:
    body = call.json()
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise ApiError(400, "JSON_PARSER_ERROR",
                       "Cannot deserialize the request: a 'records' list is required")
    if len(records) > MAX_RECORDS:
        raise _too_many()
    all_or_none = bool(body.get("allOrNone", False))
    out = []
    for item in records:
        kind = item.get("attributes", {}).get("type") if isinstance(item, dict) else None
        if not kind:
            raise ApiError(400, "JSON_PARSER_ERROR", "No type information available to deserialize SObject: "
                                                     "each record needs attributes.type")
        spec = org.schema.object(kind)
        if spec is None:
            raise ApiError(400, "INVALID_TYPE", f"sObject type '{kind}' is not supported.")
        if only is not None and spec.name != only.name:
            raise ApiError(400, "INVALID_TYPE", f"Records of type {spec.name} are not allowed in an upsert "
                                                f"of {only.name}")
        for key in item:
            if key != "attributes" and spec.field(key) is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {spec.name}")
        out.append((spec, {k: v for k, v in item.items() if k != "attributes"}))
    return out, all_or_none


def _run(org: Org, items: list[Any], all_or_none: bool,
         write: Callable[[Any], dict]) -> JSONResponse:
    """Apply `write` to each item; it returns the success entry or raises RecordRejected."""
    results: list[dict | None] = []
    failures: list[tuple[int, RecordRejected]] = []
    with org.store.transaction() as tx:
        for position, item in enumerate(items):
            try:
                results.append(write(item))
            except RecordRejected as exc:
                results.append(None)
                failures.append((position, exc))
        if failures and all_or_none:
            tx.rollback()
    failed = dict(failures)
    out = []
    for position, entry in enumerate(results):
        if position in failed:
            errors = [e.for_collections() for e in failed[position].errors]
            out.append({**_identity(items[position]), "success": False, "errors": errors})
        elif failures and all_or_none:
            out.append({**_identity(items[position]), "success": False,
                        "errors": [ROLLED_BACK.for_collections()]})
        else:
            out.append(entry)
    return JSONResponse(out)


def _identity(item: Any) -> dict:
    """What a failed entry says about its record: its id when the request named one."""
    if isinstance(item, str):
        return {"id": item}
    if isinstance(item, tuple) and isinstance(item[1], dict):
        record_id = item[1].get("id") or item[1].get("Id")
        if record_id:
            return {"id": record_id}
    return {}


def create(org: Org, call: ApiCall) -> JSONResponse:
    """POST /composite/sobjects."""
    items, all_or_none = _records(org, call)

    def write(item: tuple[ObjectSpec, dict]) -> dict:
        spec, values = item
        if any(k.lower() == "id" for k in values):
            raise RecordRejected(RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ("Id",)))
        return {"id": org.writer.create(spec.name, values), "success": True, "errors": []}

    return _run(org, items, all_or_none, write)


def update(org: Org, call: ApiCall) -> JSONResponse:
    """PATCH /composite/sobjects: each record names its id."""
    items, all_or_none = _records(org, call)

    def write(item: tuple[ObjectSpec, dict]) -> dict:
        spec, values = item
        record_id = values.get("id") or values.get("Id")
        if not record_id:
            raise RecordRejected(RecordError("MISSING_ARGUMENT", "Id not specified in an update call",
                                             ("Id",)))
        changes = {k: v for k, v in values.items() if k.lower() != "id"}
        return {"id": org.writer.update(spec.name, record_id, changes), "success": True, "errors": []}

    return _run(org, items, all_or_none, write)


def upsert(org: Org, call: ApiCall) -> JSONResponse:
    """PATCH /composite/sobjects/{Object}/{ExternalIdField}: results add "created"."""
    spec = org.schema.object(call.params["sobject"])
    if spec is None:
        raise not_found()
    key = spec.field(call.params["field"])
    if key is None or not key.external_id:
        raise ApiError(400, "INVALID_FIELD", f"Field name provided, {call.params['field']} is not an External "
                                             f"ID or indexed field for {spec.name}")
    items, all_or_none = _records(org, call, only=spec)

    def write(item: tuple[ObjectSpec, dict]) -> dict:
        _, values = item
        value = next((v for k, v in values.items() if k.lower() == key.name.lower()), None)
        if value in (None, ""):
            raise RecordRejected(RecordError("MISSING_ARGUMENT", f"{key.name} not specified", (key.name,)))
        record_id, created = org.writer.upsert(spec.name, key.name, value, values)
        return {"id": record_id, "success": True, "errors": [], "created": created}

    return _run(org, items, all_or_none, write)


def delete(org: Org, call: ApiCall) -> JSONResponse:
    """DELETE /composite/sobjects?ids=a,b&allOrNone=false."""
    ids = [i for i in call.query.get("ids", "").split(",") if i]
    if not ids:
        raise ApiError(400, "MISSING_ARGUMENT", "ids parameter is required")
    if len(ids) > MAX_RECORDS:
        raise _too_many()
    all_or_none = call.query.get("allOrNone", "false").lower() == "true"

    def write(record_id: str) -> dict:
        return {"id": org.writer.delete(None, record_id), "success": True, "errors": []}

    return _run(org, ids, all_or_none, write)


def retrieve(org: Org, call: ApiCall) -> JSONResponse:
    """GET /composite/sobjects/{Object}?ids=...&fields=...: records in order, null where not found."""
    spec = org.schema.object(call.params["sobject"])
    if spec is None:
        raise not_found()
    ids = [i for i in call.query.get("ids", "").split(",") if i]
    names = [n for n in call.query.get("fields", "").split(",") if n]
    if not ids or not names:
        raise ApiError(400, "MISSING_ARGUMENT", "ids and fields parameters are required")
    if len(ids) > 2000:
        raise _too_many()
    resolved = []
    for name in names:
        field_spec = spec.field(name)
        if field_spec is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{spec.name}'")
        resolved.append(field_spec.name)
    table = org.store.tables[spec.name]
    out: list[dict | None] = []
    with org.store.lock:
        for record_id in ids:
            row = table.row(record_id)
            if row is None or table.is_deleted(row):
                out.append(None)
                continue
            current_id = table.get(row, "Id")
            entry = {"attributes": {"type": spec.name,
                                    "url": f"/services/data/v{call.version}/sobjects/{spec.name}/{current_id}"}}
            entry.update(table.record(row, resolved))
            out.append(entry)
    return JSONResponse(out)
