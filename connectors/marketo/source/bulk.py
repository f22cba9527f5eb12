"""Bulk Extract of leads: one export job per date window (≤ 31 days, Marketo's limit): create → enqueue →
poll status → stream the file to a temporary file → read it back in chunks of text columns, so memory
stays flat whatever the window holds."""

from __future__ import annotations

import csv
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from leadsync.connectors.api_client import ApiError, ApiQuotaExhausted, ApiTransientError, RetryPolicy, with_retries
from leadsync.connectors.marketo.source.client import MarketoClient
from leadsync.connectors.marketo.source.errors import ExportAlreadyQueued, ExportQueueFull
from leadsync.connectors.marketo.source.records import iso

log = logging.getLogger(__name__)
BLOCK_BYTES = 4 * 1024 * 1024
DONE = ("Completed", "Failed", "Canceled", "Cancelled")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{iso(self.start)}:{iso(self.end)}"


def export_windows(start: datetime, end: datetime, days: int) -> list[Window]:
    """[start, end] cut into consecutive windows of at most `days` days. Export filters are inclusive at
    both ends, so a window starts where the previous one ends: a record updated at exactly that second
    comes twice rather than never."""
    step = timedelta(days=days)
    windows, at = [], start
    while True:
        stop = min(at + step, end)
        windows.append(Window(at, stop))
        if stop >= end:
            return windows
        at = stop


@dataclass
class ExportFile:
    export_id: str
    path: Path
    rows: int


class ExportFailed(ApiTransientError):
    """An export job Marketo ended Failed (or Canceled): only a new job can do the work."""


