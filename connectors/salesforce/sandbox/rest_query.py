"""REST `query` / `queryAll` and queryMore: pages of up to 2,000 records (the `Sforce-Query-Options:
batchSize=N` header asks for 200..2000), `totalSize` over all pages, `nextRecordsUrl` while not `done`.

A query's matching rows are fixed when it runs (as a server-side cursor); each page renders the records'
current values. Cursors live 15 minutes; the oldest are dropped past 100 open cursors.
"""

from __future__ import annotations

import secrets
import threading
import time
from array import array
from collections import OrderedDict
from dataclasses import dataclass

from starlette.responses import JSONResponse

from leadsync.connectors.salesforce.sandbox.context import ApiCall, Org
from leadsync.connectors.salesforce.sandbox.errors import ApiError
from leadsync.connectors.salesforce.sandbox.soql_engine import QueryPlan, compile_query, render_records, select_rows
from leadsync.connectors.salesforce.sandbox.soql_tokens import SoqlError

DEFAULT_BATCH = 2000
MIN_BATCH = 200
CURSOR_TTL_S = 15 * 60
MAX_CURSORS = 100


@dataclass
class Cursor:
    plan: QueryPlan
    rows: array
    batch: int
    endpoint: str  # "query" or "queryAll"
    created: float


class QueryCursors:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: OrderedDict[str, Cursor] = OrderedDict()

    def open(self, cursor: Cursor) -> str:
        cursor_id = "01g" + secrets.token_hex(8)[:12].upper() + "AAA"
        with self._lock:
            self._open[cursor_id] = cursor
            while len(self._open) > MAX_CURSORS:
                self._open.popitem(last=False)
        return cursor_id

    def get(self, cursor_id: str) -> Cursor | None:
        with self._lock:
            cursor = self._open.get(cursor_id)
            if cursor is not None and time.monotonic() - cursor.created > CURSOR_TTL_S:
                del self._open[cursor_id]
                return None
            return cursor


def batch_size(call: ApiCall) -> int:
    options = call.headers.get("sforce-query-options", "")
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(MIN_BATCH, min(DEFAULT_BATCH, int(value)))
    return DEFAULT_BATCH


def compile_or_400(org: Org, soql: str | None) -> QueryPlan:
    if not soql:
        raise ApiError(400, "MALFORMED_QUERY", "SOQL statements cannot be empty or null")
    try:
        return compile_query(soql, org.store)
    except SoqlError as exc:
        raise ApiError(400, exc.code, exc.message) from None


def query(org: Org, call: ApiCall) -> JSONResponse:
    """GET /query?q= and /queryAll?q= (queryAll also returns deleted records)."""
    endpoint = call.params["endpoint"]
    include_deleted = endpoint == "queryAll"
    plan = compile_or_400(org, call.query.get("q"))
    rows = select_rows(plan, org.store, include_deleted)
    if plan.count_only:
        return JSONResponse({"totalSize": len(rows), "done": True, "records": []})
    cursor = Cursor(plan, array("q", rows), batch_size(call), endpoint, time.monotonic())
    return _page(org, call, cursor, None, 0)


def query_more(org: Org, call: ApiCall) -> JSONResponse:
    """GET /query/{cursor}-{offset}: the next page of an earlier query."""
    locator = call.params["locator"]
    cursor_id, _, offset = locator.rpartition("-")
    cursor = org.cursors.get(cursor_id) if offset.isdigit() else None
    if cursor is None:
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return _page(org, call, cursor, cursor_id, int(offset))


def _page(org: Org, call: ApiCall, cursor: Cursor, cursor_id: str | None, start: int) -> JSONResponse:
    total = len(cursor.rows)
    end = min(total, start + cursor.batch)
    records = render_records(cursor.plan, org.store, cursor.rows[start:end], call.version)
    body: dict = {"totalSize": total, "done": end >= total}
    if end < total:
        cursor_id = cursor_id or org.cursors.open(cursor)
        body["nextRecordsUrl"] = f"/services/data/v{call.version}/{cursor.endpoint}/{cursor_id}-{end}"
    body["records"] = records
    return JSONResponse(body)
