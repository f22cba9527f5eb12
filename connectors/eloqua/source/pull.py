"""Incremental, resumable contact pulls through Bulk API 2.0 exports.

One pull is one export: a definition selecting the fields (ContactID and C_DateModified always) and, when
there is a `since`, the filter `'{{Contact.Field(C_DateModified)}}' >= '<since - look_back>'` (inclusive:
a contact modified exactly at the watermark is read again, never lost); one sync; then its staged rows page
by page, one PulledBatch per page (memory stays one page).

Batch keys are `f"{sync uri}:{offset}"`: reading the same page of the same sync again gives the same key.
Every batch but the last carries `resume`; a pull given that resume continues the same sync at its offset
(no new export) while Eloqua still holds the sync's data, else starts a new export from the same `since`.
Only the last batch, when the whole sync has been read, carries a watermark: the newest C_DateModified
read in the sync (never earlier than `since`), so an interrupted pull never moves the watermark past rows
it has not delivered. An export with no rows yields no batch (the watermark stays).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from leadsync.connectors.api_client import ApiError
from leadsync.connectors.eloqua.source.bulk import Bulk
from leadsync.connectors.eloqua.source.contact_fields import MODIFIED
from leadsync.connectors.eloqua.source.settings import EloquaSettings
from leadsync.connectors.eloqua.source.timestamps import as_utc, filter_time, iso, parse_bulk_time
from leadsync.connectors.source_api import PulledBatch

log = logging.getLogger(__name__)
_ISO_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2}(\.\d+)?)?$")


@dataclass(frozen=True)
class ExportCursor:
    """Where a pull stands in one export sync (what `resume` carries)."""

    definition: str
    sync: str
    offset: int
    since: datetime | None  # the pull's since, before the look-back
    until: datetime | None  # when Eloqua created the sync: rows changed later are for the next pull
    fields: tuple[str, ...]
    newest: datetime | None = None  # the newest C_DateModified delivered so far from this sync
    before: datetime | None = None  # the pull's exclusive upper bound (a time window), kept by re-exports

    def as_resume(self) -> dict:
        return {"definition": self.definition, "sync": self.sync, "offset": self.offset, "since": iso(self.since),
                "until": iso(self.until), "fields": list(self.fields), "newest": iso(self.newest),
                "before": iso(self.before)}

    @classmethod
    def from_resume(cls, resume: dict) -> ExportCursor:
        return cls(str(resume["definition"]), str(resume["sync"]), int(resume.get("offset") or 0),
                   _when(resume.get("since")), _when(resume.get("until")), tuple(resume.get("fields") or ()),
                   _when(resume.get("newest")), _when(resume.get("before")))


class ContactPull:
    def __init__(self, bulk: Bulk, settings: EloquaSettings):
        self.bulk = bulk
        self.settings = settings
        self.warnings: list[str] = []  # of the syncs read in this pull (a sync that ended `warning`)

    def run(self, fields: dict[str, str], since: datetime | None, resume: dict | None,
            before: datetime | None = None) -> Iterator[PulledBatch]:
        """`fields`: column → statement (ContactFields.export_fields). A naive `since` is UTC. `before`
        (exclusive) bounds a time window of history."""
        since = as_utc(since) if since is not None else None
        before = as_utc(before) if before is not None else None
        cursor = self._resumed(resume, fields) if resume else None
        fresh = None  # the sync this call exported, if it had to
        if cursor is None:
            cursor = self._start(fields, _resume_since(resume, since), before=before)
            fresh = cursor.sync
        while True:
            page = self.bulk.data_table(cursor.sync, cursor.offset, self.settings.export_page_size, list(fields))
            if page is None:  # the sync's staged data is gone (retention over): export again from the same since
                if cursor.sync == fresh and cursor.offset == 0:
                    raise ApiError(f"Eloqua Bulk {cursor.sync}: its data expired right after the export finished "
                                   "(check export_retention)")
                log.info("Eloqua %s data expired at offset %d; exporting again from %s", cursor.sync,
                         cursor.offset, cursor.since)
                cursor = self._start(fields, cursor.since, cursor.newest, cursor.before)
                fresh = cursor.sync
                continue
            records = page.table
            count = records.num_rows
            last = not (page.has_more and count)
            newest = _newest(records.column(MODIFIED) if MODIFIED in records.column_names else None, cursor.newest)
            after = replace(cursor, offset=cursor.offset + count, newest=newest)
            if count or (last and cursor.offset > 0):
                yield PulledBatch(key=f"{cursor.sync}:{cursor.offset}", records=records,
                                  watermark=_watermark(newest, cursor.since) if last else None,
                                  resume=None if last else after.as_resume(), kind="bulk",
                                  warnings=tuple(self.warnings))
            if last:
                return
            cursor = after

    def _start(self, fields: dict[str, str], since: datetime | None, newest: datetime | None = None,
               before: datetime | None = None) -> ExportCursor:
        name = "leadsync contacts" + (f" modified since {filter_time(since)}" if since else "")
        body = {"name": name + (f" before {filter_time(before)}" if before else ""),
                "fields": fields, "areSystemTimestampsInUTC": True,
                "dataRetentionDuration": self.settings.export_retention,
                "autoDeleteDuration": self.settings.export_retention}
        statement = f"'{{{{Contact.Field({MODIFIED})}}}}'"
        conditions = []
        if since is not None:
            conditions.append(f"{statement} >= '{filter_time(since - self.settings.look_back)}'")
        if before is not None:
            conditions.append(f"{statement} < '{filter_time(before)}'")
        if conditions:
            body["filter"] = " AND ".join(conditions)
        definition = self.bulk.define("contacts", "exports", body)
        sync = self.bulk.run(definition)
        self._note(sync)
        return ExportCursor(definition, sync["uri"], 0, since, parse_bulk_time(sync.get("createdAt")),
                            tuple(fields), newest, before)

    def _resumed(self, resume: dict, fields: dict[str, str]) -> ExportCursor | None:
        """The cursor to continue from, or None when the resume cannot be used (another field list, a sync
        Eloqua no longer knows or that failed)."""
        try:
            cursor = ExportCursor.from_resume(resume)
        except (KeyError, TypeError, ValueError):
            log.warning("Eloqua pull: unreadable resume %r; starting a new export", resume)
            return None
        if cursor.fields and list(cursor.fields) != list(fields):
            log.info("Eloqua pull: the field list changed since %s; starting a new export", cursor.sync)
            return None
        sync = self.bulk.status(cursor.sync)
        if sync is None or sync.get("syncedInstanceUri", cursor.definition) != cursor.definition:
            return None
        if sync.get("status") in ("pending", "active"):
            sync = self.bulk.wait(sync)
        if sync.get("status") not in ("success", "warning"):
            return None
        self._note(self.bulk.with_warnings(sync))
        return replace(cursor, fields=tuple(fields))

    def _note(self, sync: dict) -> None:
        for line in sync.get("warnings") or ():
            log.warning("%s", line)
            if line not in self.warnings:
                self.warnings.append(line)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _resume_since(resume: dict | None, since: datetime | None) -> datetime | None:
    """A resume that cannot be continued restarts from its own since (the pull it belongs to)."""
    try:
        return _when(resume.get("since")) if resume and "since" in resume else since
    except (TypeError, ValueError):
        return since


def _newest(stamps: pa.ChunkedArray | None, newest: datetime | None) -> datetime | None:
    """The latest of `newest` and the page's C_DateModified values (unreadable ones ignored). The values'
    text orders as their times once trimmed, "T" read as " " and "Z" dropped (fixed-width dates and times,
    a fraction compared digit by digit), so the largest is parsed alone; a largest value that does not parse
    sends the page through the value-by-value path."""
    if stamps is None or len(stamps) == stamps.null_count:
        return newest
    trimmed = pc.utf8_trim_whitespace(stamps)
    ordered = pc.replace_substring(pc.replace_substring(trimmed, "T", " "), "Z", "")
    top = pc.max(ordered).as_py()
    moment = parse_bulk_time(top)
    if moment is None or not _ISO_PREFIX.match(top):
        for value in stamps.to_pylist():
            found = parse_bulk_time(value)
            if found is not None and (moment is None or found > moment):
                moment = found
    if moment is None:
        return newest
    return moment if newest is None or moment > newest else newest


def _watermark(newest: datetime | None, since: datetime | None) -> datetime | None:
    if newest is None:
        return since
    return max(newest, since) if since is not None else newest