class LeadExports:
    def __init__(self, client: MarketoClient):
        self.client = client
        self.settings = client.settings

    def fetch(self, fields: list[str], filter_field: str, window: Window, reuse: str | None = None,
              started: str | None = None) -> ExportFile:
        """The finished export of `window` in a temporary file (the caller deletes it). `reuse`: an export
        id from an interrupted pull, used when its file is still there. `started`: the id of a job for this
        window already created and enqueued (`start`), waited for instead of making one."""
        if reuse:
            found = self._reuse(reuse)
            if found is not None:
                return found
        policy = RetryPolicy(attempts=self.settings.export_attempts, initial_s=self.settings.http.retry.initial_s,
                             max_s=self.settings.http.retry.max_s)
        first = [started]

        def attempt() -> ExportFile:
            job, first[0] = first[0], None  # a retry after a failed job makes a new one
            return self._run(fields, filter_field, window, job)

        return with_retries(attempt, policy, retry_on=ExportFailed)

    def start(self, fields: list[str], filter_field: str, window: Window) -> str | None:
        """Create and enqueue the export of `window` now, without waiting for it: Marketo works on it while
        the caller reads the window before (Marketo runs two export jobs at once). Returns its id, or None when
        it could not be started at once (queue full, any error): `fetch` then makes the job itself, as without
        this head start, and raises what there is to raise."""
        deadline = time.monotonic()  # no waiting for room in the queue
        try:
            return self._create(fields, filter_field, window, deadline)
        except ApiError as exc:
            log.info("Marketo export of %s not started ahead (%s); it is made when its turn comes", window.label,
                     exc)
            return None

    def cancel(self, export_id: str) -> None:
        """Give up a job started ahead that will not be read (the pull stopped before its window)."""
        self._cancel(export_id)

    def _create(self, fields: list[str], filter_field: str, window: Window, deadline: float) -> str:
        """Create the job and enqueue it (again, the same job, while Marketo's queue is full)."""
        body = {"fields": fields, "format": "CSV",
                "filter": {filter_field: {"startAt": iso(window.start), "endAt": iso(window.end)}}}
        (job,) = self._when_queue_has_room(deadline, "create", lambda: self.client.post(
            "/bulk/v1/leads/export/create.json", body))["result"]
        export_id = job["exportId"]
        try:
            self._when_queue_has_room(deadline, f"enqueue {export_id}", lambda: self.client.post(
                f"/bulk/v1/leads/export/{export_id}/enqueue.json", {}))
        except ExportAlreadyQueued:
            log.info("Marketo export %s was already queued (an earlier enqueue went through)", export_id)
        return export_id

    def _run(self, fields: list[str], filter_field: str, window: Window, started: str | None = None) -> ExportFile:
        """One export job: created once (unless `started`), enqueued (again, the same job, while Marketo's queue
        is full), waited for and downloaded, all within `export_timeout_s`."""
        deadline = time.monotonic() + self.settings.export_timeout_s
        export_id = started or self._create(fields, filter_field, window, deadline)
        status = self._wait(export_id, deadline)
        if status["status"] != "Completed":
            raise ExportFailed(f"Marketo lead export {export_id} ({window.label}) ended {status['status']}: "
                               f"{status.get('errorMsg', 'no message')}")
        return self._download(export_id, status)

    def _when_queue_has_room(self, deadline: float, what: str, call: Callable[[], dict]) -> dict:
        """`call()`, repeated every `export_queue_wait_s` while Marketo answers 1029 "Too many jobs in queue";
        past the deadline the pull fails as transient (the next run exports again)."""
        while True:
            try:
                return call()
            except ExportQueueFull as exc:
                if time.monotonic() + self.settings.export_queue_wait_s > deadline:
                    raise ApiTransientError(f"{exc}; the queue stayed full for {self.settings.export_timeout_s:g} s "
                                            f"(export_timeout_s) ({what})", vendor_code=exc.vendor_code) from exc
                log.info("Marketo's export queue is full (%s); waiting %g s", what, self.settings.export_queue_wait_s)
                time.sleep(self.settings.export_queue_wait_s)

    def _wait(self, export_id: str, deadline: float) -> dict:
        while True:
            (status,) = self.client.get(f"/bulk/v1/leads/export/{export_id}/status.json")["result"]
            if status["status"] in DONE:
                return status
            if time.monotonic() >= deadline:
                self._cancel(export_id)
                raise ApiTransientError(f"Marketo lead export {export_id} still {status['status']} after "
                                        f"{self.settings.export_timeout_s:g} s; cancelled")
            time.sleep(self.settings.export_poll_s)

    def _cancel(self, export_id: str) -> None:
        try:
            self.client.post(f"/bulk/v1/leads/export/{export_id}/cancel.json", {})
        except ApiError as exc:  # the job is abandoned either way; the timeout is what the caller needs
            log.warning("could not cancel Marketo export %s: %s", export_id, exc)

    def _reuse(self, export_id: str) -> ExportFile | None:
        try:
            body = self.client.get(f"/bulk/v1/leads/export/{export_id}/status.json")
            if not body.get("result") or body["result"][0].get("status") != "Completed":
                return None
            return self._download(export_id, body["result"][0])
        except ApiQuotaExhausted:
            raise
        except ApiError as exc:  # unknown, expired (files are kept 7 days): export the window again
            log.info("Marketo export %s cannot be reused (%s); exporting its window again", export_id, exc)
            return None

    def _download(self, export_id: str, status: dict) -> ExportFile:
        handle, name = tempfile.mkstemp(prefix=f"marketo-leads-{export_id[:8]}-", suffix=".csv",
                                        dir=self.settings.work_dir)
        os.close(handle)
        path = Path(name)
        try:
            self.client.download(f"/bulk/v1/leads/export/{export_id}/file.json", path,
                                 status.get("fileChecksum"))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return ExportFile(export_id, path, int(status.get("numberOfRecords") or 0))


def read_chunks(path: Path, rows: int) -> Iterator[pa.Table]:
    """The CSV file as Arrow tables of `rows` rows (the last one shorter), every column text, Marketo's
    literal `null` as null. Read by pyarrow's streaming CSV reader: one block in memory at a time."""
    with open(path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        return
    reader = pacsv.open_csv(
        path, read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in header},
                                             null_values=["null"], strings_can_be_null=True))
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows).combine_chunks()
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending, schema=reader.schema).combine_chunks()
