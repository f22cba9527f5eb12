"""Lead activities: the activity log (New Lead and Change Data Value are written as leads change),
activity types, paging tokens, Get Lead Activities / Get Lead Changes, and custom activities.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from leadsync.connectors.marketo.sandbox.clock import SandboxClock, iso, naive_utc, parse_iso
from leadsync.connectors.marketo.sandbox.database import Database
from leadsync.connectors.marketo.sandbox.envelope import MarketoError, RecordError
from leadsync.connectors.marketo.sandbox.fields import FieldDef, FieldSet

NEW_LEAD, CHANGE_DATA_VALUE, VISIT_WEBPAGE, FILL_OUT_FORM, CHANGE_PROGRAM_STATUS = 12, 13, 1, 2, 104
DELETE_LEAD = 37


@dataclass(frozen=True)
class ActivityType:
    id: int
    name: str
    description: str
    primary_attribute: tuple[str, str] | None = None  # (name, dataType)
    attributes: tuple[tuple[str, str], ...] = ()

    def describe(self) -> dict:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "description": self.description}
        if self.primary_attribute:
            out["primaryAttribute"] = {"name": self.primary_attribute[0], "dataType": self.primary_attribute[1]}
        out["attributes"] = [{"name": n, "dataType": t} for n, t in self.attributes]
        return out


STANDARD_ACTIVITY_TYPES = [
    ActivityType(1, "Visit Webpage", "User visits a web page", ("Webpage ID", "integer"),
                 (("Client IP Address", "string"), ("Query Parameters", "string"), ("Referrer URL", "string"),
                  ("User Agent", "string"), ("Webpage URL", "string"))),
    ActivityType(2, "Fill Out Form", "User fills out and submits form on web page", ("Webform ID", "integer"),
                 (("Client IP Address", "string"), ("Form Fields", "text"), ("Webpage ID", "integer"))),
    ActivityType(6, "Send Email", "Send Marketo Email to a person", ("Mailing ID", "integer"),
                 (("Campaign Run ID", "integer"), ("Step ID", "integer"))),
    ActivityType(10, "Open Email", "User opens Marketo Email", ("Mailing ID", "integer"),
                 (("Device", "string"), ("Is Mobile Device", "boolean"))),
    ActivityType(11, "Click Email", "User clicks on a link in a Marketo Email", ("Mailing ID", "integer"),
                 (("Link", "string"),)),
    ActivityType(NEW_LEAD, "New Lead", "New person", None,
                 (("Created Date", "date"), ("Source Type", "string"), ("Form Name", "string"),
                  ("Lead Source", "string"), ("API Method Name", "string"), ("Request Id", "string"))),
    ActivityType(CHANGE_DATA_VALUE, "Change Data Value", "Changed attribute value for a person",
                 ("Attribute Name", "integer"),
                 (("New Value", "string"), ("Old Value", "string"), ("Reason", "string"), ("Source", "string"),
                  ("API Method Name", "string"), ("Request Id", "string"))),
    ActivityType(37, "Delete Lead", "Delete person", ("Lead ID", "integer"), (("Remove from CRM", "boolean"),)),
    ActivityType(CHANGE_PROGRAM_STATUS, "Change Status in Progression", "Change a program status",
                 ("Program ID", "integer"),
                 (("Old Status", "string"), ("New Status", "string"), ("Acquired By", "boolean"),
                  ("Success", "boolean"), ("Program Member ID", "integer"), ("Reason", "string"))),
]


@dataclass(frozen=True)
class CustomActivityType:
    """A custom activity type (ids from 100000, as Marketo numbers them)."""

    id: int
    api_name: str
    name: str
    description: str
    primary_attribute: FieldDef
    attributes: tuple[FieldDef, ...] = ()
    trigger_name: str = ""
    filter_name: str = ""
    created_at: datetime = field(default=datetime(2026, 1, 5, 9, 30))

    def summary(self) -> dict:
        return {"id": self.id, "apiName": self.api_name, "name": self.name, "description": self.description,
                "triggerName": self.trigger_name or self.name, "filterName": self.filter_name or self.name,
                "createdAt": iso(self.created_at), "updatedAt": iso(self.created_at), "status": "approved"}

    def describe(self) -> dict:
        def attr(x: FieldDef) -> dict:
            return {"apiName": x.name, "name": x.display_name, "dataType": x.data_type}
        return {**self.summary(), "primaryAttribute": attr(self.primary_attribute),
                "attributes": [attr(x) for x in self.attributes]}

    def as_activity_type(self) -> ActivityType:
        return ActivityType(self.id, self.name, self.description,
                            (self.primary_attribute.display_name, self.primary_attribute.data_type),
                            tuple((x.display_name, x.data_type) for x in self.attributes))


PARTNER_EVENT = CustomActivityType(
    100001, "leadsyncPartnerEvent", "Partner Marketing Event",
    "A channel partner's marketing event with this person (written back by leadsync)",
    FieldDef("eventName", "Event Name"),
    (FieldDef("partnerName", "Partner Name"), FieldDef("eventType", "Event Type"),
     FieldDef("eventDate", "Event Date", "datetime"), FieldDef("outcome", "Outcome")),
    trigger_name="Has Partner Marketing Event", filter_name="Had Partner Marketing Event")

ARROW_SCHEMA = pa.schema([("id", pa.int64()), ("leadId", pa.int64()), ("activityDate", pa.timestamp("us")),
                          ("activityTypeId", pa.int32()), ("campaignId", pa.int64()),
                          ("primaryAttributeValueId", pa.int64()), ("primaryAttributeValue", pa.string()),
                          ("attributes", pa.string()), ("fieldName", pa.string())])


def encode_token(position: datetime, last_id: int) -> str:
    """Paging tokens are base32 text, like Marketo's `GIYDAOBN...====`."""
    return base64.b32encode(f"{iso(position)}|{last_id}".encode()).decode()


