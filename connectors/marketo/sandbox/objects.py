"""Lead Database objects that share one API pattern: opportunities, opportunity roles and custom objects.
Describe (idField, dedupeFields, searchableFields, fields), query by filterType (GET, POST `_method=GET`
with a form, or a JSON body of compound keys), sync (createOnly / updateOnly / createOrUpdate with
dedupeBy dedupeFields | idField) and delete, each with per-record results `{seq, status, marketoGUID}`.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from leadsync.connectors.marketo.sandbox.clock import SandboxClock, iso, naive_utc, parse_iso
from leadsync.connectors.marketo.sandbox.database import Database
from leadsync.connectors.marketo.sandbox.envelope import MarketoError, RecordError
from leadsync.connectors.marketo.sandbox.fields import FieldDef, FieldSet
from leadsync.connectors.marketo.sandbox.leads import batch_size, decode_cursor, encode_cursor, filter_values
from leadsync.connectors.marketo.sandbox.limits import MarketoLimits

SYSTEM_FIELDS = (FieldDef("marketoGUID", "Marketo GUID", "string", 36, updateable=False),
                 FieldDef("createdAt", "Created At", "datetime", updateable=False),
                 FieldDef("updatedAt", "Updated At", "datetime", updateable=False))


@dataclass(frozen=True)
class ObjectType:
    """One object type. `lead_link`: a field that must name an existing lead (1004 otherwise);
    `parent`: (object, field) that must exist for the record's value of that field (1013 otherwise)."""

    api_name: str
    display_name: str
    description: str
    fields: tuple[FieldDef, ...]
    dedupe_fields: tuple[str, ...]
    searchable_fields: tuple[tuple[str, ...], ...] = ()
    required: tuple[str, ...] = ()
    lead_link: str | None = None
    parent: tuple[str, str] | None = None
    custom: bool = False
    created_at: datetime = field(default=datetime(2026, 1, 5, 9, 30))

    def field_set(self) -> FieldSet:
        return FieldSet([*SYSTEM_FIELDS, *self.fields])

    def describe(self) -> dict[str, Any]:
        out = {"name": self.api_name, "displayName": self.display_name, "description": self.description,
               "createdAt": iso(self.created_at), "updatedAt": iso(self.created_at), "idField": "marketoGUID",
               "dedupeFields": list(self.dedupe_fields),
               "searchableFields": [list(g) for g in self.searchable_fields] or
               [list(self.dedupe_fields), ["marketoGUID"]]}
        if self.lead_link:
            out["relationships"] = [{"field": self.lead_link, "type": "parent",
                                     "relatedTo": {"name": "Lead", "field": "id"}}]
        out["fields"] = [{"name": x.name, "displayName": x.display_name, "dataType": x.data_type,
                          **({"length": x.length} if x.length else {}),
                          "updateable": x.updateable and x.name not in self.dedupe_fields}
                         for x in self.field_set().fields]
        return out


def _f(name: str, display: str, kind: str = "string", **kw: Any) -> FieldDef:
    return FieldDef(name, display, kind, **kw)


OPPORTUNITY = ObjectType(
    "opportunity", "Opportunity", "Opportunity", (
        _f("externalOpportunityId", "External Opportunity Id", length=50), _f("name", "Name"),
        _f("description", "Description", "text"), _f("type", "Type"), _f("stage", "Stage"),
        _f("amount", "Amount", "currency"), _f("expectedRevenue", "Expected Revenue", "currency"),
        _f("probability", "Probability", "integer"), _f("closeDate", "Close Date", "date"),
        _f("isClosed", "Is Closed", "boolean"), _f("isWon", "Is Won", "boolean"), _f("source", "Source"),
        _f("externalCompanyId", "External Company Id"), _f("externalSalesPersonId", "External Sales Person Id"),
        _f("leadsyncPartner", "Leadsync Partner"), _f("leadsyncRepEmail", "Leadsync Rep Email", "email")),
    ("externalOpportunityId",), (("externalOpportunityId",), ("marketoGUID",)), required=("name",))
