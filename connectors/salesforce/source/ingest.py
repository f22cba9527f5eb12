"""Writing records: sObject Collections for small volumes, a Bulk API 2.0 ingest job above
`write_bulk_threshold`, one result per row either way.

Collections: PATCH composite/sobjects (update by Id) or composite/sobjects/<Object>/<ExternalIdField>
(upsert), ≤`collections_size` records a call, allOrNone false, results in input order. Bulk: one ingest
job created, uploaded and closed once, then polled (a failed poll never costs a second job or upload), then
its successfulResults and failedResults (sf__Error) matched back by the Id or external id column. A record named twice in one write is written in two rounds (in
order, so the later change wins), since one request may not name a record twice.

Values: None/NaN leaves a field as it is; "" clears it (JSON null; "#N/A" in Bulk CSV). Values are sent as
the field's describe type wants them (dates "2026-11-23", date-times ISO UTC, numbers, booleans).
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from simple_salesforce.bulk2 import Operation

from leadsync.connectors.api_client import ApiError
from leadsync.connectors.salesforce.source.client import SalesforceClient
from leadsync.connectors.salesforce.source.records import text
from leadsync.connectors.salesforce.source.settings import SalesforceSettings
from leadsync.connectors.salesforce.source.soql import NUMBER_TYPES, chunks, parse_datetime
from leadsync.connectors.source_api import RESULT_COLUMNS

CLEAR = object()  # set the field to null
CSV_NULL = "#N/A"
MAX_UPLOAD_BYTES = 90 * 1024 * 1024  # Bulk API 2.0 takes at most 100 MB of CSV a job
log = logging.getLogger(__name__)


@dataclass
class WriteRow:
    """One record to write: its result key, its fields (identity included), or a failure found before
    sending (then it is not sent)."""

    key: str
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def field_value(value: Any, kind: str) -> Any:
    """`value` as the JSON a field of describe type `kind` takes; CLEAR for ""; a value that does not convert
    is sent as text, for Salesforce to refuse that record alone."""
    if isinstance(value, str) and value == "":
        return CLEAR
    try:
        if kind == "boolean":
            if isinstance(value, str):
                lowered = value.strip().lower()
                known = lowered in ("true", "false", "1", "0", "yes", "no")
                return lowered in ("true", "1", "yes") if known else value
            return bool(value)
        if kind in NUMBER_TYPES:
            number = float(value)
            return int(number) if number.is_integer() and (kind == "int" or abs(number) < 1e15) else number
        if kind == "date":
            if isinstance(value, datetime | pd.Timestamp):
                return value.date().isoformat()
            if isinstance(value, date):
                return value.isoformat()
            return date.fromisoformat(str(value).strip()[:10]).isoformat()
        if kind == "datetime":
            moment = value if isinstance(value, datetime) else parse_datetime(str(value))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    except (TypeError, ValueError):
        return str(value)
    if isinstance(value, bool | int | float):
        return text(value)
    return str(value)


def _csv_cell(value: Any) -> str:
    if value is CLEAR:
        return CSV_NULL
    return text(value) or ""


def _json(value: Any) -> Any:
    return None if value is CLEAR else value


def _rounds(rows: Sequence[WriteRow], identity: str) -> list[list[WriteRow]]:
    """Rows split so no round names a record twice; order kept within each identity."""
    rounds: list[list[WriteRow]] = []
    seen_in: dict[str, int] = {}
    for row in rows:
        ident = str(row.values.get(identity))
        index = seen_in.get(ident, -1) + 1
        seen_in[ident] = index
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(row)
    return rounds


def _collection_errors(errors: Any) -> str:
    parts = []
    for error in errors or []:
        fields = error.get("fields") or []
        named = f" [{', '.join(fields)}]" if fields else ""
        parts.append(f"{error.get('statusCode')}: {error.get('message')}{named}")
    return "; ".join(parts) or "failed without an error message"


class RecordWriter:
    def __init__(self, client: SalesforceClient, settings: SalesforceSettings):
        self.client, self.settings = client, settings

    def write(self, object_name: str, rows: Sequence[WriteRow], identity: str, upsert: bool) -> pd.DataFrame:
        """Write `rows` (update by Id, or upsert by the external id field `identity`); RESULT_COLUMNS in
        the rows' order."""
        results: dict[int, tuple[bool, str | None]] = {}
        sendable = []
        for index, row in enumerate(rows):
            if row.error:
                results[index] = (False, row.error)
            else:
                sendable.append((index, row))
        bulk = len(sendable) > self.settings.write_bulk_threshold
        positions = {id(row): index for index, row in sendable}
        for round_rows in _rounds([row for _, row in sendable], identity):
            done = (self._bulk(object_name, round_rows, identity, upsert) if bulk
                    else self._collections(object_name, round_rows, identity, upsert))
            for row, outcome in zip(round_rows, done, strict=True):
                results[positions[id(row)]] = outcome
        frame = pd.DataFrame([(row.key, *results[i]) for i, row in enumerate(rows)], columns=RESULT_COLUMNS)
        frame["ok"] = frame["ok"].astype(bool)
        return frame

    # ------------------------------------------------------------------ sObject Collections

    def _collections(self, object_name: str, rows: list[WriteRow], identity: str,
                     upsert: bool) -> list[tuple[bool, str | None]]:
        path = f"composite/sobjects/{object_name}/{identity}" if upsert else "composite/sobjects"
        outcomes: list[tuple[bool, str | None]] = []
        for chunk in chunks(rows, self.settings.collections_size):
            body = {"allOrNone": False, "records": [
                {"attributes": {"type": object_name}, **{k: _json(v) for k, v in row.values.items()}}
                for row in chunk]}
            answer = self.client.call(f"{'upsert' if upsert else 'update'} {object_name} records",
                                      lambda sf, body=body: sf.restful(path, method="PATCH", json=body)) or []
            for position in range(len(chunk)):
                result = answer[position] if position < len(answer) else None
                if result is None:
                    outcomes.append((False, "Salesforce returned no result for this record"))
                elif result.get("success"):
                    outcomes.append((True, None))
                else:
                    outcomes.append((False, _collection_errors(result.get("errors"))))
        return outcomes

    # ------------------------------------------------------------------ Bulk API 2.0 ingest

    def _bulk(self, object_name: str, rows: list[WriteRow], identity: str,
              upsert: bool) -> list[tuple[bool, str | None]]:
        records = [{k: _csv_cell(v) for k, v in row.values.items()} for row in rows]
        outcome: dict[str, tuple[bool, str | None]] = {}
        for data in _upload_parts(records):
            # a job Salesforce failed itself is run again as a new job: the writes are upserts
            job_id = self.client.with_new_jobs(lambda d=data: self._ingest_job(object_name, d, identity, upsert))
            for kind in ("successful", "failed"):
                getter = "get_successful_records" if kind == "successful" else "get_failed_records"
                page = self.client.call(f"read bulk {kind} results", lambda sf, g=getter, j=job_id: getattr(
                    getattr(sf.bulk2, object_name), g)(j))
                for result in _csv_rows(page):
                    key = _identity_value(result, identity)
                    if kind == "successful":
                        outcome[key] = (True, None)
                    else:
                        outcome[key] = (False, bulk_error(result.get("sf__Error") or ""))
        return [outcome.get(_identity_value(record, identity), (False, "not processed by the bulk job"))
                for record in records]

    def _ingest_job(self, object_name: str, data: str, identity: str, upsert: bool) -> str:
        """One Bulk API 2.0 ingest job of `data` (CSV), run to its end; its id. The job is created once, its data
        uploaded and the job closed once (a lost answer is not repeated: the rows may have landed), then it is
        polled, each poll retried alone: no failure after the upload costs a second job or a second upload.
        An upload or close that fails aborts the job, so nothing of it is applied; the rows are retried next
        run."""
        what = f"bulk {'upsert' if upsert else 'update'} of {object_name}"
        operation = Operation.upsert if upsert else Operation.update
        job_id = self.client.call(what, lambda sf: self.client.bulk2(sf, object_name).create_job(
            operation, external_id_field=identity if upsert else None))["id"]
        try:
            self.client.call(what, lambda sf: self.client.bulk2(sf, object_name).upload_job_data(
                job_id, data), retry=False)
            self.client.call(what, lambda sf: self.client.bulk2(sf, object_name).close_job(job_id), retry=False)
        except ApiError:
            try:
                self.client.call(what, lambda sf: self.client.bulk2(sf, object_name).abort_job(job_id, False))
            except ApiError as exc:  # it never reached UploadComplete, so Salesforce will not run it anyway
                log.warning("could not abort Salesforce bulk job %s: %s", job_id, exc)
            raise
        self.client.wait_for_bulk_job(object_name, job_id, is_query=False)
        return job_id


