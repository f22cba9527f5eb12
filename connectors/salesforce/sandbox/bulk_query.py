"""Bulk API 2.0 query jobs: create, poll, abort/delete, and read results as CSV pages.

Results follow the Sforce-Locator protocol: each GET .../results?maxRecords=N[&locator=L] returns up to N
rows (header row first, every value quoted, null as an empty unquoted field) with the headers
`Sforce-NumberOfRecords` and `Sforce-Locator` (the next locator, or the string "null" after the last
page). Which records a job returns is fixed when it runs (their row numbers, 4 bytes each); a page is
rendered when read, 10,000 rows at a time through Arrow's CSV writer, so a 300,000-row result never sits
in memory. (Salesforce snapshots the values too; here a record changed after the job ran shows its new
values.)
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from starlette.responses import JSONResponse, Response, StreamingResponse

from leadsync.connectors.salesforce.sandbox.bulk_jobs import Job, job_options
from leadsync.connectors.salesforce.sandbox.context import ApiCall, Org
from leadsync.connectors.salesforce.sandbox.errors import ApiError
from leadsync.connectors.salesforce.sandbox.rest_query import compile_or_400
from leadsync.connectors.salesforce.sandbox.soql_engine import QueryPlan, column_values, select_rows

ENCODE_CHUNK_ROWS = 10_000
MAX_PAGE_ROWS = 1_000_000

_ARROW_TYPES = {"int": pa.int64(), "double": pa.float64(), "currency": pa.float64(), "percent": pa.float64(),
                "boolean": pa.bool_()}


def create(org: Org, call: ApiCall) -> JSONResponse:
    """POST /jobs/query {"operation": "query"|"queryAll", "query": SOQL}."""
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize the job request")
    operation = body.get("operation")
    if operation not in ("query", "queryAll"):
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
    options = job_options(body)
    plan = compile_or_400(org, body.get("query"))
    if plan.count_only:
        raise ApiError(400, "INVALIDJOB", "InvalidJob : Aggregate queries are not supported by Bulk API 2.0")
    if plan.query.offset is not None:
        raise ApiError(400, "INVALIDJOB", "InvalidJob : OFFSET is not supported by Bulk API 2.0")
    job = org.bulk.create("query", operation=operation, object=plan.sobject.name, created_by=call.user_id,
                          api_version=call.api_version, query=body["query"], **options)
    job.state = "UploadComplete"
    created = job.info(full=False)
    failure = org.faults.take_bulk_job_failure()
    org.bulk.run_in_background(job, lambda j: _run(org, j, plan, failure))
    return JSONResponse(created)


@dataclass
class QueryResult:
    """A finished query job: which records it matched (row numbers, 4 bytes each), rendered on demand."""

    plan: QueryPlan
    rows: np.ndarray


def _run(org: Org, job: Job, plan: QueryPlan, failure: str | None) -> None:
    if failure:
        org.bulk.set_state(job, "Failed", failure)
        return
    rows = select_rows(plan, org.store, include_deleted=job.operation == "queryAll")
    job.payload = QueryResult(plan, np.asarray(rows, dtype=np.int32))
    job.records_processed = len(rows)


def info(org: Org, call: ApiCall) -> Response:
    """GET job info; PATCH {"state": "Aborted"}; DELETE."""
    job = org.bulk.get(call.params["job_id"], "query")
    if call.method == "GET":
        return JSONResponse(job.info())
    if call.method == "DELETE":
        org.bulk.delete(job)
        return Response(status_code=204)
    state = (call.json() or {}).get("state")
    if state != "Aborted":
        raise ApiError(400, "INVALIDJOBSTATE", f"InvalidJobState : Invalid state for a query job: {state}")
    if job.state in ("JobComplete", "Failed", "Aborted"):
        raise ApiError(400, "INVALIDJOBSTATE", f"InvalidJobState : Job is already {job.state}")
    org.bulk.set_state(job, "Aborted")
    return JSONResponse(job.info(full=False))


def listing(org: Org, call: ApiCall) -> JSONResponse:
    jobs = [job.info(full=False) | {"jobType": "V2Query"} for job in org.bulk.list("query")]
    return JSONResponse({"done": True, "records": jobs, "nextRecordsUrl": None})


def _offset(locator: str | None) -> int:
    if not locator or locator == "null":
        return 0
    try:
        return int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def results(org: Org, call: ApiCall) -> Response:
    """GET /jobs/query/{id}/results?maxRecords=N&locator=L: one CSV page."""
    job = org.bulk.get(call.params["job_id"], "query")
    if job.state != "JobComplete":
        raise ApiError(400, "INVALIDJOBSTATE", f"InvalidJobState : Results are available once the job is "
                                              f"JobComplete; it is {job.state}")
    result: QueryResult = job.payload
    total = len(result.rows)
    start = _offset(call.query.get("locator"))
    max_records = call.query.get("maxRecords")
    if max_records is not None and (not max_records.isdigit() or int(max_records) <= 0):
        raise ApiError(400, "INVALIDPARAMETER", f"Invalid maxRecords: {max_records}")
    size = min(int(max_records), MAX_PAGE_ROWS) if max_records else MAX_PAGE_ROWS
    end = min(total, start + size)
    headers = {"Sforce-NumberOfRecords": str(max(0, end - start)),
               "Sforce-Locator": _locator(end) if end < total else "null"}
    return StreamingResponse(_encode(org, job, result, start, end), media_type="text/csv", headers=headers)


def _encode(org: Org, job: Job, result: QueryResult, start: int, end: int) -> Iterator[bytes]:
    """The page as CSV, made ENCODE_CHUNK_ROWS rows at a time (Arrow's CSV writer: RFC 4180 quoting,
    every value quoted, nulls empty)."""
    delimiter, eol = job.delimiter, job.eol
    paths = result.plan.fields
    yield (delimiter.join(f'"{path.path}"' for path in paths) + eol).encode()
    options = pacsv.WriteOptions(include_header=False, delimiter=delimiter, quoting_style="all_valid",
                                 eol=eol)
    types = [_ARROW_TYPES.get(path.spec.type, pa.string()) for path in paths]
    for chunk_start in range(start, end, ENCODE_CHUNK_ROWS):
        rows = result.rows[chunk_start:min(end, chunk_start + ENCODE_CHUNK_ROWS)].tolist()
        columns = column_values(result.plan, org.store, rows)
        arrays = [pa.array(columns[path.path], type=kind) for path, kind in zip(paths, types, strict=True)]
        out = io.BytesIO()
        pacsv.write_csv(pa.table(arrays, names=[path.path for path in paths]), out, write_options=options)
        yield out.getvalue()