def decode_token(token: str) -> tuple[datetime, int]:
    try:
        when, last_id = base64.b32decode(token.strip()).decode().split("|")
        return naive_utc(parse_iso(when)), int(last_id)
    except (ValueError, TypeError):
        raise MarketoError("1003", "Invalid nextPageToken") from None


class ActivityLog:
    def __init__(self, db: Database, clock: SandboxClock, custom_types: list[CustomActivityType],
                 lead_fields: FieldSet):
        self.db = db
        self.clock = clock
        self.lead_fields = lead_fields
        self.custom_types = {t.id: t for t in custom_types}
        self.types = [*STANDARD_ACTIVITY_TYPES, *(t.as_activity_type() for t in custom_types)]
        self._lock = threading.Lock()
        self._next_id = int(db.scalar("SELECT coalesce(max(id), 0) FROM activities")) + 1
        self.lead_exists: Callable[[set[int]], set[int]] = lambda ids: set()  # wired by the sandbox

    def record(self, rows: list[dict[str, Any]]) -> list[int]:
        """Append activities (dicts of the ARROW_SCHEMA columns; `attributes` a dict). Returns their ids."""
        if not rows:
            return []
        with self._lock:
            first = self._next_id
            self._next_id += len(rows)
        ids = list(range(first, first + len(rows)))
        columns = {name: [row.get(name) for row in rows] for name in ARROW_SCHEMA.names}
        columns["id"] = ids
        columns["attributes"] = [json.dumps(row.get("attributes") or {}) for row in rows]
        self.db.insert("activities", pa.table(columns, schema=ARROW_SCHEMA))
        return ids

    def reserve_ids(self, count: int) -> int:
        """Ids for a bulk insert by the seeder; returns the first."""
        with self._lock:
            first = self._next_id
            self._next_id += count
        return first

    def paging_token(self, since: str | None) -> str:
        if not since:
            raise MarketoError("701", "sinceDatetime cannot be blank")
        try:
            when = parse_iso(since)
        except ValueError:
            raise MarketoError("704", f"Invalid date format '{since}'") from None
        return encode_token(when, 0)

    def page(self, token: str | None, type_ids: list[int] | None, lead_ids: list[int] | None,
             batch_size: int, field_names: list[str] | None = None) -> dict[str, Any]:
        """One page of activities after `token`: {result?, nextPageToken, moreResult}."""
        if not token:
            raise MarketoError("701", "nextPageToken cannot be blank")
        position, last_id = decode_token(token)
        where = ["(activityDate > ? OR (activityDate = ? AND id > ?))"]
        params: list[Any] = [position, position, last_id]
        if type_ids is not None:
            where.append(f"activityTypeId IN ({', '.join('?' * len(type_ids))})")
            params += type_ids
        if lead_ids:
            where.append(f"leadId IN ({', '.join('?' * len(lead_ids))})")
            params += lead_ids
        if field_names is not None:  # Get Lead Changes: New Lead, and changes of the named fields
            names = field_names or [""]
            where.append(f"(activityTypeId = {NEW_LEAD} OR fieldName IN ({', '.join('?' * len(names))}))")
            params += names
        rows = self.db.rows(f"SELECT * FROM activities WHERE {' AND '.join(where)} "
                            f"ORDER BY activityDate, id LIMIT ?", [*params, batch_size + 1])
        more = len(rows) > batch_size
        rows = rows[:batch_size]
        next_token = encode_token(rows[-1]["activityDate"], rows[-1]["id"]) if rows else token
        render = self._render_change if field_names is not None else self._render
        out: dict[str, Any] = {"nextPageToken": next_token, "moreResult": more}
        if rows:  # Marketo leaves `result` out of an empty page
            out["result"] = [render(row) for row in rows]
        return out

    def _render(self, row: dict[str, Any]) -> dict[str, Any]:
        item: dict[str, Any] = {"id": row["id"], "marketoGUID": str(row["id"]), "leadId": row["leadId"],
                                "activityDate": iso(row["activityDate"]), "activityTypeId": row["activityTypeId"]}
        for key in ("campaignId", "primaryAttributeValueId", "primaryAttributeValue"):
            if row[key] is not None:
                item[key] = row[key]
        item["attributes"] = [{"name": k, "value": v} for k, v in json.loads(row["attributes"] or "{}").items()
                              if v is not None]
        return item

    def _render_change(self, row: dict[str, Any]) -> dict[str, Any]:
        attributes = json.loads(row["attributes"] or "{}")
        changes = []
        if row["fieldName"]:
            field_def = self.lead_fields.get(row["fieldName"])
            changes.append({"id": field_def.id if field_def else row["primaryAttributeValueId"],
                            "name": row["fieldName"], "newValue": attributes.pop("New Value", None),
                            "oldValue": attributes.pop("Old Value", None)})
        return {"id": row["id"], "marketoGUID": str(row["id"]), "leadId": row["leadId"],
                "activityDate": iso(row["activityDate"]), "activityTypeId": row["activityTypeId"],
                "fields": changes,
                "attributes": [{"name": k, "value": v} for k, v in attributes.items() if v is not None]}

    def add_custom(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add Custom Activities: per item `added` with its id, or `skipped` with `errors` (as Marketo)."""
        lead_ids = {item.get("leadId") for item in items if isinstance(item.get("leadId"), int)}
        known = self.lead_exists(lead_ids)
        results: list[dict[str, Any] | None] = []
        rows, slots = [], []
        for item in items:
            try:
                rows.append(self._custom_row(item, known))
                slots.append(len(results))
                results.append(None)
            except RecordError as error:
                results.append({"status": "skipped", "errors": [error.reason()]})
        for slot, new_id in zip(slots, self.record(rows), strict=True):
            results[slot] = {"id": new_id, "marketoGUID": str(new_id), "status": "added"}
        return results  # type: ignore[return-value]

    def _custom_row(self, item: dict[str, Any], known_leads: set[int]) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise RecordError("1003", "Invalid activity record")
        kind = self.custom_types.get(item.get("activityTypeId"))  # type: ignore[arg-type]
        if kind is None:
            raise RecordError("1003", f"Invalid activityTypeId '{item.get('activityTypeId')}'")
        if item.get("leadId") not in known_leads:
            raise RecordError("1004", "Lead not found")
        try:
            when = naive_utc(parse_iso(item.get("activityDate") or ""))
        except ValueError:
            raise RecordError("1003", f"Invalid activityDate '{item.get('activityDate')}'") from None
        primary = item.get("primaryAttributeValue")
        if primary in (None, ""):
            raise RecordError("1003", "primaryAttributeValue cannot be blank")
        by_name = {a.name.lower(): a for a in kind.attributes} | {a.display_name.lower(): a for a in kind.attributes}
        attributes: dict[str, Any] = {}
        for attribute in item.get("attributes") or []:
            key = str(attribute.get("apiName") or attribute.get("name") or "")
            spec = by_name.get(key.lower())
            if spec is None:
                raise RecordError("1006", f"Field '{key}' not found")
            value = spec.coerce(attribute.get("value"))
            attributes[spec.display_name] = iso(value) if isinstance(value, datetime) else value
        return {"leadId": item["leadId"], "activityDate": when, "activityTypeId": kind.id,
                "primaryAttributeValue": str(primary), "attributes": attributes}
