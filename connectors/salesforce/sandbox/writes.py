"""Creating, updating, upserting and deleting one record, with Salesforce's validation and errors.

Every write checks what Salesforce checks for the fields we model (unknown or read-only field, type,
length, e-mail syntax, restricted picklist, required field, lookup id, unique/external id duplicates)
plus the injected "bad record" rule, then sets the audit fields (CreatedDate, LastModifiedDate,
SystemModstamp from the sandbox clock). Failures raise `RecordRejected` with the real status code and
message; nothing is written for a rejected record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from leadsync.connectors.salesforce.sandbox.clock import BadDateTime, SandboxClock, normalize_date, normalize_datetime
from leadsync.connectors.salesforce.sandbox.errors import RecordError, RecordRejected
from leadsync.connectors.salesforce.sandbox.ids import looks_like_id, to_18
from leadsync.connectors.salesforce.sandbox.schema import ID_TYPES, TEXT_TYPES, FieldSpec, ObjectSpec
from leadsync.connectors.salesforce.sandbox.store import RecordStore, Table
from leadsync.connectors.sandbox_writes import WriteCounts

CSV_NULL = "#N/A"  # Bulk API: an empty CSV value leaves a field alone, "#N/A" sets it to null
SKIP = object()

# (object, record id or None, the record's {field: value} after [and before] the write) -> an error, or
# None to let the write through. The "bad record" fault switch is one.
WriteCheck = Callable[[str, str | None, Sequence[Mapping[str, Any]]], RecordError | None]


def _reject(code: str, message: str, *fields: str) -> RecordRejected:
    return RecordRejected(RecordError(code, message, tuple(fields)))


def unknown_field(spec: ObjectSpec, name: str) -> RecordRejected:
    return _reject("INVALID_FIELD", f"No such column '{name}' on sobject of type {spec.name}")


def coerce(spec: FieldSpec, value: Any, from_csv: bool = False) -> Any:
    """A client's value for `spec` in the sandbox's stored form; SKIP for an empty CSV cell.
    Raises RecordRejected."""
    if from_csv:
        if value == "":
            return SKIP
        if value == CSV_NULL:
            return None
    if value is None:
        return False if spec.type == "boolean" else None
    kind = spec.type
    label = spec.display_label
    try:
        if kind in TEXT_TYPES:
            return _text(spec, value)
        if kind in ID_TYPES:
            if not looks_like_id(value):
                raise _reject("MALFORMED_ID", f"{label}: id value of incorrect type: {value}", spec.name)
            return to_18(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
                return value.strip().lower() in ("true", "1")
            raise ValueError(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            number = float(value) if isinstance(value, str) else value
            if not isinstance(number, int | float) or number != int(number):
                raise ValueError(value)
            return int(number)
        if kind in ("double", "currency", "percent"):
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if kind == "date":
            return normalize_date(value)
        if kind == "datetime":
            return normalize_datetime(value)
    except (ValueError, TypeError, BadDateTime):
        raise _reject("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{label}: value not of required type: {value}",
                      spec.name) from None
    raise AssertionError(kind)


def _text(spec: FieldSpec, value: Any) -> str | None:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float | str):
        text = str(value)
    else:
        raise TypeError(value)
    if text == "":
        return None  # Salesforce has no empty strings
    label = spec.display_label
    if spec.type == "multipicklist":
        parts = [p.strip() for p in text.split(";") if p.strip()]
        if spec.restricted_picklist:
            for part in parts:
                _check_picklist(spec, part)
        text = ";".join(parts)
    elif spec.type == "picklist" and spec.restricted_picklist:
        _check_picklist(spec, text)
    if len(text) > spec.max_length:
        raise _reject("STRING_TOO_LONG", f"{label}: data value too large: {text[:80]} "
                      f"(max length={spec.max_length})", spec.name)
    if spec.type == "email" and not _looks_like_email(text):
        raise _reject("INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {text}", spec.name)
    return text


def _check_picklist(spec: FieldSpec, value: str) -> None:
    if value not in spec.picklist_values:
        raise _reject("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                      f"{spec.display_label}: bad value for restricted picklist field: {value}", spec.name)


def _looks_like_email(text: str) -> bool:
    local, at, domain = text.rpartition("@")
    return bool(at and local and "." in domain and not domain.startswith(".") and not domain.endswith(".")
                and " " not in text)


class RecordWriter:
    """Writes single records into a `RecordStore` as the API user `user_id`. With `counts`, every write that
    lands is counted per record and field the client set (the served writes; undone with a rollback)."""

    def __init__(self, store: RecordStore, clock: SandboxClock, user_id: str,
                 check: WriteCheck | None = None, counts: WriteCounts | None = None):
        self.store = store
        self.clock = clock
        self.user_id = user_id
        self.check = check
        self.counts = counts

    # ------------------------------------------------------------------ operations

    def create(self, object_name: str, values: Mapping[str, Any], from_csv: bool = False) -> str:
        table = self._table(object_name)
        spec = table.spec
        with self.store.lock:
            new = self._coerce_all(spec, values, from_csv, creating=True)
            given = list(new)  # what the client set; defaults below are the org's
            for field_spec in spec.stored_fields:
                if field_spec.name not in new and field_spec.default_value is not None:
                    new[field_spec.name] = field_spec.default_value
            missing = [f.name for f in spec.stored_fields
                       if f.required and f.createable and new.get(f.name) is None]
            if missing:
                raise _reject("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                              *missing)
            self._check_references(spec, new)
            self._check_unique(table, new, None)
            self._check_campaign_member(table, new)
            self._run_check(spec, None, new)
            now = self.clock.now_wire()
            record_id = self.store.ids.new(spec.key_prefix)
            row_values = {**new, "Id": record_id, "CreatedDate": now, "LastModifiedDate": now,
                          "SystemModstamp": now}
            if "IsDeleted" in spec.fields:
                row_values["IsDeleted"] = False
            for audit in ("CreatedById", "LastModifiedById"):
                if audit in spec.fields:
                    row_values[audit] = self.user_id
            if "OwnerId" in spec.fields and row_values.get("OwnerId") is None:
                row_values["OwnerId"] = self.user_id
            self.store.insert_row(table, row_values)
            self._count(spec.name, record_id, given)
            return record_id

    def update(self, object_name: str, record_id: Any, values: Mapping[str, Any],
               from_csv: bool = False) -> str:
        table = self._table(object_name)
        with self.store.lock:
            row = self._live_row(table, record_id)
            changes = self._coerce_all(table.spec, values, from_csv, creating=False)
            self._apply_update(table, row, changes)
            return table.get(row, "Id")

    def upsert(self, object_name: str, external_field: str, external_value: Any, values: Mapping[str, Any],
               from_csv: bool = False) -> tuple[str, bool]:
        """Update the one record whose `external_field` equals `external_value`, or create it.
        Returns (id, created)."""
        table = self._table(object_name)
        spec = table.spec
        key_spec = spec.field(external_field)
        if key_spec is None:
            raise unknown_field(spec, external_field)
        if key_spec.name == "Id":
            if external_value in (None, ""):
                return self.create(object_name, values, from_csv), True
            return self.update(object_name, external_value, values, from_csv), False
        if external_value in (None, ""):
            raise _reject("MISSING_ARGUMENT", f"{key_spec.name} not specified", key_spec.name)
        with self.store.lock:
            key_value = coerce(key_spec, external_value)
            matches = table.find(key_spec.name, key_value)
            if len(matches) > 1:
                ids = ", ".join(table.get(r, "Id") for r in matches)
                raise _reject("DUPLICATE_EXTERNAL_ID",
                              f"{key_spec.name}: more than one record found for external id field: [{ids}]",
                              key_spec.name)
            body = {k: v for k, v in values.items() if k.lower() != key_spec.name.lower()}
            if not matches:
                return self.create(object_name, {**body, key_spec.name: key_value}, from_csv), True
            changes = self._coerce_all(spec, body, from_csv, creating=False)
            self._apply_update(table, matches[0], changes)
            return table.get(matches[0], "Id"), False

    def delete(self, object_name: str | None, record_id: Any) -> str:
        with self.store.lock:
            located = self.store.locate(record_id) if isinstance(record_id, str) else None
            if located is None or (object_name and located[0].spec.name.lower() != object_name.lower()):
                raise _reject("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            table, row = located
            if table.is_deleted(row):
                raise _reject("ENTITY_IS_DELETED", "entity is deleted")
            self._run_check(table.spec, table.get(row, "Id"), table.record(row))
            self._stamp(table, row)
            self.store.set_value(table, row, "IsDeleted", True)
            self._count(table.spec.name, table.get(row, "Id"), ["IsDeleted"])
            return table.get(row, "Id")

    # ------------------------------------------------------------------ helpers

    def _table(self, object_name: str) -> Table:
        table = self.store.table(object_name)
        if table is None:
            raise _reject("INVALID_TYPE", f"sObject type '{object_name}' is not supported.")
        return table

    def _live_row(self, table: Table, record_id: Any) -> int:
        spec = table.spec
        if not looks_like_id(record_id) or record_id[:3] != spec.key_prefix:
            raise _reject("MALFORMED_ID", f"{spec.label} ID: id value of incorrect type: {record_id}", "Id")
        row = table.row(record_id)
        if row is None:
            raise _reject("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if table.is_deleted(row):
            raise _reject("ENTITY_IS_DELETED", "entity is deleted")
        return row

    def _coerce_all(self, spec: ObjectSpec, values: Mapping[str, Any], from_csv: bool,
                    creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        read_only = []
        for key, raw in values.items():
            if key == "attributes":
                continue
            field_spec = spec.field(key)
            if field_spec is None:
                raise unknown_field(spec, key)
            if field_spec.name == "Id" and not creating:
                continue  # an update body may repeat its own Id
            if not (field_spec.createable if creating else field_spec.updateable):
                read_only.append(field_spec.name)
                continue
            value = coerce(field_spec, raw, from_csv)
            if value is not SKIP:
                out[field_spec.name] = value
        if read_only:
            raise _reject("INVALID_FIELD_FOR_INSERT_UPDATE",
                          f"Unable to create/update fields: {', '.join(read_only)}. Please check the security "
                          "settings of this field and verify that it is read/write for your profile or "
                          "permission set.", *read_only)
        return out

    def _apply_update(self, table: Table, row: int, changes: dict[str, Any]) -> None:
        spec = table.spec
        nulled = [name for name, value in changes.items() if value is None and spec.fields[name].required]
        if nulled:
            raise _reject("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(nulled)}]",
                          *nulled)
        self._check_references(spec, changes)
        self._check_unique(table, changes, row)
        after = {**table.record(row, [f.name for f in spec.stored_fields]), **changes}
        self._run_check(spec, table.get(row, "Id"), after, table.record(row))
        for name, value in changes.items():
            self.store.set_value(table, row, name, value)
        self._stamp(table, row)
        self._count(spec.name, table.get(row, "Id"), list(changes))

    def _count(self, object_name: str, record_id: str, fields: list[str]) -> None:
        if self.counts is not None and fields:
            self.store.count_write(self.counts, object_name, record_id, fields)

    def _stamp(self, table: Table, row: int) -> None:
        now = self.clock.now_wire()
        for name, value in (("LastModifiedDate", now), ("SystemModstamp", now),
                            ("LastModifiedById", self.user_id)):
            if name in table.spec.fields:
                self.store.set_value(table, row, name, value)

    def _check_references(self, spec: ObjectSpec, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            field_spec = spec.fields[name]
            if field_spec.type != "reference" or value is None:
                continue
            target = self.store.schema.by_prefix(value)
            if target is None or target.name not in field_spec.reference_to:
                raise _reject("FIELD_INTEGRITY_EXCEPTION",
                              f"{field_spec.display_label}: id value of incorrect type: {value}", name)
            located = self.store.locate(value)
            if located is None or located[0].is_deleted(located[1]):
                raise _reject("INVALID_CROSS_REFERENCE_KEY",
                              f"{field_spec.display_label}: invalid cross reference id", name)

    def _check_unique(self, table: Table, values: Mapping[str, Any], own_row: int | None) -> None:
        for name, value in values.items():
            field_spec = table.spec.fields[name]
            if not field_spec.unique or value is None:
                continue
            others = [r for r in table.find(name, value) if r != own_row]
            if others:
                raise _reject("DUPLICATE_VALUE", f"duplicate value found: {name} duplicates value on record "
                              f"with id: {table.get(others[0], 'Id')}", name)

    def _check_campaign_member(self, table: Table, values: Mapping[str, Any]) -> None:
        if table.spec.name != "CampaignMember":
            return
        person = values.get("LeadId") or values.get("ContactId")
        if person is None:
            raise _reject("REQUIRED_FIELD_MISSING", "Required fields are missing: [LeadId, ContactId]",
                          "LeadId", "ContactId")
        person_field = "LeadId" if values.get("LeadId") else "ContactId"
        for row in table.find(person_field, person):
            if table.get(row, "CampaignId") == values.get("CampaignId"):
                raise _reject("DUPLICATE_VALUE", "Already a campaign member.")

    def _run_check(self, spec: ObjectSpec, record_id: str | None, *states: Mapping[str, Any]) -> None:
        if self.check is None:
            return
        error = self.check(spec.name, record_id, states)
        if error is not None:
            raise RecordRejected(error)