OPPORTUNITY_ROLE = ObjectType(
    "opportunityRole", "Opportunity Role", "Opportunity Role", (
        _f("externalOpportunityId", "External Opportunity Id", length=50), _f("leadId", "Lead Id", "integer"),
        _f("role", "Role", length=50), _f("isPrimary", "Is Primary", "boolean"),
        _f("externalCreatedDate", "External Created Date", "datetime")),
    ("externalOpportunityId", "leadId", "role"),
    (("externalOpportunityId", "leadId", "role"), ("marketoGUID",), ("leadId",), ("externalOpportunityId",)),
    lead_link="leadId", parent=("opportunity", "externalOpportunityId"))
LEADSYNC_ASSIGNMENT = ObjectType(
    "leadsyncAssignment_c", "Leadsync Assignment", "A lead's assignment to a channel partner (leadsync)", (
        _f("assignmentKey", "Assignment Key", length=80), _f("leadId", "Lead Id", "integer"),
        _f("partnerName", "Partner Name"), _f("partnerId", "Partner Id"), _f("status", "Status"),
        _f("rejectionReason", "Rejection Reason"), _f("salesStatus", "Sales Status"),
        _f("repName", "Rep Name"), _f("repEmail", "Rep Email", "email"),
        _f("assignedAt", "Assigned At", "datetime"), _f("acceptedAt", "Accepted At", "datetime")),
    ("assignmentKey",), (("assignmentKey",), ("marketoGUID",), ("leadId",)), lead_link="leadId", custom=True)


