"""Bulk API 1.0 resources: jobs, batches, batch requests and results, for query/queryAll and DML.

    POST /services/async/{v}/job                                  create (JobInfo in XML or JSON)
    GET|POST /services/async/{v}/job/{job}                        info | close or abort ({"state": ...})
    POST|GET /services/async/{v}/job/{job}/batch                  add a batch | list batches
    GET .../batch/{batch}[/request|/result|/result/{result}]      batch info, its data, its results

Requests authenticate with `X-SFDC-Session: <token>` (or `Authorization: Bearer`). Batches of CSV or JSON
content are processed when they arrive: the add-batch answer says Queued, as Salesforce's does, and the
first poll already finds the batch Completed (or Failed, with a stateMessage), so a client's wait between
polls is never spent. Query results come as one result file per batch: CSV with every value quoted, or JSON
records with `attributes` where date-times and dates are epoch milliseconds, as Bulk 1.0 writes them. DML
results are per record, in input order: JSON `{"success", "created", "id", "errors"}` or CSV
`"Id","Success","Created","Error"`.

`Sforce-Enable-PKChunking: true | chunkSize=N[; startRow=<id>]` on a query job splits each query batch into
one batch per N record ids (default 100,000, at most 250,000), counting deleted records' ids as Salesforce
does; the original batch is then `NotProcessed`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadsync.connectors.salesforce.sandbox.bulk_v1_jobs import (
    BATCH_PREFIX,
    CONTENT_TYPES,
    JOB_PREFIX,
    OPERATIONS,
    RESULT_PREFIX,
    Batch,
    BulkV1Error,
    DmlResult,
    V1Job,
    parse_job_request,
    render,
    request_format,
)
from leadsync.connectors.salesforce.sandbox.clock import BadDateTime, parse_datetime
from leadsync.connectors.salesforce.sandbox.context import Org
from leadsync.connectors.salesforce.sandbox.errors import ApiError, RecordError, RecordRejected
from leadsync.connectors.salesforce.sandbox.rest_query import compile_or_400
from leadsync.connectors.salesforce.sandbox.soql_engine import QueryPlan, column_values, render_records, select_rows

ASYNC = "/services/async/{version}"
_VERSION = re.compile(r"^\d{2,3}\.\d$")
MAX_BATCH_RECORDS = 10_000
MAX_BATCH_BYTES = 10_000_000
DEFAULT_CHUNK, MAX_CHUNK = 100_000, 250_000


def routes(org: Org) -> list[Route]:
    def route(path: str, handler: Callable, methods: list[str]) -> Route:
        return Route(ASYNC + path, _endpoint(org, handler), methods=methods)

    return [
        route("/job", create_job, ["POST"]),
        route("/job/{job_id}", job, ["GET", "POST"]),
        route("/job/{job_id}/batch", batches, ["GET", "POST"]),
        route("/job/{job_id}/batch/{batch_id}", batch_info, ["GET"]),
        route("/job/{job_id}/batch/{batch_id}/request", batch_request, ["GET"]),
        route("/job/{job_id}/batch/{batch_id}/result", batch_result, ["GET"]),
        route("/job/{job_id}/batch/{batch_id}/result/{result_id}", query_result, ["GET"]),
    ]


def _endpoint(org: Org, handler: Callable) -> Callable[[Request], object]:
    async def endpoint(request: Request) -> Response:
        fmt = request_format(request.headers.get("content-type"))
        if not _VERSION.match(request.path_params.get("version", "")):
            return BulkV1Error("InvalidVersion", "Invalid api version specified on URL", 404).response(fmt)
        token = request.headers.get("x-sfdc-session")
        authorization = request.headers.get("authorization", "")
        if not token and authorization[:7].lower() == "bearer ":
            token = authorization[7:].strip()
        session = org.sessions.valid(token)
        if session is None:
            return BulkV1Error("InvalidSessionId", "Invalid session id").response(fmt)
        body = await request.body()
        try:
            return await run_in_threadpool(handler, org, request, body, session.user_id)
        except BulkV1Error as exc:
            job_id = request.path_params.get("job_id")
            if job_id:
                try:
                    fmt = org.bulk_v1.get(job_id).format
                except BulkV1Error:
                    pass
            return exc.response(fmt)

    return endpoint


# ------------------------------------------------------------------------------------------ jobs


def create_job(org: Org, request: Request, body: bytes, user_id: str) -> Response:
    fmt = request_format(request.headers.get("content-type"))
    info = parse_job_request(body, fmt)
    operation = info.get("operation")
    if operation not in OPERATIONS:
        raise BulkV1Error("InvalidJob", f"Invalid operation: {operation}" if operation else
                          "Invalid job: operation is required")
    spec = org.schema.object(str(info.get("object") or ""))
    if spec is None:
        raise BulkV1Error("InvalidJob", f"Unable to find object: {info.get('object')}")
    content_type = str(info.get("contentType") or "XML")
    if content_type not in CONTENT_TYPES:
        raise BulkV1Error("InvalidJob", f"contentType {content_type} is not served by this sandbox; use CSV or JSON")
    mode = info.get("concurrencyMode", "Parallel")
    mode = {0: "Parallel", 1: "Serial", "0": "Parallel", "1": "Serial"}.get(mode, mode)
    if mode not in ("Parallel", "Serial"):
        raise BulkV1Error("InvalidJob", f"Invalid concurrencyMode: {mode}")
    external = info.get("externalIdFieldName") or None
    if operation == "upsert":
        key = spec.field(external or "")
        if key is None or not (key.external_id or key.name == "Id"):
            raise BulkV1Error("InvalidJob", f"Field name provided, {external} is not an External ID or indexed "
                                            f"field for {spec.name}")
        external = key.name
    version = request.path_params["version"]
    now = org.clock.now_wire()
    job = V1Job(org.store.ids.new(JOB_PREFIX), operation, spec.name, user_id, now, float(version), content_type,
                concurrency_mode=mode, external_id_field=external if operation == "upsert" else None,
                system_modstamp=now)
    chunking = request.headers.get("sforce-enable-pkchunking")
    if chunking and chunking.strip().lower() != "false":
        if not job.is_query:
            raise BulkV1Error("InvalidJob", "PK chunking is supported only for query and queryAll jobs")
        job.pk_chunk_size, job.pk_start_row = _pk_chunking(chunking)
    org.bulk_v1.add(job)
    return render(fmt, "jobInfo", job.info(), status=201)


def _pk_chunking(header: str) -> tuple[int, str | None]:
    size, start = DEFAULT_CHUNK, None
    for part in re.split(r"[;,]", header):
        key, _, value = part.strip().partition("=")
        key = key.strip().lower()
        if key == "chunksize":
            if not value.strip().isdigit() or not 0 < int(value) <= MAX_CHUNK:
                raise BulkV1Error("InvalidJob", f"Chunk size must be between 1 and {MAX_CHUNK:,}: {value}")
            size = int(value)
        elif key == "startrow":
            start = value.strip()
    return size, start


def job(org: Org, request: Request, body: bytes, user_id: str) -> Response:
    """GET: JobInfo. POST {"state": "Closed"|"Aborted"}: close or abort the job."""
    found = org.bulk_v1.get(request.path_params["job_id"])
    if request.method == "POST":
        state = parse_job_request(body, request_format(request.headers.get("content-type"))).get("state")
        if state not in ("Closed", "Aborted"):
            raise BulkV1Error("InvalidJobState", f"Invalid state: {state}")
        with org.bulk_v1.lock:
            if found.state != "Open" and not (state == "Aborted" and found.state == "Closed"):
                raise BulkV1Error("InvalidJobState", f"Job {found.id} is {found.state}")
            found.state = state
            found.system_modstamp = org.clock.now_wire()
            if state == "Aborted":
                for batch in found.batches.values():
                    if batch.state in ("Queued", "InProgress"):
                        batch.state, batch.state_message = "NotProcessed", "Job aborted"
    return render(found.format, "jobInfo", found.info())


# ------------------------------------------------------------------------------------------ batches


def batches(org: Org, request: Request, body: bytes, user_id: str) -> Response:
    """POST: add a batch (its data, or for a query job its SOQL). GET: every batch of the job."""
    found = org.bulk_v1.get(request.path_params["job_id"])
    if request.method == "GET":
        with org.bulk_v1.lock:
            infos = [b.info() for b in found.batches.values()]
        return render(found.format, "batchInfoList", infos)
    if found.state != "Open":
        raise BulkV1Error("InvalidJobState", f"Unable to add a batch: job {found.id} is {found.state}")
    if len(body) > MAX_BATCH_BYTES:
        raise BulkV1Error("InvalidBatch", f"Exceeded max size limit of {MAX_BATCH_BYTES}")
    batch = _new_batch(org, found, body)
    answer = batch.info() | {"state": "Queued", "numberRecordsProcessed": 0, "numberRecordsFailed": 0}
    answer.pop("stateMessage", None)
    if found.is_query:
        _run_query_batch(org, found, batch)
    else:
        _run_dml_batch(org, found, batch)
    return render(found.format, "batchInfo", answer, status=201)


def _new_batch(org: Org, job: V1Job, body: bytes) -> Batch:
    now = org.clock.now_wire()
    batch = Batch(org.store.ids.new(BATCH_PREFIX), job.id, now, body, system_modstamp=now)
    with org.bulk_v1.lock:
        job.batches[batch.id] = batch
    return batch


def _finish(org: Org, batch: Batch, state: str, started: float, message: str | None = None) -> None:
    batch.state, batch.state_message = state, message
    batch.processing_ms = int((time.perf_counter() - started) * 1000)
    batch.system_modstamp = org.clock.now_wire()


def batch_info(org: Org, request: Request, body: bytes, user_id: str) -> Response:
    found = org.bulk_v1.get(request.path_params["job_id"])
    return render(found.format, "batchInfo", org.bulk_v1.batch(found, request.path_params["batch_id"]).info())


def batch_request(org: Org, request: Request, body: bytes, user_id: str) -> Response:
    found = org.bulk_v1.get(request.path_params["job_id"])
    batch = org.bulk_v1.batch(found, request.path_params["batch_id"])
    media = "text/plain" if found.is_query else ("application/json" if found.format == "json" else "text/csv")
    return Response(batch.request, media_type=media)


# ------------------------------------------------------------------------------------------ query


def _run_query_batch(org: Org, job: V1Job, batch: Batch) -> None:
    started = time.perf_counter()
    soql = batch.request.decode("utf-8", "replace").strip()
    try:
        plan = compile_or_400(org, soql)
    except ApiError as exc:
        _finish(org, batch, "Failed", started, f"InvalidBatch : Failed to process query: {exc.code}: {exc.message}")
        return
    if plan.count_only:
        _finish(org, batch, "Failed", started, "InvalidBatch : Aggregate queries are not supported by the Bulk API")
        return
    if plan.sobject.name != job.object:
        _finish(org, batch, "Failed", started, f"InvalidBatch : The query's object {plan.sobject.name} is not "
                                               f"the job's object {job.object}")
        return
    rows = select_rows(plan, org.store, include_deleted=job.operation == "queryAll")
    if job.pk_chunk_size is None:
        _complete_query(org, batch, plan, rows, started)
        return
    if plan.query.limit is not None or plan.query.offset is not None or plan.sort:
        _finish(org, batch, "Failed", started, "InvalidBatch : PK chunking is not supported for queries with "
                                               "ORDER BY, LIMIT or OFFSET")
        return
    _finish(org, batch, "NotProcessed", started)
    table = org.store.tables[plan.sobject.name]
    with org.store.lock:
        ids = sorted(str(i) for i in table.column("Id"))  # deleted records' ids count too
        matched = {str(table.get(r, "Id")): r for r in rows}
    if job.pk_start_row:
        ids = [i for i in ids if i >= job.pk_start_row]
    for start in range(0, len(ids), job.pk_chunk_size):
        low = ids[start]
        high = ids[start + job.pk_chunk_size] if start + job.pk_chunk_size < len(ids) else None
        where = f"Id >= '{low[:15]}'" + (f" AND Id < '{high[:15]}'" if high else "")
        chunk = _new_batch(org, job, f"{soql} {'AND' if plan.where is not None else 'WHERE'} {where}".encode())
        chunk_rows = [matched[i] for i in ids[start:start + job.pk_chunk_size] if i in matched]
        _complete_query(org, chunk, plan, chunk_rows, time.perf_counter())


def _complete_query(org: Org, batch: Batch, plan: QueryPlan, rows: list[int], started: float) -> None:
    batch.query_rows = (plan, rows)
    batch.records_processed = len(rows)
    batch.result_id = org.store.ids.new(RESULT_PREFIX)
    _finish(org, batch, "Completed", started)


def batch_result(org: Org, request: Request, body: bytes, user_id: str) -> Response:
    """A query batch: the list of its result ids. A DML batch: its per-record results."""
    found = org.bulk_v1.get(request.path_params["job_id"])
    batch = org.bulk_v1.batch(found, request.path_params["batch_id"])
    if batch.state != "Completed":
        raise BulkV1Error("InvalidBatch", f"Batch not completed: it is {batch.state}")
    if found.is_query:
        return render(found.format, "result-list", [batch.result_id])
    if found.format == "json":
        return Response(json.dumps([_dml_json(r) for r in batch.dml_results]), media_type="application/json")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["Id", "Success", "Created", "Error"])
    for r in batch.dml_results:
        writer.writerow([r.id or "", str(r.success).lower(), str(r.created).lower(),
                         " ".join(f"{e.code}:{e.message}:{','.join(e.fields)} --" for e in r.errors)])
    return Response(out.getvalue().encode(), media_type="text/csv")


def _dml_json(result: DmlResult) -> dict:
    return {"success": result.success, "created": result.created, "id": result.id,
            "errors": [{"message": e.message, "fields": list(e.fields), "statusCode": e.code} for e in result.errors]}


def query_result(org: Org, request: Request, body: bytes, user_id: str) -> Response:
    found = org.bulk_v1.get(request.path_params["job_id"])
    batch = org.bulk_v1.batch(found, request.path_params["batch_id"])
    result_id = request.path_params["result_id"]
    if not found.is_query or batch.result_id is None or batch.result_id[:15] != result_id[:15]:
        raise BulkV1Error("InvalidBatch", f"Unable to find result {result_id} for batch {batch.id}")
    plan, rows = batch.query_rows
    if found.format == "json":
        records = render_records(plan, org.store, rows, request.path_params["version"])
        for record in records:
            _epoch_dates(plan, record)
        return Response(json.dumps(records), media_type="application/json")
    columns = column_values(plan, org.store, rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow([path.path for path in plan.fields])
    for values in zip(*(columns[path.path] for path in plan.fields), strict=True):
        writer.writerow(["" if v is None else str(v).lower() if isinstance(v, bool) else v for v in values])
    return Response(out.getvalue().encode(), media_type="text/csv")


def _epoch_dates(plan: QueryPlan, record: dict) -> None:
    """Bulk 1.0 JSON writes date-times and dates as epoch milliseconds."""
    for path in plan.fields:
        if path.spec.type not in ("datetime", "date"):
            continue
        target: dict | None = record
        for hop in path.hops:
            target = target.get(hop.relationship_name or hop.name) if target else None
        if not target or target.get(path.spec.name) is None:
            continue
        value = str(target[path.spec.name])
        try:
            moment = parse_datetime(value) if "T" in value else datetime.fromisoformat(value).replace(tzinfo=UTC)
        except (BadDateTime, ValueError):
            continue
        target[path.spec.name] = int(moment.timestamp() * 1000)


# ------------------------------------------------------------------------------------------ DML


def _records(job: V1Job, batch: Batch) -> tuple[list[dict], bool]:
    """The batch's records as dicts, and whether they came from CSV. Raises BulkV1Error."""
    if job.format == "json":
        try:
            data = json.loads(batch.request)
        except (ValueError, UnicodeDecodeError):
            raise BulkV1Error("InvalidBatch", "Failed to parse the JSON batch") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise BulkV1Error("InvalidBatch", "A JSON batch is an array of records")
        return data, False
    rows = [r for r in csv.reader(io.StringIO(batch.request.decode("utf-8-sig", "replace"), newline="")) if r]
    if not rows:
        raise BulkV1Error("InvalidBatch", "Empty CSV batch")
    batch.dml_header = rows[0]
    return [dict(zip(rows[0], row, strict=False)) for row in rows[1:]], True


