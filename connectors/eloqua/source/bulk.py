"""Bulk API 2.0 jobs: definitions, syncs polled to their end, data pages, uploads, rejects and logs.

A sync ends `success`, `warning` (an import rejected some rows) or `error`; an error raises ApiError carrying
the sync's log messages. Data of an export stays readable for the definition's dataRetentionDuration; a page
request after that answers 404 or 410, which `data_page` reports as None ("expired") instead of raising.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import requests
from leadsync.connectors.api_client import ApiConfigError, ApiError, ApiTransientError, poll_delays
from leadsync.connectors.eloqua.source.client import EloquaClient, failures_text, response_json
from leadsync.connectors.eloqua.source.settings import MAX_EXPORT_PAGE, EloquaSettings

FINISHED = ("success", "warning", "error")
# A sync's first status check comes this soon after it started, each later one twice as late, up to
# sync_poll_interval_s: a small sync (an incremental pull, an import of a few hundred rows) ends within a second
# and is not left waiting a whole interval; a large one is checked every interval as before.
FIRST_POLL_S = 0.05
MAX_UPLOAD_BYTES = 30 * 1024 * 1024  # Eloqua refuses POSTs over 32 MB (with a 404)
EXPIRED = (404, 410)


@dataclass(frozen=True)
class DataPage:
    """One page of an export's rows."""

    table: pa.Table  # one string column per exported field, null where Eloqua sent ""
    has_more: bool


def page_table(body: bytes, columns: list[str]) -> DataPage:
    """A Bulk data page (`{"hasMore": …, "items": [{field: "text", …}, …]}`) as a DataPage. pyarrow's JSON
    reader parses the whole page (one document: one block) straight into Arrow string columns; a page it
    cannot read that way (a value that is not text) goes through the json module, values as text."""
    item = pa.struct([(name, pa.string()) for name in columns])
    try:
        parsed = pajson.read_json(pa.BufferReader(body), read_options=pajson.ReadOptions(
            block_size=max(len(body) + 1, 1 << 20), use_threads=False), parse_options=pajson.ParseOptions(
            explicit_schema=pa.schema([("hasMore", pa.bool_()), ("items", pa.list_(item))]),
            unexpected_field_behavior="ignore", newlines_in_values=True))
        if parsed.num_rows != 1:
            raise ValueError(f"a data page of {parsed.num_rows} documents")
        has_more = bool(parsed.column("hasMore")[0].as_py())
        items = parsed.column("items").combine_chunks()
        rows = items.flatten() if items.null_count == 0 else pa.array([], item)
        arrays = rows.flatten()
    except (pa.ArrowException, ValueError):
        page = json.loads(body)
        items = page.get("items") or []
        has_more = bool(page.get("hasMore"))
        arrays = [pa.array([_text(item.get(name)) for item in items], pa.string()) for name in columns]
    empty = pa.scalar(None, pa.string())
    return DataPage(pa.table({name: pc.if_else(pc.not_equal(array, ""), array, empty)
                              for name, array in zip(columns, arrays, strict=True)}), has_more)


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


class SyncFailed(ApiError):
    """A sync ended in `error`; the message carries its logs."""


