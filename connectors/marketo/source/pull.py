"""Incremental lead pulls, by `updatedAt`.

- No `since` (the first pull), or more than `bulk_threshold` changed leads: Bulk Extract with an `updatedAt`
  filter, one job per window of ≤ 31 days, one batch per chunk of `bulk_chunk_rows` rows.
- Otherwise REST: the changed lead ids from the activity log (New Lead, Change Data Value) since
  `since - look_back_s`, then Get Leads by id, `rest_batch_size` per batch.

Watermarks never pass what has been yielded: a REST batch's watermark is the latest change time all of whose
changes are in this or an earlier batch; a bulk batch's is min(window end, latest `updatedAt` yielded) once
its window is complete, and the previous value before that. Lower bounds are inclusive and the look-back
re-reads the last minutes, so records sharing a timestamp with the watermark come again rather than never
(leadsync dedups by id and updatedAt).

Keys: `rest:<since>:<page>:<digest>` and `bulk:<window start>:<window end>:<chunk>:<digest>`, the digest
being that of the batch's (id, updatedAt) pairs, so the same records fetched again get the same key and
different records never share one."""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

import pandas as pd

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.marketo.source.bulk import LeadExports, export_windows, read_chunks
from leadsync.connectors.marketo.source.changes import changed_leads
from leadsync.connectors.marketo.source.client import MarketoClient
from leadsync.connectors.marketo.source.records import ID, UPDATED_AT, digest, frame, iso, max_updated, parse_time
from leadsync.connectors.source_api import PulledBatch

UNSUPPORTED_FILTER = "1035"  # some subscriptions refuse the updatedAt export filter


class _FilterUnsupported(Exception):
    pass


