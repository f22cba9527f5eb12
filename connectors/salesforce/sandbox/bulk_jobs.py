"""Bulk API 2.0 jobs: the registry, job info in Salesforce's shape, and CSV options.

Jobs run on a background thread once ready (a query job at creation, an ingest job when its upload is
complete), so a client polling sees UploadComplete -> InProgress -> JobComplete (or Failed/Aborted), as
with the real service. Jobs live in memory only (not persisted across restarts).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leadsync.connectors.salesforce.sandbox.errors import ApiError

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
JOB_PREFIX = "750"
MAX_JOBS = 500


@dataclass
class Job:
    id: str
    kind: str  # "query" or "ingest"
    operation: str
    object: str
    created_by: str
    created_date: str
    api_version: float
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    state: str = "Open"
    system_modstamp: str = ""
    external_id_field: str | None = None
    query: str | None = None
    error_message: str | None = None
    records_processed: int = 0
    records_failed: int = 0
    processing_ms: int = 0
    payload: Any = None  # query: result columns; ingest: uploaded CSV and results
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def delimiter(self) -> str:
        return DELIMITERS[self.column_delimiter]

    @property
    def eol(self) -> str:
        return LINE_ENDINGS[self.line_ending]

    def info(self, full: bool = True) -> dict[str, Any]:
        """The job info body (`full`: as GET returns it, with counters; else as create returns it)."""
        body: dict[str, Any] = {"id": self.id, "operation": self.operation, "object": self.object,
                                "createdById": self.created_by, "createdDate": self.created_date,
                                "systemModstamp": self.system_modstamp or self.created_date, "state": self.state}
        if self.external_id_field:
            body["externalIdFieldName"] = self.external_id_field
        body.update({"concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": self.api_version})
        if self.kind == "ingest":
            body["contentUrl"] = f"services/data/v{self.api_version:.1f}/jobs/ingest/{self.id}/batches"
        body.update({"lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter})
        if full:
            body["jobType"] = "V2Query" if self.kind == "query" else "V2Ingest"
            body["numberRecordsProcessed"] = self.records_processed
            if self.kind == "ingest":
                body["numberRecordsFailed"] = self.records_failed
            body["retries"] = 0
            body["totalProcessingTime"] = self.processing_ms
            if self.kind == "ingest":
                body["apiActiveProcessingTime"] = self.processing_ms
                body["apexProcessingTime"] = 0
            else:
                body["isPkChunkingSupported"] = True
            if self.error_message:
                body["errorMessage"] = self.error_message
        return body


class BulkJobs:
    """Every Bulk API 2.0 job of the org, by id."""

    def __init__(self, new_id: Callable[[], str], now: Callable[[], str]):
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._new_id = new_id
        self._now = now
        self._threads: list[threading.Thread] = []

    def create(self, kind: str, **fields: Any) -> Job:
        now = self._now()
        job = Job(self._new_id(), kind, created_date=now, system_modstamp=now, **fields)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS:
                self._jobs.popitem(last=False)
        return job

    def get(self, job_id: str, kind: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.kind != kind:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def delete(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)

    def list(self, kind: str) -> list[Job]:
        with self._lock:
            return [job for job in self._jobs.values() if job.kind == kind]

    def set_state(self, job: Job, state: str, error: str | None = None) -> None:
        with job.lock:
            job.state = state
            job.system_modstamp = self._now()
            if error:
                job.error_message = error

    def run_in_background(self, job: Job, work: Callable[[Job], None]) -> None:
        """InProgress, then `work(job)`; JobComplete unless work set another final state or raised."""
        def run() -> None:
            started = time.perf_counter()
            self.set_state(job, "InProgress")
            try:
                work(job)
            except Exception as exc:  # noqa: BLE001 - a sandbox bug must show as a failed job, not hang
                self.set_state(job, "Failed", f"InternalServerError : {exc}")
            job.processing_ms = int((time.perf_counter() - started) * 1000)
            if job.state == "InProgress":
                self.set_state(job, "JobComplete")

        thread = threading.Thread(target=run, name=f"bulk-{job.id}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def wait_idle(self, timeout: float = 30) -> None:
        """Wait for running jobs to finish (used when the sandbox stops)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def job_options(body: dict) -> dict[str, str]:
    """columnDelimiter and lineEnding of a create-job request, checked."""
    delimiter = body.get("columnDelimiter") or "COMMA"
    line_ending = body.get("lineEnding") or "LF"
    if delimiter not in DELIMITERS:
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid column delimiter: {delimiter}")
    if line_ending not in LINE_ENDINGS:
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid line ending: {line_ending}")
    content_type = body.get("contentType") or "CSV"
    if content_type != "CSV":
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Unsupported content type: {content_type}")
    return {"column_delimiter": delimiter, "line_ending": line_ending}