class Bulk:
    def __init__(self, client: EloquaClient, settings: EloquaSettings):
        self.client = client
        self.settings = settings

    def url(self, path: str) -> str:
        return f"{self.client.endpoints.bulk}{path}"

    # ------------------------------------------------------------------ definitions and syncs

    def define(self, entity: str, kind: str, body: dict) -> str:
        """Create an export or import definition; its uri. A refused definition is a configuration error."""
        what = f"Eloqua Bulk {entity} {kind[:-1]} definition"
        answer = self.client.request("POST", self.url(f"/{entity}/{kind}"), what=what, json=body, allow=(400,))
        if answer.status_code == 400:
            raise ApiConfigError(f"{what} refused: {failures_text(response_json(answer))}", status=400)
        return answer.json()["uri"]

    def start_sync(self, definition_uri: str) -> dict:
        what = f"Eloqua Bulk sync of {definition_uri}"
        answer = self.client.request("POST", self.url("/syncs"), what=what,
                                     json={"syncedInstanceUri": definition_uri}, allow=(409,))
        if answer.status_code == 409:
            # A retried POST whose first attempt did start the sync: find that sync instead of a second one.
            running = self._running_sync(definition_uri)
            if running is None:
                raise ApiTransientError(f"{what}: HTTP 409, another sync of the definition is running", status=409)
            return running
        return answer.json()

    def _running_sync(self, definition_uri: str) -> dict | None:
        found = None
        for sync in self.client.bulk_items("/syncs", "Eloqua Bulk syncs"):
            if sync.get("syncedInstanceUri") == definition_uri and sync.get("status") in ("pending", "active"):
                found = sync
        return found

    def status(self, sync_uri: str) -> dict | None:
        """The sync, or None when Eloqua no longer knows it."""
        answer = self.client.request("GET", self.url(sync_uri), what=f"Eloqua Bulk {sync_uri}", allow=EXPIRED)
        return None if answer.status_code in EXPIRED else answer.json()

    def wait(self, sync: dict) -> dict:
        """Poll until the sync has ended; raises SyncFailed (with its logs) when it ended in error. A sync
        that ended `warning` did its work (its data is good) but logged what went wrong on the way: its
        warning log lines come back under the key "warnings" (a list of text), for the caller to show."""
        deadline = time.monotonic() + self.settings.sync_timeout_s
        delays = poll_delays(min(FIRST_POLL_S, self.settings.sync_poll_interval_s), self.settings.sync_poll_interval_s)
        while sync.get("status") not in FINISHED:
            if time.monotonic() > deadline:
                raise ApiTransientError(f"Eloqua Bulk {sync['uri']} still {sync.get('status')} after "
                                        f"{self.settings.sync_timeout_s:.0f} s (sync_timeout_s)")
            time.sleep(next(delays))
            current = self.status(sync["uri"])
            if current is None:
                raise ApiError(f"Eloqua Bulk {sync['uri']} disappeared while it was {sync.get('status')}")
            sync = current
        if sync["status"] == "error":
            raise SyncFailed(f"Eloqua Bulk {sync['uri']} of {sync.get('syncedInstanceUri')} ended in error: "
                             f"{self.logs_text(sync['uri'])}")
        return self.with_warnings(sync)

    def with_warnings(self, sync: dict) -> dict:
        """The sync, with its warning log lines under "warnings" when it ended `warning` (read once)."""
        if sync.get("status") != "warning" or "warnings" in sync:
            return sync
        return {**sync, "warnings": self.warnings(sync)}

    def warnings(self, sync: dict) -> list[str]:
        """The warning (and error) lines of a sync's logs, each "ELQ-code message (n records)", named by the
        sync; one line saying the logs could not be read rather than an exception (the data is good)."""
        uri = sync["uri"]
        try:
            entries = [e for e in self.logs(uri) if e.get("severity") in ("warning", "error")]
        except ApiError as exc:
            return [f"Eloqua Bulk {uri} ended with warnings; its logs could not be read ({exc})"]
        if not entries:
            return [f"Eloqua Bulk {uri} ended with warnings and logged none"]
        return [f"Eloqua Bulk {uri} of {sync.get('syncedInstanceUri', '?')}: {e.get('statusCode', '')} "
                f"{e.get('message', '')}".rstrip() + (f" ({e['count']} records)" if e.get("count") else "")
                for e in entries]

    def run(self, definition_uri: str) -> dict:
        """Start a sync of the definition and wait for its end."""
        return self.wait(self.start_sync(definition_uri))

    def logs(self, sync_uri: str) -> list[dict]:
        return list(self.client.bulk_items(f"{sync_uri}/logs", f"Eloqua Bulk {sync_uri} logs"))

    def logs_text(self, sync_uri: str) -> str:
        try:
            logs = self.logs(sync_uri)
        except ApiError as exc:
            return f"(logs unreadable: {exc})"
        worst = [entry for entry in logs if entry.get("severity") in ("error", "warning")] or logs
        return "; ".join(f"{e.get('statusCode', '')} {e.get('message', '')}".strip() for e in worst) or "(no logs)"

    # ------------------------------------------------------------------ exports

    def data_page(self, sync_uri: str, offset: int, limit: int) -> dict | None:
        """One page of an export sync's rows; None when its data has expired (or the sync is gone)."""
        answer = self._data(sync_uri, offset, limit)
        return None if answer is None else answer.json()

    def data_table(self, sync_uri: str, offset: int, limit: int, columns: list[str]) -> DataPage | None:
        """data_page as an Arrow table of `columns` (text; Eloqua's empty value "" as null), parsed from the
        response bytes in columnar form (no Python dict per row); None when the data has expired."""
        answer = self._data(sync_uri, offset, limit)
        return None if answer is None else page_table(answer.content, columns)

    def _data(self, sync_uri: str, offset: int, limit: int) -> requests.Response | None:
        answer = self.client.request("GET", self.url(f"{sync_uri}/data"), what=f"Eloqua Bulk {sync_uri} data",
                                     params={"limit": limit, "offset": offset}, allow=EXPIRED)
        return None if answer.status_code in EXPIRED else answer

    def export(self, entity: str, fields: dict[str, str], filter_: str | None = None,
               page_size: int = MAX_EXPORT_PAGE, name: str = "leadsync export") -> Iterator[list[dict]]:
        """Define, sync and read an export page by page (for the small exports: campaign responses,
        activities, contact lookups). The contact pull has its own resumable loop (pull.py)."""
        body = {"name": name, "fields": fields, "areSystemTimestampsInUTC": True,
                "dataRetentionDuration": "PT1H", "autoDeleteDuration": "PT1H"}
        if filter_:
            body["filter"] = filter_
        sync = self.run(self.define(entity, "exports", body))
        offset = 0
        while True:
            page = self.data_page(sync["uri"], offset, page_size)
            if page is None:
                raise ApiError(f"Eloqua Bulk {sync['uri']}: data expired while it was being read")
            items = page.get("items") or []
            if items:
                yield items
            offset += len(items)
            if not page.get("hasMore") or not items:
                return

    # ------------------------------------------------------------------ imports

    def upload(self, definition_uri: str, rows: list[dict[str, str]]) -> None:
        """Stage rows for the next sync of an import definition, in POSTs under Eloqua's 32 MB limit."""
        step = max(1, self.settings.import_rows_per_upload)
        for start in range(0, len(rows), step):
            self._post_rows(definition_uri, rows[start:start + step])

    def _post_rows(self, definition_uri: str, rows: list[dict[str, str]]) -> None:
        raw = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if len(raw) > MAX_UPLOAD_BYTES and len(rows) > 1:
            half = len(rows) // 2
            self._post_rows(definition_uri, rows[:half])
            self._post_rows(definition_uri, rows[half:])
            return
        # once: rows staged twice would be imported twice (the second copy rejected as a duplicate identifier)
        self.client.request("POST", self.url(f"{definition_uri}/data"), what=f"Eloqua Bulk upload to {definition_uri}",
                            once=True, data=raw, headers={"Content-Type": "application/json; charset=utf-8"})

    def rejects(self, sync_uri: str) -> Iterator[dict]:
        return self.client.bulk_items(f"{sync_uri}/rejects", f"Eloqua Bulk {sync_uri} rejects")