class ObjectStore:
    def __init__(self, db: Database, clock: SandboxClock, limits: MarketoLimits, types: list[ObjectType]):
        self.db, self.clock, self.limits = db, clock, limits
        self.types = {t.api_name.lower(): t for t in types}
        self.lead_exists: Callable[[set[int]], set[int]] = lambda ids: set()  # wired by the sandbox
        self._lock = threading.RLock()
        self.records: dict[str, dict[str, dict[str, Any]]] = {t.api_name: {} for t in types}
        for row in db.rows("SELECT objectName, marketoGUID, record FROM objects ORDER BY seq"):
            self.records.setdefault(row["objectName"], {})[row["marketoGUID"]] = json.loads(row["record"])

    def type(self, name: str) -> ObjectType:
        kind = self.types.get(str(name).lower())
        if kind is None:
            raise MarketoError("1013", f"Object '{name}' not found")
        return kind

    def custom_types(self, names: str | None = None) -> list[dict[str, Any]]:
        wanted = {n.strip().lower() for n in names.split(",")} if names else None
        return [{k: v for k, v in t.describe().items() if k != "fields"} for t in self.types.values()
                if t.custom and (wanted is None or t.api_name.lower() in wanted)]

    # ------------------------------------------------------------------------------ query

    def query(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        kind = self.type(name)
        fields = kind.field_set()
        wanted = fields.parse_list(params.get("fields"), [x.name for x in fields.fields])
        filter_type = str(params.get("filterType") or "")
        if not filter_type:
            raise MarketoError("701", "filterType cannot be blank")
        if filter_type == "idField":
            keys = ("marketoGUID",)
        elif filter_type == "dedupeFields":
            keys = kind.dedupe_fields
        else:
            group = next((g for g in kind.searchable_fields or [kind.dedupe_fields, ("marketoGUID",)]
                          if len(g) == 1 and g[0].lower() == filter_type.lower()), None)
            if group is None:
                raise MarketoError("1003", f"Invalid filterType '{filter_type}'")
            keys = group
        wanted_keys = self._filter_keys(kind, keys, params)
        matches = [r for r in self.records.get(kind.api_name, {}).values()
                   if tuple(_norm(r.get(k)) for k in keys) in wanted_keys]
        page = batch_size(params.get("batchSize"), self.limits)
        start = decode_cursor(f"obj:{kind.api_name}", params.get("nextPageToken"))
        chosen = matches[start:start + page]
        out: dict[str, Any] = {"result": [
            {"seq": i, **{x.name: r[x.name] for x in [fields.require("marketoGUID"), *wanted]
                          if r.get(x.name) is not None}} for i, r in enumerate(chosen)]}
        if start + page < len(matches):
            out["nextPageToken"] = encode_cursor(f"obj:{kind.api_name}", start + page)
        return out

    def _filter_keys(self, kind: ObjectType, keys: tuple[str, ...], params: dict[str, Any]) -> set[tuple]:
        fields = kind.field_set()
        if isinstance(params.get("input"), list):  # compound keys in a JSON body
            if len(params["input"]) > self.limits.max_batch:
                raise MarketoError("1003", f"input may hold at most {self.limits.max_batch} records")
            return {tuple(_norm(_coerce(fields.require(k), _get(item, k))) for k in keys)
                    for item in params["input"] if isinstance(item, dict)}
        if len(keys) != 1:
            raise MarketoError("1003", "Compound keys need an input array (POST with _method=GET)")
        key_field = fields.require(keys[0])
        return {(_norm(_coerce(key_field, v)),) for v in filter_values(params.get("filterValues"), self.limits)}

    # ------------------------------------------------------------------------------ sync / delete

    def sync(self, name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        kind = self.type(name)
        action = body.get("action") or "createOrUpdate"
        dedupe_by = body.get("dedupeBy") or "dedupeFields"
        if action not in ("createOrUpdate", "createOnly", "updateOnly"):
            raise MarketoError("1003", f"Invalid action '{action}'")
        if dedupe_by not in ("dedupeFields", "idField") or (dedupe_by == "idField" and action != "updateOnly"):
            raise MarketoError("1003", f"dedupeBy '{dedupe_by}' is not valid with action '{action}'")
        items = _input(body, self.limits)
        keys = ("marketoGUID",) if dedupe_by == "idField" else kind.dedupe_fields
        lead_ids = {item.get(kind.lead_link) for item in items if kind.lead_link and isinstance(item, dict)}
        known_leads = self.lead_exists({int(i) for i in lead_ids if str(i).isdigit()})
        now = iso(self.clock.now())
        results, touched, seen = [], [], set()
        with self._lock:
            store = self.records.setdefault(kind.api_name, {})
            index = {tuple(_norm(r.get(k)) for k in keys): r for r in store.values()}
            for seq, item in enumerate(items):
                try:
                    record, status = self._sync_one(kind, item, keys, action, index, known_leads, now, seen)
                    store[record["marketoGUID"]] = record
                    index[tuple(_norm(record.get(k)) for k in keys)] = record
                    touched.append(record)
                    results.append({"seq": seq, "status": status, "marketoGUID": record["marketoGUID"]})
                except RecordError as error:
                    results.append({"seq": seq, "status": "skipped", "reasons": [error.reason()]})
            self._persist(kind, touched)
        return results

    def _sync_one(self, kind: ObjectType, item: Any, keys: tuple[str, ...], action: str, index: dict,
                  known_leads: set[int], now: str, seen: set) -> tuple[dict[str, Any], str]:
        if not isinstance(item, dict):
            raise RecordError("1003", "Invalid record")
        fields = kind.field_set()
        values = {}
        for name, raw in item.items():
            spec = fields.get(str(name))
            if spec is None:
                raise RecordError("1006", f"Field '{name}' not found")
            if spec.updateable or spec.name in keys:
                values[spec.name] = spec.render(spec.coerce(raw))
        key = tuple(_norm(values.get(k)) for k in keys)
        if any(part is None for part in key):
            missing = next(k for k, part in zip(keys, key, strict=True) if part is None)
            raise RecordError("1003", f"Value for required field '{missing}' not found")
        if key in seen:
            raise RecordError("1036", "Duplicate object found in input")
        seen.add(key)
        existing = index.get(key)
        if existing is not None and action == "createOnly":
            raise RecordError("1017", "Object already exists")
        if existing is None and action == "updateOnly":
            raise RecordError("1013", "Object not found")
        merged = {**(existing or {}), **values}
        lead = merged.get(kind.lead_link) if kind.lead_link else None
        if kind.lead_link and lead not in known_leads and not self.lead_exists({lead} if isinstance(lead, int)
                                                                             else set()):
            raise RecordError("1004", "Lead not found")
        if kind.parent:
            parent_type, parent_field = kind.parent
            parents = self.records.get(self.type(parent_type).api_name, {}).values()
            if not any(_norm(p.get(parent_field)) == _norm(merged.get(parent_field)) for p in parents):
                raise RecordError("1013", f"{parent_type} '{merged.get(parent_field)}' not found")
        if existing is None:
            missing = [r for r in kind.required if merged.get(r) in (None, "")]
            if missing:
                raise RecordError("1002", f"Missing value for required parameter '{missing[0]}'")
            merged.update(marketoGUID=str(uuid.uuid4()), createdAt=now)
        merged["updatedAt"] = now
        return merged, "created" if existing is None else "updated"

    def delete(self, name: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        kind = self.type(name)
        delete_by = body.get("deleteBy") or "dedupeFields"
        keys = ("marketoGUID",) if delete_by == "idField" else kind.dedupe_fields
        fields = kind.field_set()
        results, gone = [], []
        with self._lock:
            store = self.records.setdefault(kind.api_name, {})
            for seq, item in enumerate(_input(body, self.limits)):
                try:
                    key = tuple(_norm(_coerce(fields.require(k), _get(item, k))) for k in keys)
                except (MarketoError, AttributeError):
                    key = None
                found = next((r for r in store.values() if key and tuple(_norm(r.get(k)) for k in keys) == key), None)
                if found is None:
                    results.append({"seq": seq, "status": "skipped",
                                    "reasons": [{"code": "1013", "message": "Object not found"}]})
                    continue
                del store[found["marketoGUID"]]
                gone.append(found["marketoGUID"])
                results.append({"seq": seq, "marketoGUID": found["marketoGUID"], "status": "deleted"})
            if gone:
                marks = ", ".join("?" * len(gone))
                self.db.execute(f"DELETE FROM objects WHERE objectName = ? AND marketoGUID IN ({marks})",
                                [kind.api_name, *gone])
        return results

    def _persist(self, kind: ObjectType, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        latest = {r["marketoGUID"]: r for r in records}
        guids = list(latest)
        with self.db.lock:
            self.db.execute(f"DELETE FROM objects WHERE objectName = ? AND marketoGUID IN "
                            f"({', '.join('?' * len(guids))})", [kind.api_name, *guids])
            seq = int(self.db.scalar("SELECT coalesce(max(seq), 0) FROM objects")) + 1
            self.db.insert("objects", pa.table({
                "objectName": [kind.api_name] * len(guids), "marketoGUID": guids,
                "seq": list(range(seq, seq + len(guids))), "record": [json.dumps(latest[g]) for g in guids],
                "createdAt": [naive_utc(parse_iso(latest[g]["createdAt"])) for g in guids],
                "updatedAt": [naive_utc(parse_iso(latest[g]["updatedAt"])) for g in guids]}))


def _input(body: dict[str, Any], limits: MarketoLimits) -> list[Any]:
    items = body.get("input")
    if not isinstance(items, list) or not items:
        raise MarketoError("701", "input cannot be blank")
    if len(items) > limits.max_batch:
        raise MarketoError("1003", f"input may hold at most {limits.max_batch} records")
    return items


def _get(item: dict[str, Any], key: str) -> Any:
    return next((v for k, v in item.items() if str(k).lower() == key.lower()), None)


def _coerce(spec: FieldDef, value: Any) -> Any:
    try:
        return spec.render(spec.coerce(value))
    except RecordError as error:
        raise MarketoError("1003", error.message) from None


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value
