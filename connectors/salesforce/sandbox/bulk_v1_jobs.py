"""Bulk API 1.0 (`/services/async/{version}/...`): jobs and batches, and their wire formats.

A job's JobInfo and BatchInfo travel as XML (namespace `http://www.force.com/2009/06/asyncapi/dataload`) or
JSON: JSON for a job whose contentType is JSON, XML otherwise (a CSV job answers in XML except for its
data: query results and DML results are CSV). Errors are `<error><exceptionCode>…` (or the JSON
`{"exceptionCode", "exceptionMessage"}`) with HTTP 400, an invalid session included (`InvalidSessionId`;
Bulk 1.0 does not answer 401). Jobs live in memory only.
"""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from starlette.responses import Response

NS = "http://www.force.com/2009/06/asyncapi/dataload"
JOB_PREFIX, BATCH_PREFIX, RESULT_PREFIX = "750", "751", "752"
OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete", "query", "queryAll")
CONTENT_TYPES = ("CSV", "JSON")  # XML and the ZIP_* types are not served (see the README)
MAX_JOBS = 500


class BulkV1Error(Exception):
    """A request-level Bulk API 1.0 error: HTTP `status` with an <error> body."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status

    def response(self, fmt: str) -> Response:
        return render(fmt, "error", {"exceptionCode": self.code, "exceptionMessage": self.message},
                      status=self.status)


@dataclass
class DmlResult:
    id: str | None
    success: bool
    created: bool
    errors: list = field(default_factory=list)  # RecordError


@dataclass
class Batch:
    id: str
    job_id: str
    created_date: str
    request: bytes
    state: str = "Queued"  # Queued | InProgress | Completed | Failed | NotProcessed
    state_message: str | None = None
    system_modstamp: str = ""
    records_processed: int = 0
    records_failed: int = 0
    processing_ms: int = 0
    result_id: str | None = None  # a query batch's one result file
    query_rows: Any = None  # a query batch's matched rows
    dml_results: list[DmlResult] = field(default_factory=list)
    dml_header: list[str] = field(default_factory=list)  # a CSV DML batch's columns

    def info(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "jobId": self.job_id, "state": self.state}
        if self.state_message:
            body["stateMessage"] = self.state_message
        body.update({"createdDate": self.created_date, "systemModstamp": self.system_modstamp or self.created_date,
                     "numberRecordsProcessed": self.records_processed, "numberRecordsFailed": self.records_failed,
                     "totalProcessingTime": self.processing_ms, "apiActiveProcessingTime": self.processing_ms,
                     "apexProcessingTime": 0})
        return body


@dataclass
class V1Job:
    id: str
    operation: str
    object: str
    created_by: str
    created_date: str
    api_version: float
    content_type: str
    concurrency_mode: str = "Parallel"
    external_id_field: str | None = None
    state: str = "Open"  # Open | Closed | Aborted | Failed
    system_modstamp: str = ""
    pk_chunk_size: int | None = None
    pk_start_row: str | None = None
    batches: OrderedDict[str, Batch] = field(default_factory=OrderedDict)

    @property
    def is_query(self) -> bool:
        return self.operation in ("query", "queryAll")

    @property
    def format(self) -> str:
        """How this job's JobInfo/BatchInfo travel: "json" or "xml"."""
        return "json" if self.content_type == "JSON" else "xml"

    def info(self) -> dict[str, Any]:
        states = [b.state for b in self.batches.values()]
        body: dict[str, Any] = {"id": self.id, "operation": self.operation, "object": self.object,
                                "createdById": self.created_by, "createdDate": self.created_date,
                                "systemModstamp": self.system_modstamp or self.created_date, "state": self.state}
        if self.external_id_field:
            body["externalIdFieldName"] = self.external_id_field
        body.update({
            "concurrencyMode": self.concurrency_mode, "contentType": self.content_type,
            "numberBatchesQueued": states.count("Queued"), "numberBatchesInProgress": states.count("InProgress"),
            "numberBatchesCompleted": states.count("Completed"), "numberBatchesFailed": states.count("Failed"),
            "numberBatchesTotal": len(states),
            "numberRecordsProcessed": sum(b.records_processed for b in self.batches.values()),
            "numberRetries": 0, "apiVersion": self.api_version,
            "numberRecordsFailed": sum(b.records_failed for b in self.batches.values()),
            "totalProcessingTime": sum(b.processing_ms for b in self.batches.values()),
            "apiActiveProcessingTime": sum(b.processing_ms for b in self.batches.values()),
            "apexProcessingTime": 0})
        return body