def _run_dml_batch(org: Org, job: V1Job, batch: Batch) -> None:
    started = time.perf_counter()
    try:
        records, from_csv = _records(job, batch)
    except BulkV1Error as exc:
        _finish(org, batch, "Failed", started, f"{exc.code} : {exc.message}")
        return
    if len(records) > MAX_BATCH_RECORDS:
        _finish(org, batch, "Failed", started, f"InvalidBatch : Records in a single batch can't exceed "
                                               f"{MAX_BATCH_RECORDS:,}")
        return
    spec = org.schema.object(job.object)
    if from_csv:
        unknown = next((name for name in batch.dml_header if spec.field(name) is None), None)
        if unknown is not None:
            _finish(org, batch, "Failed", started, f"InvalidBatch : Field name not found : {unknown}")
            return
    with org.store.lock:
        for record in records:
            batch.dml_results.append(_write_one(org, job, record, from_csv))
    batch.records_processed = len(records)
    batch.records_failed = sum(not r.success for r in batch.dml_results)
    _finish(org, batch, "Completed", started)


def _write_one(org: Org, job: V1Job, record: dict, from_csv: bool) -> DmlResult:
    writer = org.writer
    values = {k: v for k, v in record.items() if k != "attributes"}
    given_id = next((v for k, v in values.items() if k.lower() == "id"), None) or None
    try:
        if job.operation == "insert":
            return DmlResult(writer.create(job.object, values, from_csv=from_csv), True, True)
        if job.operation in ("update", "delete", "hardDelete") and not given_id:
            raise RecordRejected(RecordError("MISSING_ARGUMENT", f"Id not specified in an {job.operation} call",
                                             ("Id",)))
        if job.operation == "update":
            body = {k: v for k, v in values.items() if k.lower() != "id"}
            return DmlResult(writer.update(job.object, given_id, body, from_csv=from_csv), True, False)
        if job.operation == "upsert":
            key = job.external_id_field or "Id"
            key_value = next((v for k, v in values.items() if k.lower() == key.lower()), None)
            record_id, created = writer.upsert(job.object, key, key_value, values, from_csv=from_csv)
            return DmlResult(record_id, True, created)
        return DmlResult(writer.delete(job.object, given_id), True, False)
    except RecordRejected as exc:
        return DmlResult(given_id, False, False, list(exc.errors))
