"""REST resources around sObjects: versions, resources, limits, describeGlobal, describe, and single-record
create / read / update / delete / upsert by external id (`/sobjects/{Object}/{Field}/{value}`)."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from leadsync.connectors.salesforce.sandbox.context import ApiCall, Org
from leadsync.connectors.salesforce.sandbox.describe import basic_info, describe_global, describe_object
from leadsync.connectors.salesforce.sandbox.errors import ApiError, RecordRejected, not_found
from leadsync.connectors.salesforce.sandbox.ids import looks_like_id
from leadsync.connectors.salesforce.sandbox.schema import ObjectSpec
from leadsync.connectors.salesforce.sandbox.soql_engine import FIELD_HINT
from leadsync.connectors.salesforce.sandbox.store import Table

SUPPORTED_VERSIONS = [f"{v}.0" for v in range(31, 63)]
_RELEASES = {59: "Winter '24", 60: "Spring '24", 61: "Summer '24", 62: "Winter '25"}


def versions() -> JSONResponse:
    return JSONResponse([{"label": _RELEASES.get(int(float(v)), f"API {v}"), "url": f"/services/data/v{v}",
                          "version": v} for v in SUPPORTED_VERSIONS])


def resources(org: Org, call: ApiCall) -> JSONResponse:
    base = f"/services/data/v{call.version}"
    names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs", "search", "recent", "tooling"]
    return JSONResponse({name: f"{base}/{name}" for name in names})


def limits(org: Org, call: ApiCall) -> JSONResponse:
    return JSONResponse(org.budget.limits_body())


def global_describe(org: Org, call: ApiCall) -> JSONResponse:
    return JSONResponse(describe_global(org.schema, call.version))


def _object(org: Org, call: ApiCall) -> tuple[ObjectSpec, Table]:
    spec = org.schema.object(call.params["sobject"])
    if spec is None:
        raise not_found()
    return spec, org.store.tables[spec.name]


def sobject_root(org: Org, call: ApiCall) -> Response:
    """GET basic info; POST creates a record."""
    spec, _ = _object(org, call)
    if call.method == "GET":
        return JSONResponse(basic_info(spec, call.version))
    values = call.json()
    if not isinstance(values, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from START_ARRAY")
    try:
        record_id = org.writer.create(spec.name, values)
    except RecordRejected as exc:
        return JSONResponse([e.for_rest() for e in exc.errors], status_code=400)
    return JSONResponse({"id": record_id, "success": True, "errors": []}, status_code=201)


def describe(org: Org, call: ApiCall) -> JSONResponse:
    spec, _ = _object(org, call)
    return JSONResponse(describe_object(spec, org.schema, call.version))


def _record_body(org: Org, call: ApiCall, spec: ObjectSpec, table: Table, row: int) -> dict:
    wanted = call.query.get("fields")
    if wanted:
        names = []
        for name in (n.strip() for n in wanted.split(",") if n.strip()):
            field_spec = spec.field(name)
            if field_spec is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{spec.name}'. "
                                                     f"{FIELD_HINT}")
            names.append(field_spec.name)
    else:
        names = list(spec.fields)
    with org.store.lock:
        record_id = table.get(row, "Id")
        body = {"attributes": {"type": spec.name,
                               "url": f"/services/data/v{call.version}/sobjects/{spec.name}/{record_id}"}}
        body.update(table.record(row, names))
    return body


def _rejected(exc: RecordRejected) -> JSONResponse:
    first = exc.errors[0]
    if first.code == "INVALID_CROSS_REFERENCE_KEY" and not first.fields:  # the record itself is unknown
        raise not_found()
    status = 404 if first.code == "ENTITY_IS_DELETED" else 400
    return JSONResponse([e.for_rest() for e in exc.errors], status_code=status)


def record(org: Org, call: ApiCall) -> Response:
    """GET, PATCH (update) or DELETE /sobjects/{Object}/{Id}."""
    spec, table = _object(org, call)
    record_id = call.params["record_id"]
    if not looks_like_id(record_id) or record_id[:3] != spec.key_prefix:
        raise not_found()
    if call.method == "GET":
        with org.store.lock:
            row = table.row(record_id)
            if row is None or table.is_deleted(row):
                raise not_found()
            return JSONResponse(_record_body(org, call, spec, table, row))
    try:
        if call.method == "PATCH":
            values = call.json()
            if not isinstance(values, dict):
                raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from START_ARRAY")
            org.writer.update(spec.name, record_id, values)
        else:
            org.writer.delete(spec.name, record_id)
    except RecordRejected as exc:
        return _rejected(exc)
    return Response(status_code=204)


def by_external_id(org: Org, call: ApiCall) -> Response:
    """GET, PATCH (upsert) or DELETE /sobjects/{Object}/{ExternalIdField}/{value}."""
    spec, table = _object(org, call)
    field_name, value = call.params["field"], call.params["value"]
    key = spec.field(field_name)
    if key is None or not (key.external_id or key.name == "Id"):
        raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                                         f"{field_name}")
    with org.store.lock:
        matches = table.find(key.name, value) if key.name != "Id" else (
            [r] if (r := table.row(value)) is not None and not table.is_deleted(r) else [])
        if len(matches) > 1:
            base = f"/services/data/v{call.version}/sobjects/{spec.name}"
            urls = [f"{base}/{table.get(r, 'Id')}" for r in matches]
            return JSONResponse(urls, status_code=300)
        if call.method == "GET":
            if not matches:
                raise not_found()
            return JSONResponse(_record_body(org, call, spec, table, matches[0]))
        if call.method == "DELETE":
            if not matches:
                raise not_found()
            try:
                org.writer.delete(spec.name, table.get(matches[0], "Id"))
            except RecordRejected as exc:
                return _rejected(exc)
            return Response(status_code=204)
        values = call.json()
        if not isinstance(values, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from START_ARRAY")
        try:
            record_id, created = org.writer.upsert(spec.name, key.name, value, values)
        except RecordRejected as exc:
            return JSONResponse([e.for_rest() for e in exc.errors], status_code=400)
    if created:
        return JSONResponse({"id": record_id, "success": True, "errors": [], "created": True},
                            status_code=201)
    if call.api_version < 46:
        return Response(status_code=204)
    return JSONResponse({"id": record_id, "success": True, "errors": [], "created": False}, status_code=200)
