"""The lead database: Get Lead by Id, Get Leads by Filter Type (paged), and Sync Leads
(createOrUpdate / createOnly / updateOnly / createDuplicate with a lookup field), which writes New Lead and
Change Data Value activities as Marketo does.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

import pyarrow as pa

from leadsync.connectors.marketo.sandbox.activities import CHANGE_DATA_VALUE, DELETE_LEAD, NEW_LEAD, ActivityLog
from leadsync.connectors.marketo.sandbox.clock import SandboxClock, iso, naive_utc
from leadsync.connectors.marketo.sandbox.database import Database
from leadsync.connectors.marketo.sandbox.envelope import MarketoError, RecordError, skipped
from leadsync.connectors.marketo.sandbox.faults import MarketoFaults
from leadsync.connectors.marketo.sandbox.fields import DEFAULT_LEAD_RESPONSE_FIELDS, STRING_TYPES, FieldDef, LeadSchema
from leadsync.connectors.marketo.sandbox.limits import MarketoLimits

ACTIONS = ("createOrUpdate", "createOnly", "updateOnly", "createDuplicate")
MAX_FILTER_MATCHES = 1000  # beyond this Get Leads by Filter Type answers 1003


def encode_cursor(kind: str, position: int) -> str:
    return base64.b32encode(f"{kind}|{position}".encode()).decode()


def decode_cursor(kind: str, token: str | None) -> int:
    if not token:
        return 0
    try:
        found, position = base64.b32decode(token.strip()).decode().split("|")
        if found != kind:
            raise ValueError
        return int(position)
    except (ValueError, TypeError):
        raise MarketoError("1003", "Invalid nextPageToken") from None


def filter_values(raw: str | None, limits: MarketoLimits) -> list[str]:
    values = [v.strip() for v in str(raw or "").split(",") if v.strip()]
    if not values:
        raise MarketoError("701", "filterValues cannot be blank")
    if len(values) > limits.max_batch:
        raise MarketoError("1003", f"filterValues may hold at most {limits.max_batch} values")
    return values


def batch_size(raw: Any, limits: MarketoLimits) -> int:
    if raw in (None, ""):
        return limits.max_batch
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise MarketoError("1003", f"Invalid batchSize '{raw}'") from None
    if not 1 <= size <= limits.max_batch:
        raise MarketoError("1003", f"batchSize must be between 1 and {limits.max_batch}")
    return size


def match_expression(field: FieldDef, values: list[Any]) -> tuple[str, list[Any]]:
    """SQL for `field IN values`; text compares case-insensitively, as Marketo does."""
    marks = ", ".join("?" * len(values))
    if field.data_type in STRING_TYPES:
        return f'lower("{field.name}") IN ({marks})', [str(v).lower() for v in values]
    return f'"{field.name}" IN ({marks})', values


class LeadStore:
    def __init__(self, db: Database, schema: LeadSchema, activities: ActivityLog, clock: SandboxClock,
                 faults: MarketoFaults, limits: MarketoLimits):
        self.db = db
        self.schema = schema
        self.activities = activities
        self.clock = clock
        self.faults = faults
        self.limits = limits
        self._next_id = int(db.scalar("SELECT coalesce(max(id), 0) FROM leads")) + 1
        self._id_lock = threading.Lock()

    # ------------------------------------------------------------------------------ reads

    def count(self) -> int:
        return int(self.db.scalar("SELECT count(*) FROM leads"))

    def existing_ids(self, ids: set[int]) -> set[int]:
        ids = {i for i in ids if isinstance(i, int) and not isinstance(i, bool)}
        if not ids:
            return set()
        marks = ", ".join("?" * len(ids))
        return {row["id"] for row in self.db.rows(f"SELECT id FROM leads WHERE id IN ({marks})", sorted(ids))}

    def row(self, lead_id: int) -> dict[str, Any] | None:
        """Every field of one lead, rendered as the API would (nulls included); None if absent."""
        rows = self.db.rows("SELECT * FROM leads WHERE id = ?", [lead_id])
        if not rows:
            return None
        return {f.name: f.render(rows[0][f.name]) for f in self.schema.fields}

    def render(self, row: dict[str, Any], fields: list[FieldDef]) -> dict[str, Any]:
        """A lead as Get Leads returns it: `id` first, the asked fields, nulls left out."""
        out: dict[str, Any] = {"id": row["id"]}
        for field in fields:
            value = field.render(row.get(field.name))
            if value is not None:
                out[field.name] = value
        return out

    def by_id(self, lead_id: int, fields: str | None) -> list[dict[str, Any]]:
        wanted = self.schema.parse_list(fields, DEFAULT_LEAD_RESPONSE_FIELDS)
        rows = self.db.rows("SELECT * FROM leads WHERE id = ?", [lead_id])
        return [self.render(rows[0], wanted)] if rows else []

    def by_filter(self, filter_type: str | None, raw_values: str | None, fields: str | None,
                  size: Any, token: str | None) -> dict[str, Any]:
        """Get Leads by Filter Type: {result, nextPageToken?} (the token only while more pages remain)."""
        if not filter_type:
            raise MarketoError("701", "filterType cannot be blank")
        field = self.schema.get(filter_type)
        if field is None or not field.searchable:
            raise MarketoError("1011", f"Field '{filter_type}' not supported")
        values = [self._filter_value(field, v) for v in filter_values(raw_values, self.limits)]
        wanted = self.schema.parse_list(fields, DEFAULT_LEAD_RESPONSE_FIELDS)
        page = batch_size(size, self.limits)
        after = decode_cursor("leads", token)
        where, params = match_expression(field, values)
        with self.db.lock:
            if self.db.scalar(f"SELECT count(*) FROM leads WHERE {where}", params) > MAX_FILTER_MATCHES:
                raise MarketoError("1003", "Too many results match the filter")
            rows = self.db.rows(f"SELECT * FROM leads WHERE {where} AND id > ? ORDER BY id LIMIT ?",
                                [*params, after, page + 1])
        out: dict[str, Any] = {"result": [self.render(row, wanted) for row in rows[:page]]}
        if len(rows) > page:
            out["nextPageToken"] = encode_cursor("leads", rows[page - 1]["id"])
        return out

    @staticmethod
    def _filter_value(field: FieldDef, value: str) -> Any:
        try:
            return field.coerce(value)
        except RecordError:
            raise MarketoError("1003", f"Invalid filterValues '{value}' for '{field.name}'") from None

    # ------------------------------------------------------------------------------ writes

    def sync(self, records: Any, action: str | None = None, lookup_field: str | None = None,
             request_id: str = "", source: str = "Web service API", api_method: str = "syncLead") -> list[dict]:
        """Sync Leads; per input record, in order: {id, status created|updated} or skipped with reasons."""
        action = action or "createOrUpdate"
        if action not in ACTIONS:
            raise MarketoError("1003", f"Invalid action '{action}'")
        lookup = self.schema.get(lookup_field or "email")
        if lookup is None or not lookup.searchable:
            raise MarketoError("1011", f"Field '{lookup_field}' not supported")
        if not isinstance(records, list) or not records:
            raise MarketoError("701", "input cannot be blank")
        if len(records) > self.limits.max_batch:
            raise MarketoError("1003", f"input may hold at most {self.limits.max_batch} records")
        with self.db.lock:
            return _SyncBatch(self, action, lookup, request_id, source, api_method).run(records)

    def delete(self, lead_ids: list[Any]) -> list[dict[str, Any]]:
        """Delete Leads: each lead goes with its memberships and a Delete Lead (37) activity is logged, as
        Get Deleted Leads reads them; an unknown id is skipped with 1004."""
        if not lead_ids:
            raise MarketoError("701", "input cannot be blank")
        if len(lead_ids) > self.limits.max_batch:
            raise MarketoError("1003", f"input may hold at most {self.limits.max_batch} records")
        results, activities = [], []
        with self.db.lock:
            rows = {r["id"]: r for r in self.db.rows(
                f"SELECT id, firstName, lastName FROM leads WHERE id IN ({', '.join('?' * len(lead_ids))})",
                [int(i) if str(i).isdigit() else -1 for i in lead_ids])}
            for raw in lead_ids:
                lead_id = int(raw) if str(raw).isdigit() else raw
                row = rows.pop(lead_id, None)
                if row is None:
                    results.append(skipped(RecordError("1004"), id=lead_id))
                    continue
                for table in ("leads", "program_members", "static_list_members"):
                    self.db.execute(f"DELETE FROM {table} WHERE {'id' if table == 'leads' else 'leadId'} = ?",
                                    [lead_id])
                name = " ".join(p for p in (row["firstName"], row["lastName"]) if p)
                activities.append({"leadId": lead_id, "activityDate": naive_utc(self.clock.now()),
                                   "activityTypeId": DELETE_LEAD, "primaryAttributeValueId": lead_id,
                                   "primaryAttributeValue": name or str(lead_id),
                                   "attributes": {"Remove from CRM": False}})
                results.append({"id": lead_id, "status": "deleted"})
            self.activities.record(activities)
        return results

    def reserve_ids(self, count: int) -> int:
        """`count` consecutive new lead ids; returns the first."""
        with self._id_lock:
            first = self._next_id
            self._next_id += count
            return first


class _SyncBatch:
    """One Sync Leads call: resolve lookups once, apply records in order, write once."""

    def __init__(self, store: LeadStore, action: str, lookup: FieldDef, request_id: str, source: str,
                 api_method: str):
        self.store, self.action, self.lookup = store, action, lookup
        self.now = naive_utc(store.clock.now())
        self.meta = {"Source": source, "API Method Name": api_method, "Request Id": request_id}
        self.rows: dict[int, dict[str, Any]] = {}
        self.created: list[int] = []
        self.changed: set[int] = set()
        self.activity_rows: list[dict[str, Any]] = []
        self.matches: dict[Any, list[int]] = {}

    def run(self, records: list[Any]) -> list[dict]:
        self._resolve(records)
        results = []
        for record in records:
            try:
                results.append(self._apply(record))
            except RecordError as error:
                results.append(skipped(error))
        self._write()
        return results

    def _key_of(self, record: Any) -> Any:
        if not isinstance(record, dict):
            return None
        raw = next((v for k, v in record.items() if str(k).lower() == self.lookup.name.lower()), None)
        try:
            key = self.lookup.coerce(raw)
        except RecordError:
            return None
        return key.lower() if isinstance(key, str) else key

    def _resolve(self, records: list[Any]) -> None:
        keys = sorted({k for k in map(self._key_of, records) if k is not None}, key=str)
        if not keys:
            return
        where, params = match_expression(self.lookup, keys)
        for row in self.store.db.rows(f"SELECT * FROM leads WHERE {where} ORDER BY id", params):
            self.rows[row["id"]] = row
            key = row[self.lookup.name]
            self.matches.setdefault(key.lower() if isinstance(key, str) else key, []).append(row["id"])

    def _apply(self, record: Any) -> dict:
        if not isinstance(record, dict):
            raise RecordError("1003", "Invalid lead record")
        values, given_id = self._values(record)
        key = self._key_of(record)
        if given_id is not None and self.action != "updateOnly" and self.lookup.name != "id":
            raise RecordError("1003", "Field 'id' may only be sent with action updateOnly")
        ids = [] if self.action == "createDuplicate" or key is None else self.matches.get(key, [])
        if key is None and self.action in ("createOrUpdate", "updateOnly"):
            raise RecordError("1003", f"Value for lookup field '{self.lookup.name}' not found")
        email = values.get("email") or (self.rows[ids[0]].get("email") if ids else None)
        fault = self.store.faults.take_bad_record(ids[0] if len(ids) == 1 else None, email)
        if fault is not None:
            raise fault
        if len(ids) > 1 and self.action != "createOnly":
            raise RecordError("1007", "Multiple leads match the lookup criteria")
        if ids and self.action == "createOnly":
            raise RecordError("1005", "Lead already exists")
        if ids:
            return {"id": ids[0], "status": self._update(ids[0], values)}
        if self.action == "updateOnly" or self.lookup.name == "id":
            raise RecordError("1004", "Lead not found")
        return {"id": self._create(values, key), "status": "created"}

    def _values(self, record: dict) -> tuple[dict[str, Any], int | None]:
        values: dict[str, Any] = {}
        given_id = None
        for name, raw in record.items():
            field = self.store.schema.get(str(name))
            if field is None:
                raise RecordError("1006", f"Field '{name}' not found")
            if field.name == "id":
                given_id = field.coerce(raw)
            elif field.updateable:  # read-only fields in input are ignored, as Marketo does
                values[field.name] = field.coerce(raw)
        return values, given_id

    def _create(self, values: dict[str, Any], key: Any) -> int:
        new_id = self.store.reserve_ids(1)
        row = {f.name: None for f in self.store.schema.fields}
        row.update(values, id=new_id, createdAt=self.now, updatedAt=self.now)
        self.rows[new_id] = row
        self.created.append(new_id)
        if key is not None:
            self.matches[key] = [new_id]
        self.activity_rows.append({
            "leadId": new_id, "activityDate": self.now, "activityTypeId": NEW_LEAD,
            "attributes": {"Created Date": self.now.date().isoformat(), "Source Type": self.meta["Source"],
                           "Lead Source": values.get("leadSource"), "API Method Name": self.meta["API Method Name"],
                           "Request Id": self.meta["Request Id"]}})
        return new_id

    def _update(self, lead_id: int, values: dict[str, Any]) -> str:
        row = self.rows[lead_id]
        for name, new in values.items():
            old = row.get(name)
            if old == new:
                continue
            row[name] = new
            field = self.store.schema.get(name)
            self.activity_rows.append({
                "leadId": lead_id, "activityDate": self.now, "activityTypeId": CHANGE_DATA_VALUE,
                "primaryAttributeValueId": field.id, "primaryAttributeValue": field.display_name,
                "fieldName": field.name,
                "attributes": {"New Value": _text(new), "Old Value": _text(old), "Reason": self.meta["Source"],
                               **self.meta}})
            row["updatedAt"] = self.now
            self.changed.add(lead_id)
        return "updated"

    def _write(self) -> None:
        schema = self.store.schema.arrow_schema()
        created = set(self.created)

        def table(ids: list[int]) -> pa.Table:
            return pa.Table.from_pylist([self.rows[i] for i in ids], schema=schema)

        self.store.db.insert("leads", table(self.created))
        self.store.db.update_by_id("leads", table(sorted(self.changed - created)))
        self.store.activities.record(self.activity_rows)


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return iso(value) if hasattr(value, "hour") else str(value)
