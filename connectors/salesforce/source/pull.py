"""The incremental pull of Leads (or Contacts) on SystemModstamp, as PulledBatch after PulledBatch.

The query is `SystemModstamp >= since - look_back` (inclusive), counted first with COUNT(): up to
`bulk_threshold` rows it is read over REST (ORDER BY SystemModstamp, Id; `rest_batch_size` rows a page,
following nextRecordsUrl), above it through a Bulk API 2.0 query job, `bulk_page_size` rows a page
(without ORDER BY, which Salesforce says disables PK chunking of bulk queries). One page is one batch,
so memory stays flat.

Batch keys: "rest:<since>:<page>:<digest of the page's (Id, SystemModstamp)>" and
"bulk:<job id>:<locator>" ("first" for the first page). Watermarks never pass a timestamp that could still
have unread records: over REST (ordered) a page's watermark is the newest stamp read so far that is
strictly older than the page's last stamp (None if there is none), the last page's is its last stamp; a
bulk job's order is unknown, so only its last page moves the watermark (to the newest stamp read).
Records sharing a stamp with the watermark are read again next time (inclusive bound plus look-back);
leadsync drops them by (Id, SystemModstamp).

Resume: every batch but the last carries where to continue (REST: the nextRecordsUrl; bulk: the job and
locator). Given back, the pull continues there when the query shape still matches; an expired cursor or a
deleted job starts over from `since`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from simple_salesforce.bulk2 import Operation, _Bulk2Client
from simple_salesforce.util import call_salesforce

from leadsync.connectors.api_client import ApiError
from leadsync.connectors.salesforce.source.client import SalesforceClient
from leadsync.connectors.salesforce.source.describe import ObjectDescription
from leadsync.connectors.salesforce.source.records import csv_table, rest_table
from leadsync.connectors.salesforce.source.segregation import SEGREGATED_COLUMN
from leadsync.connectors.salesforce.source.settings import SalesforceSettings
from leadsync.connectors.salesforce.source.soql import datetime_literal
from leadsync.connectors.source_api import PulledBatch

log = logging.getLogger(__name__)
ID, STAMP = "Id", "SystemModstamp"
RESUME_VERSION = 1


@dataclass(frozen=True)
class PullPlan:
    """What one pull asks for, fixed before the first call."""

    object_name: str
    columns: dict[str, str]  # frame column → field path (Id and SystemModstamp first)
    output: list[str]  # the columns handed over (the segregation filter's extra fields are dropped)
    since_key: str  # the `since` in batch keys: ISO date-time or "all"
    where: str  # "" or " WHERE SystemModstamp >= <since - look_back> [AND SystemModstamp < <until>]"
    segregation_columns: dict[str, str]  # segregation field as configured → frame column
    shape: str  # digest of object and columns: a resume state applies only to the same shape

    @property
    def select(self) -> str:
        return f"SELECT {', '.join(self.columns.values())} FROM {self.object_name}{self.where}"

    @property
    def rest_soql(self) -> str:
        return f"{self.select} ORDER BY {STAMP}, {ID}"

    @property
    def count_soql(self) -> str:
        return f"SELECT COUNT() FROM {self.object_name}{self.where}"


def plan_pull(settings: SalesforceSettings, described: ObjectDescription, fields: list[str],
              since: datetime | None, until: datetime | None = None) -> PullPlan:
    """Check `fields` against describe (ApiConfigError "<Object> has no field '<X>'") and build the plan."""
    canonical = described.require(fields)
    columns: dict[str, str] = {ID: ID, STAMP: STAMP}
    taken = {ID.lower(), STAMP.lower()}
    for name in fields:
        path = canonical[name]
        if path.lower() not in taken:
            columns[name] = path
            taken.add(path.lower())
    output = list(columns)
    segregation_columns: dict[str, str] = {}
    if settings.segregation is not None:
        settings.segregation.soql(described)  # checks the filter's fields and values now, not mid-pull
        for name in settings.segregation.fields:
            path = described.canonical(name) or name
            if path.lower() not in taken:
                columns[path] = path
                taken.add(path.lower())
            segregation_columns[name] = next(c for c, p in columns.items() if p.lower() == path.lower())
    conditions, since_key = [], "all"
    if since is not None:
        lower = since - timedelta(seconds=settings.look_back_s)
        conditions.append(f"{STAMP} >= {datetime_literal(lower)}")
        since_key = datetime_literal(since)
    if until is not None:  # a time window (a backfill partition): its end is exclusive
        conditions.append(f"{STAMP} < {datetime_literal(until)}")
        since_key = f"{since_key}<{datetime_literal(until)}"
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    shape = hashlib.sha1(repr((described.name, sorted(columns.items()))).encode()).hexdigest()[:16]
    return PullPlan(described.name, columns, output, since_key, where, segregation_columns, shape)


class Watermarks:
    """The watermark rule (see the module docstring) over the pages of one query."""

    def __init__(self, seen_max: datetime | None = None, ordered: bool = True):
        self.seen_max = seen_max
        self.ordered = ordered

    def after(self, stamps: pd.Series, final: bool) -> datetime | None:
        prior = self.seen_max
        if len(stamps):
            behind = prior is not None and stamps.iloc[0] < prior
            if self.ordered and (behind or not stamps.is_monotonic_increasing):
                log.warning("Salesforce returned records out of SystemModstamp order; the watermark "
                            "waits for the last page")
                self.ordered = False
            page_max = stamps.max().to_pydatetime()
            self.seen_max = page_max if prior is None else max(prior, page_max)
        if final:
            return self.seen_max
        if not self.ordered or not len(stamps):
            return None
        last = stamps.iloc[-1]
        below = stamps[stamps < last]
        candidates = [below.max().to_pydatetime()] if len(below) else []
        if prior is not None and prior < last:
            candidates.append(prior)
        return max(candidates) if candidates else None


def _stamps(table: pa.Table) -> pd.Series:
    """The page's SystemModstamps as UTC times. Arrow's ISO 8601 parser reads Salesforce's stamps (…Z, …+0000)
    in C++: pandas' took a third of the reader thread's CPU on a bulk page. A stamp Arrow does not read (an
    empty string) sends the page to pandas, which reads it as before (NaT)."""
    column = table.column(STAMP)
    try:
        parsed = pc.cast(column, pa.timestamp("ns", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_datetime(column.to_pandas(), utc=True, format="ISO8601")
    return parsed.to_pandas()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def query_results(bulk: _Bulk2Client, job_id: str, locator: str, max_records: int) -> tuple[bytes, str]:
    """One page of a Bulk API 2.0 query job's results and the next locator ("" after the last page):
    simple-salesforce's get_query_results (the same request, headers and errors), with the CSV kept as the
    bytes received, for pyarrow to parse (never decoded into a Python str, which takes up to four bytes a
    character and two more copies)."""
    params = {"maxRecords": max_records}
    if locator and locator != "null":
        params["locator"] = locator
    result = call_salesforce(url=bulk._construct_request_url(job_id, True) + "/results", method="GET",
                             session=bulk.session, headers=bulk._get_headers(bulk.JSON_CONTENT_TYPE,
                                                                             bulk.CSV_CONTENT_TYPE),
                             params=params)
    following = result.headers.get("Sforce-Locator", "")
    int(result.headers["Sforce-NumberOfRecords"])  # as simple-salesforce: a page without it is an error
    data = result.content
    if b"\x00" in data:  # as simple-salesforce, which strips NUL characters
        data = data.replace(b"\x00", b"")
    return data, "" if following == "null" else following


class LeadPull:
    """One run of `pull`: plan, path (REST or bulk), pages, watermarks and resume states."""

    def __init__(self, client: SalesforceClient, settings: SalesforceSettings, described: ObjectDescription,
                 plan: PullPlan):
        self.client, self.settings, self.described, self.plan = client, settings, described, plan

    def run(self, resume: dict | None) -> Iterator[PulledBatch]:
        if resume and resume.get("v") == RESUME_VERSION and resume.get("shape") == self.plan.shape:
            if resume.get("path") == "bulk":
                yield from self._bulk(resume)
                return
            if resume.get("path") == "rest":
                yield from self._rest(resume)
                return
        changed = self.client.count(self.plan.count_soql, f"count changed {self.plan.object_name} records")
        if changed == 0:
            return
        if changed > self.settings.bulk_threshold:
            yield from self._bulk(None)
        else:
            yield from self._rest(None)

    # ------------------------------------------------------------------ REST

    def _rest(self, resume: dict | None) -> Iterator[PulledBatch]:
        what = f"query {self.plan.object_name}"
        batch = self.settings.rest_batch_size
        since_key, page_no = self.plan.since_key, 1
        marks = Watermarks()
        response = None
        if resume:
            try:
                response = self.client.query_more(resume["next"], what, batch)
                since_key, page_no = resume["since"], int(resume["page"])
                marks = Watermarks(_from_iso(resume.get("seen_max")))
            except ApiError as exc:
                if exc.vendor_code != "INVALID_QUERY_LOCATOR":
                    raise
                log.info("Salesforce query cursor expired; pulling again from the watermark")
        if response is None:
            response = self.client.call(what, lambda sf: sf.query(
                self.plan.rest_soql, headers={"Sforce-Query-Options": f"batchSize={batch}"}))
        while True:
            final = bool(response.get("done", True))
            frame = rest_table(response.get("records", []), self.plan.columns)
            if frame.num_rows or final:
                watermark = marks.after(_stamps(frame), final)
                pairs = zip(frame.column(ID).to_pylist(), frame.column(STAMP).to_pylist(), strict=True)
                digest = hashlib.sha1("\n".join(f"{i}@{m}" for i, m in pairs).encode()).hexdigest()[:12]
                state = None if final else {"v": RESUME_VERSION, "shape": self.plan.shape, "path": "rest",
                                            "since": since_key, "next": response["nextRecordsUrl"],
                                            "page": page_no + 1, "seen_max": _iso(marks.seen_max)}
                yield self._batch(frame, f"rest:{since_key}:{page_no}:{digest}", watermark, state, "rest")
            if final:
                return
            page_no += 1
            response = self.client.query_more(response["nextRecordsUrl"], what, batch)

    # ------------------------------------------------------------------ Bulk API 2.0

    def _bulk(self, resume: dict | None) -> Iterator[PulledBatch]:
        obj = self.plan.object_name
        what = f"bulk query of {obj}"
        job_id = locator = None
        marks = Watermarks(ordered=False)
        if resume and self._job_ready(resume["job_id"]):
            job_id, locator = resume["job_id"], resume["locator"]
            marks = Watermarks(_from_iso(resume.get("seen_max")), ordered=False)
        if job_id is None:
            job_id = self.client.with_new_jobs(self._start_job)
            locator = ""
        while True:
            current = locator
            data, locator = self.client.call(what, lambda sf, at=current: query_results(
                self.client.bulk2(sf, obj), job_id, at, self.settings.bulk_page_size))
            final = locator == ""
            frame = csv_table(data, self.plan.columns)
            del data  # the page's CSV: not held while the batch waits to be stored
            watermark = marks.after(_stamps(frame), final)
            state = None if final else {"v": RESUME_VERSION, "shape": self.plan.shape, "path": "bulk",
                                        "job_id": job_id, "locator": locator,
                                        "seen_max": _iso(marks.seen_max)}
            if frame.num_rows or final:
                yield self._batch(frame, f"bulk:{job_id}:{current or 'first'}", watermark, state, "bulk")
            if final:
                self._delete_job(job_id)
                return

    def _start_job(self) -> str:
        """Create the query job once and wait for it. Each poll is retried alone (a poll that times out does
        not create a second job); a job that ends Failed raises what its errorMessage means (errors.py): an
        unknown field is an ApiConfigError naming it, never retried with a new job; only a job Salesforce
        failed for its own reasons (BulkJobFailed) is created again, `bulk_job_attempts` times in all."""
        obj = self.plan.object_name
        job = self.client.call(f"create bulk query job of {obj}", lambda sf: self.client.bulk2(sf, obj).create_job(
            Operation.query, query=self.plan.select))
        self.client.wait_for_bulk_job(obj, job["id"], is_query=True)
        return job["id"]

    def _job_ready(self, job_id: str) -> bool:
        try:
            info = self.client.call("check bulk query job", lambda sf: self.client.bulk2(
                sf, self.plan.object_name).get_job(job_id, True))
        except ApiError as exc:
            if exc.status != 404:
                raise
            info = {"state": "Deleted"}
        if info.get("state") != "JobComplete":
            log.info("Salesforce bulk job %s is %s; pulling again from the watermark", job_id,
                     info.get("state"))
            return False
        return True

    def _delete_job(self, job_id: str) -> None:
        """Free the job's result storage (best effort: an undeleted job expires after 7 days anyway)."""
        try:  # sf.restful, because bulk2's delete_job decodes the 204's empty body as JSON
            self.client.call("delete bulk query job", lambda sf: sf.restful(f"jobs/query/{job_id}",
                                                                            method="DELETE"))
        except ApiError as exc:
            log.info("Salesforce bulk job %s not deleted: %s", job_id, exc)

    # ------------------------------------------------------------------ batches

    def _batch(self, table: pa.Table, key: str, watermark: datetime | None, resume: dict | None,
               kind: str) -> PulledBatch:
        segregation = self.settings.segregation
        output = table.select(self.plan.output)
        if segregation is not None:
            used = list(dict.fromkeys(self.plan.segregation_columns.values()))
            flags = segregation.flags(table.select(used).to_pandas(), self.described, self.plan.segregation_columns)
            output = output.append_column(SEGREGATED_COLUMN, pa.array(flags.tolist(), pa.string()))
        return PulledBatch(key=key, records=output, watermark=watermark, resume=resume, kind=kind)