class LeadPull:
    def __init__(self, client: MarketoClient, describe: Callable[[], dict[str, str]]):
        self.client = client
        self.settings = client.settings
        self.describe = describe
        self.exports = LeadExports(client)

    def batches(self, fields: list[str], since: datetime | None, resume: dict | None,
                before: datetime | None = None) -> Iterator[PulledBatch]:
        columns = self.columns(fields)
        since = parse_time(since) if since is not None else None
        if resume and resume.get("path") == "bulk":
            yield from self._bulk(columns, parse_time(resume["start"]), parse_time(resume["until"]),
                                  resume.get("filter", UPDATED_AT), since, resume)
            return
        if before is not None:  # a time window of history: Bulk Extract by updatedAt over [start, before)
            before = parse_time(before)
            start = since - timedelta(seconds=self.settings.look_back_s) if since is not None \
                else before - timedelta(days=self.settings.first_pull_days)
            yield from self._bulk(columns, start, before, UPDATED_AT, since)
            return
        # Marketo renders whole seconds; a lead updated at 12:00:00.4 shows as 12:00:00 and an export ending at
        # 12:00:00 would miss it, so the period ends on the next whole second.
        now = self.client.clock()
        until = now.replace(microsecond=0) + timedelta(seconds=1 if now.microsecond else 0)
        if since is None:
            start = until - timedelta(days=self.settings.first_pull_days)
            try:
                yield from self._bulk(columns, start, until, UPDATED_AT, None)
            except _FilterUnsupported:  # every lead created in the period instead
                yield from self._bulk(columns, start, until, "createdAt", None)
            return
        start = since - timedelta(seconds=self.settings.look_back_s)
        types = self.settings.change_activity_type_ids
        changes = changed_leads(self.client, start, types, self.settings.bulk_threshold)
        if changes is None:
            try:
                yield from self._bulk(columns, start, until, UPDATED_AT, since)
                return
            except _FilterUnsupported:
                changes = changed_leads(self.client, start, types, None) or {}
        yield from self._rest(columns, since, changes)

    def columns(self, fields: list[str]) -> list[str]:
        """`id`, `updatedAt` and the asked fields, spelt as Marketo spells them; unknown fields refused."""
        known = {name.lower(): name for name in self.describe()}
        unknown = [name for name in fields if name.lower() not in known]
        if unknown:
            raise ApiConfigError(f"Marketo has no lead field {', '.join(map(repr, unknown))} (at "
                                 f"{self.settings.base_url}); check the field names in the mapping against "
                                 f"Marketo's API names (leads/describe)")
        return list(dict.fromkeys([ID, UPDATED_AT, *(known[name.lower()] for name in fields)]))

    # ------------------------------------------------------------------ REST

    def _rest(self, columns: list[str], since: datetime, changes: dict[int, str]) -> Iterator[PulledBatch]:
        order = sorted(changes.items(), key=lambda item: (item[1], item[0]))
        times = [when for _, when in order]
        size = self.settings.rest_batch_size
        pages = [[lead for lead, _ in order[i:i + size]] for i in range(0, len(order), size)]
        ahead = max(1, self.settings.max_concurrent)
        with ThreadPoolExecutor(max_workers=min(ahead, max(len(pages), 1)),
                                thread_name_prefix="marketo-leads") as pool:
            pending: deque[Future[pd.DataFrame]] = deque()
            upcoming = iter(pages)

            def top_up() -> None:
                while len(pending) < ahead:
                    ids = next(upcoming, None)
                    if ids is None:
                        return
                    pending.append(pool.submit(self._leads_by_id, ids, columns))

            try:
                top_up()
                for number in range(len(pages)):
                    records = pending.popleft().result()
                    top_up()
                    yield PulledBatch(key=f"rest:{iso(since)}:{number}:{digest(records)}", records=records,
                                      watermark=_later(since, _rest_watermark(times, (number + 1) * size)),
                                      kind="rest")
            finally:
                for future in pending:
                    future.cancel()

    def _leads_by_id(self, ids: list[int], columns: list[str]) -> pd.DataFrame:
        """The leads of `ids`, every page of the answer (Get Leads pages by nextPageToken like any other
        call, even with fewer values than batchSize): a batch holds all it asked for, or raises, so its
        watermark never passes a lead not read. Ids Marketo does not return once paging is done are leads
        it no longer has (deleted or merged)."""
        form = {"filterType": "id", "filterValues": ",".join(map(str, ids)), "fields": ",".join(columns),
                "batchSize": 300}
        records = [item for body in self.client.pages("/rest/v1/leads.json", form, form=True)
                   for item in body.get("result") or []]
        return frame(records, columns)

    # ------------------------------------------------------------------ Bulk Extract

    def _bulk(self, columns: list[str], start: datetime, until: datetime, filter_field: str,
              baseline: datetime | None, resume: dict | None = None) -> Iterator[PulledBatch]:
        windows = export_windows(start, until, self.settings.bulk_window_days)
        covered = high = baseline
        first = int(resume.get("window", 0)) if resume else 0
        state = {"path": "bulk", "start": iso(start), "until": iso(until), "filter": filter_field}
        ahead: str | None = None  # the next window's job, started while this one is read
        try:
            for index in range(first, len(windows)):
                window = windows[index]
                reuse = resume.get("export_id") if resume and index == first else None
                skip = int(resume.get("next_chunk", 0)) if reuse else 0
                started, ahead = ahead, None
                try:
                    export = self.exports.fetch(columns, filter_field, window, reuse, started)
                except ApiConfigError as exc:
                    if exc.vendor_code == UNSUPPORTED_FILTER and index == 0 and resume is None:
                        raise _FilterUnsupported() from exc
                    raise
                if index + 1 < len(windows):  # Marketo exports the next window while this one is read
                    ahead = self.exports.start(columns, filter_field, windows[index + 1])
                try:
                    chunks = read_chunks(export.path, self.settings.bulk_chunk_rows)
                    records, number = next(chunks, None), 0
                    while records is not None:
                        following = next(chunks, None)
                        if number >= skip:
                            high = _later(high, max_updated(records))
                            done = following is None
                            if done and high is not None:
                                covered = min(window.end, high)
                            if not done:
                                after = {**state, "window": index, "export_id": export.export_id,
                                         "next_chunk": number + 1}
                            elif index + 1 < len(windows):
                                after = {**state, "window": index + 1, "export_id": None, "next_chunk": 0}
                            else:
                                after = None
                            yield PulledBatch(key=f"bulk:{window.label}:{number}:{digest(records)}",
                                              records=records, watermark=covered, resume=after, kind="bulk")
                        records, number = following, number + 1
                finally:
                    export.path.unlink(missing_ok=True)
        finally:
            if ahead is not None:  # the pull stopped before that window: nobody will read the job
                self.exports.cancel(ahead)


def _rest_watermark(times: list[str], yielded: int) -> datetime | None:
    """The latest change time t such that every change at or before t is among the first `yielded`
    (sorted) changes; None when there is none yet."""
    if yielded >= len(times):
        return parse_time(times[-1]) if times else None
    cut = bisect.bisect_left(times, times[yielded])
    return parse_time(times[cut - 1]) if cut > 0 else None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)
