"""Bulk API 2.0 ingest jobs: create (insert, update, upsert, delete), upload CSV, close, poll, and read
successfulResults / failedResults / unprocessedrecords.

The CSV is parsed by its header row (clients send columns in any order). An empty cell leaves a field
alone and "#N/A" sets it to null, as in Salesforce. A header naming an unknown field fails the whole job
("InvalidBatch : Field name not found : X"); a bad row fails alone, with `sf__Error` as
"CODE:message:Field --". Rows are written 200 at a time, each record on its own (a failed row does not
roll back the others).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from starlette.responses import JSONResponse, Response

from leadsync.connectors.salesforce.sandbox.bulk_jobs import Job, job_options
from leadsync.connectors.salesforce.sandbox.context import ApiCall, Org
from leadsync.connectors.salesforce.sandbox.errors import ApiError, RecordRejected

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
CHUNK = 200
MAX_UPLOAD_BYTES = 150 * 1024 * 1024


@dataclass
class IngestData:
    uploads: list[bytes] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)


def create(org: Org, call: ApiCall) -> JSONResponse:
    """POST /jobs/ingest {"object", "operation", "externalIdFieldName"?, "contentType": "CSV", ...}."""
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize the job request")
    operation = body.get("operation")
    if operation not in OPERATIONS:
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
    spec = org.schema.object(body.get("object") or "")
    if spec is None:
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid sObject type: {body.get('object')}")
    external = body.get("externalIdFieldName")
    if operation == "upsert":
        key = spec.field(external or "")
        if key is None or not (key.external_id or key.name == "Id"):
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Field name provided, {external} is not an "
                                              f"External ID or indexed field for {spec.name}")
        external = key.name
    options = job_options(body)
    job = org.bulk.create("ingest", operation=operation, object=spec.name, created_by=call.user_id,
                          api_version=call.api_version, external_id_field=external if operation == "upsert"
                          else None, **options)
    job.payload = IngestData()
    return JSONResponse(job.info(full=False))


def upload(org: Org, call: ApiCall) -> Response:
    """PUT /jobs/ingest/{id}/batches with the CSV: 201 Created."""
    job = org.bulk.get(call.params["job_id"], "ingest")
    if job.state != "Open":
        raise ApiError(400, "INVALIDJOBSTATE", f"InvalidJobState : Job is {job.state}; data can be "
                                              "uploaded only while it is Open")
    data: IngestData = job.payload
    if sum(len(u) for u in data.uploads) + len(call.body) > MAX_UPLOAD_BYTES:
        raise ApiError(400, "INVALIDBATCH", "InvalidBatch : The upload exceeds 150 MB")
    data.uploads.append(call.body)
    return Response(status_code=201)


def info(org: Org, call: ApiCall) -> Response:
    """GET job info; PATCH {"state": "UploadComplete"|"Aborted"}; DELETE."""
    job = org.bulk.get(call.params["job_id"], "ingest")
    if call.method == "GET":
        return JSONResponse(job.info())
    if call.method == "DELETE":
        if job.state in ("Open", "UploadComplete", "InProgress"):
            raise ApiError(400, "INVALIDJOBSTATE", f"InvalidJobState : Job is {job.state}; abort it first")
        org.bulk.delete(job)
        return Response(status_code=204)
    state = (call.json() or {}).get("state")
    if state == "UploadComplete":
        if job.state != "Open":
            raise ApiError(400, "INVALIDJOBSTATE", f"InvalidJobState : Job is already {job.state}")
        org.bulk.set_state(job, "UploadComplete")
        closed = job.info(full=False)
        failure = org.faults.take_bulk_job_failure()
        org.bulk.run_in_background(job, lambda j: _process(org, j, failure))
        return JSONResponse(closed)
    if state == "Aborted":
        if job.state in ("JobComplete", "Failed", "Aborted"):
            raise ApiError(400, "INVALIDJOBSTATE", f"InvalidJobState : Job is already {job.state}")
        org.bulk.set_state(job, "Aborted")
        return JSONResponse(job.info(full=False))
    raise ApiError(400, "INVALIDJOBSTATE", f"InvalidJobState : Invalid state: {state}")


def listing(org: Org, call: ApiCall) -> JSONResponse:
    jobs = [job.info(full=False) | {"jobType": "V2Ingest"} for job in org.bulk.list("ingest")]
    return JSONResponse({"done": True, "records": jobs, "nextRecordsUrl": None})


def _fail(org: Org, job: Job, data: IngestData, rows: list[list[str]], message: str) -> None:
    data.unprocessed = rows
    org.bulk.set_state(job, "Failed", message)


def _process(org: Org, job: Job, failure: str | None) -> None:
    data: IngestData = job.payload
    text = b"".join(data.uploads).decode("utf-8-sig", errors="replace")
    parsed = list(csv.reader(io.StringIO(text, newline=""), delimiter=job.delimiter))
    parsed = [row for row in parsed if row]
    if not parsed:
        org.bulk.set_state(job, "Failed", "InvalidBatch : Empty CSV file")
        return
    header, rows = parsed[0], parsed[1:]
    data.header = header
    if failure:
        _fail(org, job, data, rows, failure)
        return
    spec = org.schema.object(job.object)
    for name in header:
        if spec.field(name) is None:
            _fail(org, job, data, rows, f"InvalidBatch : Field name not found : {name}")
            return
    lowered = [name.lower() for name in header]
    needed = {"update": "id", "delete": "id", "hardDelete": "id",
              "upsert": (job.external_id_field or "").lower()}
    if job.operation in needed and needed[job.operation] not in lowered:
        missing = "Id" if needed[job.operation] == "id" else job.external_id_field
        _fail(org, job, data, rows, f"InvalidBatch : Field name not found : {missing}")
        return
    for start in range(0, len(rows), CHUNK):
        if job.state == "Aborted":
            data.unprocessed = rows[start:]
            return
        with org.store.lock:
            for row in rows[start:start + CHUNK]:
                _ingest_row(org, job, data, header, row)


def _ingest_row(org: Org, job: Job, data: IngestData, header: list[str], row: list[str]) -> None:
    writer = org.writer
    values = dict(zip(header, row, strict=False))
    given_id = next((v for k, v in values.items() if k.lower() == "id"), "")
    job.records_processed += 1
    if len(row) != len(header):
        data.failed.append([given_id, (f"INVALID_ROW:Row has {len(row)} columns, the header has "
                                      f"{len(header)}: --"), *row])
        job.records_failed += 1
        return
    try:
        if job.operation == "insert":
            record_id, created = writer.create(job.object, values, from_csv=True), True
        elif job.operation == "update":
            body = {k: v for k, v in values.items() if k.lower() != "id"}
            record_id, created = writer.update(job.object, given_id, body, from_csv=True), False
        elif job.operation == "upsert":
            key = job.external_id_field or "Id"
            key_value = next(v for k, v in values.items() if k.lower() == key.lower())
            record_id, created = writer.upsert(job.object, key, key_value, values, from_csv=True)
        else:
            record_id, created = writer.delete(job.object, given_id), False
    except RecordRejected as exc:
        data.failed.append([given_id, " ".join(e.for_bulk() for e in exc.errors), *row])
        job.records_failed += 1
        return
    data.successful.append([record_id, "true" if created else "false", *row])


def results(org: Org, call: ApiCall) -> Response:
    """GET /jobs/ingest/{id}/successfulResults | failedResults | unprocessedrecords (CSV)."""
    job = org.bulk.get(call.params["job_id"], "ingest")
    kind = call.params["kind"].lower()
    data: IngestData = job.payload
    if kind == "successfulresults":
        columns, rows = ["sf__Id", "sf__Created", *data.header], list(data.successful)
    elif kind == "failedresults":
        columns, rows = ["sf__Id", "sf__Error", *data.header], list(data.failed)
    elif kind == "unprocessedrecords":
        columns, rows = list(data.header), list(data.unprocessed)
    else:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    out = io.StringIO()
    writer = csv.writer(out, delimiter=job.delimiter, lineterminator=job.eol, quoting=csv.QUOTE_ALL)
    if columns:
        writer.writerow(columns)
    writer.writerows(rows)
    return Response(out.getvalue().encode(), media_type="text/csv")