def _csv_text(records: list[dict[str, str]]) -> str:
    """Records as a Bulk API 2.0 CSV upload: a header of every field named (in first-seen order), LF endings."""
    columns = list(dict.fromkeys(name for record in records for name in record))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def _upload_parts(records: list[dict[str, str]]) -> list[str]:
    """`records` as CSV uploads, cut so each stays under Bulk API 2.0's 100 MB a job (with a margin)."""
    data = _csv_text(records)
    if len(records) <= 1 or len(data.encode("utf-8")) <= MAX_UPLOAD_BYTES:
        return [data]
    half = len(records) // 2
    return _upload_parts(records[:half]) + _upload_parts(records[half:])


def bulk_error(raw: str) -> str:
    """A failedResults sf__Error ("CODE:message:Field1,Field2 --") worded like a Collections error
    ("CODE: message [Field1, Field2]")."""
    body = raw.strip().removesuffix("--").strip()
    code, sep, rest = body.partition(":")
    if not sep or not code.isupper():
        return body or "failed without an error message"
    message, _, fields = rest.rpartition(":")
    if not _:
        message, fields = rest, ""
    names = [f.strip() for f in fields.split(",") if f.strip()]
    return f"{code}: {message.strip()}" + (f" [{', '.join(names)}]" if names else "")


def _csv_rows(page: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(page))) if page and page.strip() else []


def _identity_value(record: Mapping[str, str], identity: str) -> str:
    value = record.get(identity)
    if value is None:
        value = next((v for k, v in record.items() if k.lower() == identity.lower()), "")
    return str(value)