class BulkV1Jobs:
    """Every Bulk API 1.0 job of the org, by id (the oldest dropped past MAX_JOBS)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._jobs: OrderedDict[str, V1Job] = OrderedDict()

    def add(self, job: V1Job) -> V1Job:
        with self.lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                self._jobs.popitem(last=False)
        return job

    def get(self, job_id: str) -> V1Job:
        with self.lock:
            job = _by_id(self._jobs, job_id)
        if job is None:
            raise BulkV1Error("InvalidJob", f"Unable to find object: {job_id}")
        return job

    def batch(self, job: V1Job, batch_id: str) -> Batch:
        with self.lock:
            batch = _by_id(job.batches, batch_id)
        if batch is None:
            raise BulkV1Error("InvalidBatch", f"Unable to find object: {batch_id}")
        return batch


def _by_id(items: dict, record_id: str):
    """An item by its 18-character id, or by the 15-character form clients also send."""
    return items.get(record_id) or next(
        (item for key, item in items.items() if len(record_id) >= 15 and key[:15] == record_id[:15]), None)


# ------------------------------------------------------------------------------------------ wire formats


def request_format(content_type: str | None) -> str:
    """"json" for an application/json request, else "xml" (what Salesforce assumes)."""
    return "json" if "json" in (content_type or "").lower() else "xml"


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.1f}"
    return escape(str(value))


def _xml_datetime(value: Any) -> Any:
    # JobInfo/BatchInfo dates read "2015-12-15T21:41:45.000Z" in XML, "...000+0000" in JSON
    if isinstance(value, str) and value.endswith("+0000") and "T" in value:
        return value[:-5] + "Z"
    return value


def to_xml(root: str, body: dict[str, Any]) -> str:
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{NS}">']
    for key, value in body.items():
        if value is None:
            continue
        parts.append(f"<{key}>{_xml_value(_xml_datetime(value))}</{key}>")
    parts.append(f"</{root}>")
    return "".join(parts)


def render(fmt: str, root: str, body: Any, status: int = 200) -> Response:
    """`body` (a dict, or for the lists a list of dicts/strings) as JSON or XML under `root`."""
    if fmt == "json":
        if root == "batchInfoList":
            body = {"batchInfo": body}
        return Response(json.dumps(body), status_code=status, media_type="application/json")
    if root == "batchInfoList":
        inner = "".join(to_xml("batchInfo", b).split("?>", 1)[1].replace(f' xmlns="{NS}"', "") for b in body)
        text = f'<?xml version="1.0" encoding="UTF-8"?><batchInfoList xmlns="{NS}">{inner}</batchInfoList>'
    elif root == "result-list":
        inner = "".join(f"<result>{escape(r)}</result>" for r in body)
        text = f'<?xml version="1.0" encoding="UTF-8"?><result-list xmlns="{NS}">{inner}</result-list>'
    else:
        text = to_xml(root, body)
    return Response(text.encode(), status_code=status, media_type="application/xml")


def parse_job_request(body: bytes, fmt: str) -> dict[str, Any]:
    """A create-job or update-job request (JSON or XML JobInfo) as a dict."""
    if fmt == "json":
        try:
            parsed = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise BulkV1Error("InvalidJob", "Unable to parse the JSON request body") from None
        if not isinstance(parsed, dict):
            raise BulkV1Error("InvalidJob", "The request body must be a JobInfo object")
        return parsed
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise BulkV1Error("InvalidXML", "Unable to parse the XML request body") from None
    if root.tag.rsplit("}", 1)[-1] != "jobInfo":
        raise BulkV1Error("InvalidXML", "The request body must be a jobInfo element")
    return {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in root}
