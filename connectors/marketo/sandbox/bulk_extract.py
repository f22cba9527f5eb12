"""Bulk Extract for leads, activities and program members (bulk_members): create → enqueue → Queued → Processing → Completed (or Failed,
Canceled), status, file (raw CSV/TSV/SSV, Range supported by the route), list. One queue shared by both
entities: at most `export_max_processing` jobs process at once and `export_max_queued` wait (1029); files
count against a daily volume quota in MB (1029 "Export daily quota exceeded" on create and enqueue).

Files are written by DuckDB's `COPY ... TO` from a background thread: streamed to disk, so 300,000 leads
take about a second and little memory.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from leadsync.connectors.marketo.sandbox.bulk_members import ENTITY, member_spec, member_sql
from leadsync.connectors.marketo.sandbox.clock import CENTRAL, SandboxClock, as_utc, iso, naive_utc, parse_iso
from leadsync.connectors.marketo.sandbox.database import Database
from leadsync.connectors.marketo.sandbox.envelope import MarketoError
from leadsync.connectors.marketo.sandbox.faults import MarketoFaults
from leadsync.connectors.marketo.sandbox.fields import FieldDef, FieldSet, LeadSchema
from leadsync.connectors.marketo.sandbox.leads import batch_size, decode_cursor, encode_cursor
from leadsync.connectors.marketo.sandbox.limits import MarketoLimits

ENTITIES = ("leads", "activities", ENTITY)
DELIMITERS = {"CSV": ",", "TSV": "\t", "SSV": ";"}
ACTIVITY_COLUMNS = {
    "marketoGUID": "CAST(id AS VARCHAR)", "leadId": "leadId",
    "activityDate": "strftime(activityDate, '%Y-%m-%dT%H:%M:%SZ')", "activityTypeId": "activityTypeId",
    "campaignId": "campaignId", "primaryAttributeValueId": "primaryAttributeValueId",
    "primaryAttributeValue": "primaryAttributeValue", "attributes": "attributes", "actionResult": "'succeeded'"}
DEFAULT_ACTIVITY_FIELDS = list(ACTIVITY_COLUMNS)[:-1]
LEAD_FILTERS = ("createdAt", "updatedAt", "staticListId", "staticListName", "smartListId", "smartListName")
MB = 1024 * 1024


class ExportJobs:
    def __init__(self, db: Database, clock: SandboxClock, limits: MarketoLimits, faults: MarketoFaults,
                 lead_schema: LeadSchema, folder: Path, member_fields: FieldSet | None = None):
        self.db, self.clock, self.limits, self.faults, self.schema = db, clock, limits, faults, lead_schema
        self.member_fields = member_fields or FieldSet([])
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._quota_adjust = 0  # bytes counted on top of today's files (fault switch)
        self._wake = threading.Condition()
        self._stopping = False
        self._dispatcher: threading.Thread | None = None
        self._running: set[threading.Thread] = set()
        self.peak_processing = 0  # most jobs seen Processing at once (tests check the limit with it)
        # A job caught processing by a restart starts again.
        db.execute("UPDATE export_jobs SET status = 'Queued', startedAt = NULL WHERE status = 'Processing'")

    # ------------------------------------------------------------------ lifecycle of the worker

    def start(self) -> None:
        self._stopping = False
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="marketo-exports", daemon=True)
        self._dispatcher.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        for thread in [self._dispatcher, *list(self._running)]:
            if thread is not None:
                thread.join(timeout=30)
        self._dispatcher = None

    def poke(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def wait_idle(self, timeout: float = 30) -> None:
        """Block until no job is Queued or Processing (or paused); for tests and the CLI."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = self.db.scalar("SELECT count(*) FROM export_jobs WHERE status IN ('Queued', 'Processing')")
            if not busy or (self.faults.exports_paused and not self._running):
                return
            with self._wake:
                self._wake.wait(0.02)
        raise TimeoutError("export jobs still running")

    def _dispatch_loop(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                self._wake.wait(0.2)
                if self._stopping:
                    return
            self._start_waiting_jobs()

    def _start_waiting_jobs(self) -> None:
        with self.db.lock:
            # paused is read under the lock that enqueueing takes too: a job enqueued after the pause was set can
            # never be picked up by a pass that read the flag before it was set
            if self.faults.exports_paused:
                return
            processing = self.db.scalar("SELECT count(*) FROM export_jobs WHERE status = 'Processing'")
            free = self.limits.export_max_processing - processing
            if free <= 0:
                return
            jobs = self.db.rows("SELECT * FROM export_jobs WHERE status = 'Queued' ORDER BY queuedAt LIMIT ?",
                                [free])
            for job in jobs:
                self._set(job["exportId"], status="Processing", startedAt=self._now())
            self.peak_processing = max(self.peak_processing, processing + len(jobs))
        for job in jobs:
            thread = threading.Thread(target=self._run, args=(job,), name=f"export-{job['exportId'][:8]}",
                                      daemon=True)
            self._running.add(thread)
            thread.start()

    def _run(self, job: dict[str, Any]) -> None:
        try:
            failure = self.faults.take_export_failure()
            if failure:
                raise RuntimeError(failure)
            path = self.folder / f"{job['exportId']}.{job['format'].lower()}"
            count = self._write(job, path)
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(MB), b""):
                    digest.update(chunk)
            self._set(job["exportId"], status="Completed", finishedAt=self._now(), numberOfRecords=count,
                      fileSize=path.stat().st_size, fileChecksum=f"sha256:{digest.hexdigest()}", path=str(path))
        except (duckdb.Error, OSError, RuntimeError) as exc:  # a broken job ends Failed, as on Marketo
            self._set(job["exportId"], status="Failed", finishedAt=self._now(), errorMsg=str(exc))
        finally:
            self._running.discard(threading.current_thread())
            self.poke()

    def _write(self, job: dict[str, Any], path: Path) -> int:
        spec = json.loads(job["spec"])
        if job["entity"] == ENTITY:
            select, params = member_sql(spec, self.schema, lambda f: _render_sql(f, "l."), _stored, _sql_ident)
        else:
            select, params = (self._lead_sql if job["entity"] == "leads" else self._activity_sql)(spec)
        delimiter = DELIMITERS[job["format"]].replace("'", "''")
        tmp = path.with_suffix(".part")
        cursor = self.db.cursor()
        try:
            ((count,),) = cursor.execute(
                f"COPY ({select}) TO '{_sql_text(tmp)}' (FORMAT CSV, HEADER, DELIMITER '{delimiter}', "
                f"NULLSTR 'null', QUOTE '\"')", params).fetchall()
        finally:
            cursor.close()
        tmp.replace(path)
        return int(count)

    def _lead_sql(self, spec: dict[str, Any]) -> tuple[str, list[Any]]:
        headers = spec.get("columnHeaderNames") or {}
        columns = []
        for name in spec["fields"]:
            field = self.schema.require(name)
            columns.append(f'{_render_sql(field)} AS "{_sql_ident(headers.get(name, name))}"')
        (column, window), = spec["filter"].items()
        if column == "staticListId":  # the list's members when the job runs
            members = "SELECT leadId FROM static_list_members WHERE listId = ?"
            return f"SELECT {', '.join(columns)} FROM leads WHERE id IN ({members}) ORDER BY id", [window]
        return (f"SELECT {', '.join(columns)} FROM leads WHERE \"{column}\" BETWEEN ? AND ? ORDER BY id",
                [_stored(window["startAt"]), _stored(window["endAt"])])

    def _activity_sql(self, spec: dict[str, Any]) -> tuple[str, list[Any]]:
        headers = spec.get("columnHeaderNames") or {}
        columns = [f'{ACTIVITY_COLUMNS[n]} AS "{_sql_ident(headers.get(n, n))}"' for n in spec["fields"]]
        filter_ = spec["filter"]
        where = ["activityDate BETWEEN ? AND ?"]
        params: list[Any] = [_stored(filter_["createdAt"]["startAt"]), _stored(filter_["createdAt"]["endAt"])]
        for key, column in (("activityTypeIds", "activityTypeId"), ("primaryAttributeValueIds",
                            "primaryAttributeValueId"), ("primaryAttributeValues", "primaryAttributeValue")):
            if filter_.get(key):
                where.append(f"{column} IN ({', '.join('?' * len(filter_[key]))})")
                params += filter_[key]
        return f"SELECT {', '.join(columns)} FROM activities WHERE {' AND '.join(where)} ORDER BY activityDate, id", \
            params

    # ------------------------------------------------------------------ API operations

    def create(self, entity: str, owner: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        self._check_quota()
        fmt = str(body.get("format") or "CSV").upper()
        if fmt not in DELIMITERS:
            raise MarketoError("1003", f"Invalid format '{body.get('format')}'")
        if entity == ENTITY:
            spec = member_spec(body, self.schema, self.member_fields, self._window,
                               self.limits.updated_at_export_filter)
        else:
            spec = (self._lead_spec if entity == "leads" else self._activity_spec)(body)
        export_id = str(uuid.uuid4())
        self.db.execute("INSERT INTO export_jobs (exportId, entity, owner, status, format, spec, createdAt) "
                        "VALUES (?, ?, ?, 'Created', ?, ?, ?)",
                        [export_id, entity, owner, fmt, json.dumps(spec), self._now()])
        return [self._render(self._job(entity, owner, export_id))]

    def enqueue(self, entity: str, owner: str, export_id: str) -> list[dict[str, Any]]:
        with self.db.lock:
            job = self._job(entity, owner, export_id)
            if job["status"] in ("Queued", "Processing"):
                raise MarketoError("1029", f"Job already queued: {export_id}")
            if job["status"] != "Created":
                raise MarketoError("1003", f"Job {export_id} is {job['status']}; only a Created job can be queued")
            self._check_quota()
            waiting = self.db.scalar("SELECT count(*) FROM export_jobs WHERE status IN ('Queued', 'Processing')")
            if waiting >= self.limits.export_max_queued:
                raise MarketoError("1029", f"Too many jobs ({self.limits.export_max_queued}) in queue")
            self._set(export_id, status="Queued", queuedAt=self._now())
        self.poke()
        return [self._render(self._job(entity, owner, export_id))]

    def cancel(self, entity: str, owner: str, export_id: str) -> list[dict[str, Any]]:
        with self.db.lock:
            job = self._job(entity, owner, export_id)
            if job["status"] in ("Completed", "Failed", "Canceled"):
                raise MarketoError("1003", f"Job {export_id} is {job['status']} and cannot be canceled")
            self._set(export_id, status="Canceled")
        rendered = self._render(self._job(entity, owner, export_id), brief=True)
        return [{**rendered, "status": "Cancelled"}]  # the cancel answer spells it so, as documented

    def status(self, entity: str, owner: str, export_id: str) -> list[dict[str, Any]]:
        return [self._render(self._job(entity, owner, export_id))]

    def list(self, entity: str, owner: str, params: dict[str, str]) -> dict[str, Any]:
        statuses = [s.strip() for s in (params.get("status") or "").split(",") if s.strip()]
        since = naive_utc(self.clock.now() - timedelta(days=self.limits.export_retention_days))
        jobs = [j for j in self.db.rows("SELECT * FROM export_jobs WHERE entity = ? AND owner = ? AND "
                                        "createdAt >= ? ORDER BY createdAt, exportId", [entity, owner, since])
                if not statuses or j["status"] in statuses]
        page = batch_size(params.get("batchSize"), self.limits)
        start = decode_cursor(f"jobs:{entity}", params.get("nextPageToken"))
        out: dict[str, Any] = {"result": [self._render(j) for j in jobs[start:start + page]]}
        if start + page < len(jobs):
            out["nextPageToken"] = encode_cursor(f"jobs:{entity}", start + page)
        return out

    def file_path(self, entity: str, owner: str, export_id: str) -> Path | None:
        """The finished file, or None (the route answers 404 with plain text, as Marketo does)."""
        rows = self.db.rows("SELECT * FROM export_jobs WHERE exportId = ? AND entity = ? AND owner = ?",
                            [export_id, entity, owner])
        if not rows or rows[0]["status"] != "Completed" or not rows[0]["path"]:
            return None
        kept_until = rows[0]["finishedAt"] + timedelta(days=self.limits.export_retention_days)
        path = Path(rows[0]["path"])
        return path if path.exists() and naive_utc(self.clock.now()) < kept_until else None

    # ------------------------------------------------------------------ quota

    def used_bytes_today(self) -> int:
        today = self.clock.central_day()
        since = naive_utc(self.clock.now() - timedelta(days=2))
        rows = self.db.rows("SELECT finishedAt, fileSize FROM export_jobs WHERE status = 'Completed' AND "
                            "finishedAt >= ?", [since])
        return self._quota_adjust + sum(r["fileSize"] or 0 for r in rows
                                        if as_utc(r["finishedAt"]).astimezone(CENTRAL).date() == today)

    def set_remaining_quota_mb(self, megabytes: float) -> None:
        self._quota_adjust = 0
        self._quota_adjust = int(self.limits.export_daily_quota_mb * MB - megabytes * MB) - self.used_bytes_today()

    def _check_quota(self) -> None:
        if self.used_bytes_today() >= self.limits.export_daily_quota_mb * MB:
            raise MarketoError("1029", f"Export daily quota {self.limits.export_daily_quota_mb:g}MB exceeded")

    # ------------------------------------------------------------------ validation and bookkeeping

    def _lead_spec(self, body: dict[str, Any]) -> dict[str, Any]:
        fields = body.get("fields")
        if not isinstance(fields, list) or not fields:
            raise MarketoError("1003", "fields cannot be blank")
        fields = [self.schema.require(str(name)).name for name in fields]
        filter_ = body.get("filter")
        if not isinstance(filter_, dict) or len(filter_) != 1:
            raise MarketoError("1003", "filter must hold exactly one filter type")
        (kind, value), = filter_.items()
        if kind not in LEAD_FILTERS:
            raise MarketoError("1003", f"Invalid filter type '{kind}'")
        if kind in ("staticListId", "staticListName"):
            filter_ = {"staticListId": self._static_list(kind, value)}
        elif kind == "createdAt" or (kind == "updatedAt" and self.limits.updated_at_export_filter):
            filter_ = {kind: self._window(value, kind)}
        else:  # the sandbox has no smart lists; updatedAt is switchable like on real subscriptions
            raise MarketoError("1035", f"Unsupported filter type for target subscription: {kind}")
        return {"fields": fields, "filter": filter_, "columnHeaderNames": _headers(body, fields)}

    def _static_list(self, kind: str, value: Any) -> int:
        """The id of the static list a `staticListId` (integer) or `staticListName` filter names."""
        if kind == "staticListId":
            if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
                raise MarketoError("1003", f"Invalid staticListId '{value}'")
            rows = self.db.rows("SELECT id FROM static_lists WHERE id = ?", [int(value)])
        else:
            rows = self.db.rows("SELECT id FROM static_lists WHERE name = ?", [str(value)])
        if not rows:
            raise MarketoError("1003", f"Static list '{value}' not found")
        return int(rows[0]["id"])

    def _activity_spec(self, body: dict[str, Any]) -> dict[str, Any]:
        fields = body.get("fields") or DEFAULT_ACTIVITY_FIELDS
        unknown = [f for f in fields if f not in ACTIVITY_COLUMNS]
        if not isinstance(fields, list) or unknown:
            raise MarketoError("1003", f"Invalid fields {unknown or fields}")
        filter_ = body.get("filter") if isinstance(body.get("filter"), dict) else {}
        if "createdAt" not in filter_:
            raise MarketoError("1003", "filter.createdAt is required")
        out: dict[str, Any] = {"createdAt": self._window(filter_["createdAt"], "createdAt")}
        for key, kind in (("activityTypeIds", int), ("primaryAttributeValueIds", int),
                          ("primaryAttributeValues", str)):
            values = filter_.get(key)
            if values is None:
                continue
            if not isinstance(values, list) or (key != "activityTypeIds" and len(values) > 50):
                raise MarketoError("1003", f"Invalid {key}")
            try:
                out[key] = [kind(v) for v in values]
            except (TypeError, ValueError):
                raise MarketoError("1003", f"Invalid {key}") from None
        if ("primaryAttributeValueIds" in out or "primaryAttributeValues" in out) and "activityTypeIds" not in out:
            raise MarketoError("1003", "primaryAttributeValue filters need activityTypeIds")
        unknown_keys = set(filter_) - {"createdAt", "activityTypeIds", "primaryAttributeValueIds",
                                       "primaryAttributeValues"}
        if unknown_keys:
            raise MarketoError("1003", f"Invalid filter type '{min(unknown_keys)}'")
        return {"fields": list(fields), "filter": out, "columnHeaderNames": _headers(body, fields)}

    def _window(self, value: Any, kind: str) -> dict[str, str]:
        try:
            start, end = parse_iso(value["startAt"]), parse_iso(value["endAt"])
        except (TypeError, KeyError, ValueError):
            raise MarketoError("1003", f"{kind} needs startAt and endAt as ISO-8601 datetimes") from None
        if end < start:
            raise MarketoError("1003", f"{kind}: endAt is before startAt")
        if end - start > timedelta(days=self.limits.export_max_days):
            raise MarketoError("1003", f"{kind}: date range must be {self.limits.export_max_days} days or fewer")
        return {"startAt": iso(start), "endAt": iso(end)}

    def _job(self, entity: str, owner: str, export_id: str) -> dict[str, Any]:
        rows = self.db.rows("SELECT * FROM export_jobs WHERE exportId = ? AND entity = ? AND owner = ?",
                            [export_id, entity, owner])
        if not rows:
            raise MarketoError("1003", f"Export id {export_id} not found")
        return rows[0]

    def _set(self, export_id: str, **values: Any) -> None:
        sets = ", ".join(f"{name} = ?" for name in values)  # names are constants of this module
        self.db.execute(f"UPDATE export_jobs SET {sets} WHERE exportId = ?", [*values.values(), export_id])

    def _now(self) -> datetime:
        return naive_utc(self.clock.now())

    @staticmethod
    def _render(job: dict[str, Any], brief: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"exportId": job["exportId"], "format": job["format"], "status": job["status"],
                               "createdAt": iso(job["createdAt"])}
        if brief:
            return out
        for key in ("queuedAt", "startedAt", "finishedAt"):
            if job[key] is not None:
                out[key] = iso(job[key])
        if job["status"] == "Completed":
            out.update(numberOfRecords=job["numberOfRecords"], fileSize=job["fileSize"],
                       fileChecksum=job["fileChecksum"])
        if job["status"] == "Failed":
            out["errorMsg"] = job["errorMsg"]
        return out


def _headers(body: dict[str, Any], fields: list[str]) -> dict[str, str]:
    headers = body.get("columnHeaderNames") or {}
    if not isinstance(headers, dict) or any(k not in fields for k in headers):
        raise MarketoError("1003", "columnHeaderNames may only rename exported fields")
    return {str(k): str(v) for k, v in headers.items()}


def _render_sql(field: FieldDef, alias: str = "") -> str:
    column = f'{alias}"{field.name}"'
    if field.data_type == "datetime":
        return f"strftime({column}, '%Y-%m-%dT%H:%M:%SZ')"
    if field.data_type == "date":
        return f"strftime({column}, '%Y-%m-%d')"
    if field.data_type == "boolean":
        return f"CASE WHEN {column} THEN 'true' WHEN NOT {column} THEN 'false' END"
    return column


def _stored(text: str) -> datetime:
    return naive_utc(parse_iso(text))


def _sql_ident(text: str) -> str:
    return text.replace('"', '""')


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")
