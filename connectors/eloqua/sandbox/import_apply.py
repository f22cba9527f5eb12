"""What an import sync does to the database: match each staged row, update or create, or reject it.

Contacts are matched on the identifier field (email address case-insensitively, contact id, or Eloqua
Contact ID); an unknown email creates a contact, an unknown id is rejected ("Contact does not exist.").
Accounts likewise: on the company name (an unknown one creates an account), account id, Eloqua Company ID or
CompanyIDExt.
Custom object records are matched on their unique field, id or external id; unmatched rows create records,
optionally linked to a contact (mapDataCards). Activities (of the definition's activityType) are appended for an
existing contact; a row naming no such contact is rejected. Rejected rows keep their values, the reason, the ELQ status
code, the 1-based position in the staged data and the fields at fault, as `/syncs/{id}/rejects` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from leadsync.connectors.eloqua.sandbox.accounts import NAME, account_field, account_target
from leadsync.connectors.eloqua.sandbox.contacts import contact_id_ext
from leadsync.connectors.eloqua.sandbox.custom_objects import CustomObjectRecord
from leadsync.connectors.eloqua.sandbox.imports import (
    ACTIVITY_IMPORT_TARGETS,
    coerce,
    contact_target,
    custom_object_target,
)

MISSING = ("ELQ-00061", "Rejected records (missing fields).")
# bad_record(email) -> None, or (status code, message) when a fault switch rejects that email
BadRecord = Callable[[str], tuple[str, str] | None]


@dataclass
class ImportOutcome:
    counts: list[tuple[str, str, int]] = field(default_factory=list)  # (ELQ code, message, count)
    rejects: list[dict] = field(default_factory=list)
    # per row applied: (record id, the fields it gave), for the instance's served-write counts
    written: list[tuple[int, list[str]]] = field(default_factory=list)

    def reject(self, index: int, row: dict, code: str, message: str, invalid: list[str], sync_uri: str) -> None:
        self.rejects.append({"fieldValues": row, "message": message, "statusCode": code, "recordIndex": index,
                             "invalidFields": invalid, "syncUri": sync_uri})


def _convert(row: dict[str, str], targets: dict[str, str], field_of) -> tuple[dict, list[str], str | None, str]:
    """(values by target column, invalid field names, first reason, its ELQ code)."""
    values, invalid, reason, code = {}, [], None, ""
    for key, text in row.items():
        target = targets[key]
        if target in ("id", "external_id"):
            value, why = (text.strip() or None), None
            if target == "id" and value is not None and not value.isdigit():
                why = f"Malformed records. '{value}' is not a valid id."
        else:
            f = field_of(target)
            value, why = coerce(text, f.data_type, f.max_length)
        if why:
            invalid.append(key)
            if reason is None:
                reason, code = why, "ELQ-00002" if why.startswith("Invalid email") else "ELQ-00032"
        else:
            values[target] = int(value) if target == "id" and value is not None else value
    return values, invalid, reason, code


def _merge(change: dict, values: dict, current: dict, rule: str, skip: set[str]) -> None:
    for target, value in values.items():
        if target in skip:
            continue
        if rule == "ifNewIsNotNull" and value is None:
            continue
        if rule == "ifExistingIsNull" and current.get(target) is not None:
            continue
        if current.get(target) != value:
            change[target] = value


@dataclass(frozen=True)
class RecordKind:
    """What importing into a table of records (contacts, accounts) needs to know of them."""

    store: object  # an ArrowRecords
    target: Callable[[str], str | None]  # import statement -> column
    field_of: Callable[[str], object]  # column -> its field (data_type, max_length)
    key_column: str  # the identifier an unmatched row creates a record with (email address, company name)
    modified_column: str
    not_null: tuple[str, ...]
    new_row: Callable[[int, dict, datetime], dict]  # (id, values, when) -> the row to append
    created: tuple[str, str]  # ELQ code and message of the count
    updated: tuple[str, str]
    unmatched: tuple[str, str]  # the rejection of a row matched by an identifier that cannot create


def contact_kind(catalog) -> RecordKind:
    store = catalog.contacts

    def new_row(contact_id: int, values: dict, stamp: datetime) -> dict:
        return {**values, "id": contact_id, "ContactIDExt": contact_id_ext([contact_id])[0].as_py(),
                "C_DateCreated": stamp, "C_DateModified": stamp, "_subscribed": True, "_bounced": False,
                "_email_format": "HTML"}
    return RecordKind(store, lambda s: contact_target(store, s), store.field, "C_EmailAddress", "C_DateModified",
                      tuple(f.internal_name for f in store.fields if f.not_null), new_row,
                      ("ELQ-00004", "Contacts created."), ("ELQ-00022", "Contacts updated."),
                      ("ELQ-00085", "Contact does not exist."))


def account_kind(catalog) -> RecordKind:
    store = catalog.accounts
    return RecordKind(store, account_target, account_field, NAME, "updated_at", (), store.new_row,
                      ("ELQ-00005", "Accounts created."), ("ELQ-00023", "Accounts updated."),
                      ("ELQ-00034", "Account does not exist."))


def _identifier_text(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def apply_record_import(kind: RecordKind, definition: dict, rows: list[dict], sync_uri: str, now: datetime,
                        bad_record: BadRecord) -> ImportOutcome:
    """Contacts or accounts: match each row on the identifier field, update the match or (when the identifier
    is the key column) create a record, or reject the row."""
    store = kind.store
    out = ImportOutcome()
    targets = {key: kind.target(s.strip()) for key, s in definition["fields"].items()}
    id_key = definition["identifierFieldName"]
    id_target = targets[id_key]
    rule = definition.get("updateRule", "always")
    not_null = [c for c in kind.not_null if c in targets.values()]
    with store.lock:
        valid = []
        for index, row in enumerate(rows, start=1):
            values, invalid, reason, code = _convert(row, targets, kind.field_of)
            if not invalid and values.get(id_target) is None:
                invalid, (code, reason) = [id_key], MISSING
            if not invalid and any(values.get(c) is None for c in not_null):
                invalid, (code, reason) = [k for k, t in targets.items() if values.get(t) is None], MISSING
            if invalid:
                out.reject(index, row, code, reason, invalid, sync_uri)
            else:
                valid.append((index, row, values))
        idents = [v[id_target] for _, _, v in valid]
        positions = store.positions_for_ids(idents) if id_target == "id" else \
            store.positions_for_text(id_target, [_identifier_text(i) for i in idents])
        columns = sorted({t for t in targets.values() if t != "id"} | {kind.key_column})
        matched = [int(p) for p in positions if p >= 0]
        current_rows = store.table.select(columns).take(pa.array(matched, pa.int64())).to_pylist()
        current = dict(zip(matched, current_rows, strict=True))
        updates: dict[int, dict] = {}
        created: dict[str, dict] = {}
        updated_positions = set()
        written_new: list[tuple[str, list[str]]] = []  # created records get their ids below
        stamp = now.replace(tzinfo=None)
        ids = store.ids()
        for (index, row, values), pos in zip(valid, positions, strict=True):
            pos = int(pos)
            key = values.get(kind.key_column) or (current[pos][kind.key_column] if pos >= 0 else "")
            fault = bad_record(key or "")
            if fault:
                out.reject(index, row, fault[0], fault[1], [id_key], sync_uri)
                continue
            if pos < 0 and id_target != kind.key_column:
                out.reject(index, row, *kind.unmatched, [id_key], sync_uri)
                continue
            given = [name for name in values if name != "id"]
            if pos < 0:
                pending = created.setdefault(key.lower(), {kind.key_column: key})
                _merge(pending, values, dict(pending), rule, {"id", kind.key_column})
                written_new.append((key.lower(), given))
                continue
            change = updates.setdefault(pos, {})
            _merge(change, values, {**current[pos], **change}, rule, {"id", id_target})
            updated_positions.add(pos)
            out.written.append((int(ids[pos]), given))
        for change in updates.values():
            if change:
                change[kind.modified_column] = stamp
        next_id = store.next_id()
        new_rows = [kind.new_row(next_id + offset, values, stamp) for offset, values in enumerate(created.values())]
        store.apply({p: c for p, c in updates.items() if c}, new_rows)
        new_ids = {key: next_id + offset for offset, key in enumerate(created)}
        out.written += [(new_ids[key], given) for key, given in written_new]
    invalid_emails = sum(1 for r in out.rejects if r["statusCode"] == "ELQ-00002")
    out.counts = [("ELQ-00001", "Total records processed.", len(rows)), (*kind.created, len(new_rows)),
                  (*kind.updated, len(updated_positions))]
    if invalid_emails:
        out.counts.append(("ELQ-00002", "Invalid email addresses.", invalid_emails))
    if out.rejects:
        out.counts.append(("ELQ-00060", "Total rejected records.", len(out.rejects)))
    return out


def apply_custom_object_import(catalog, object_id: int, definition: dict, rows: list[dict], sync_uri: str,
                               now: datetime, bad_record: BadRecord) -> ImportOutcome:
    data = catalog.custom_objects.get(object_id)
    out = ImportOutcome()
    targets = {key: custom_object_target(data, s.strip()) for key, s in definition["fields"].items()}
    id_key = definition["identifierFieldName"]
    id_target = targets[id_key]
    rule = definition.get("updateRule", "always")

    def field_of(target: str):
        return data.schema.field_by_id(int(target[1:]))

    link_key = definition.get("mapDataCardsSourceField") if definition.get("mapDataCards") else None
    link_target = contact_target(catalog.contacts, definition.get("mapDataCardsEntityField", "").strip()) \
        if link_key else None
    stamp = now.replace(tzinfo=None)
    created = updated = linked = 0
    with catalog.custom_objects.lock:
        if id_target == "id":
            index = {rid: rid for rid in data.records}
        elif id_target == "external_id":
            index = {r.external_id.lower(): r.id for r in data.records.values() if r.external_id}
        else:
            index = data.index(int(id_target[1:]))
        for row_index, row in enumerate(rows, start=1):
            values, invalid, reason, code = _convert(row, targets, field_of)
            ident = values.get(id_target)
            key = ident.lower() if isinstance(ident, str) else ident
            record = data.records.get(index.get(key)) if key is not None else None
            if not invalid and id_target == "id" and ident is not None and record is None:
                invalid, code, reason = [id_key], "ELQ-00034", "Custom object record does not exist."
            if not invalid and ident is None and id_target != "id":
                invalid, (code, reason) = [id_key], MISSING
            required = [f for f in data.schema.fields if f.not_null]
            empty = [k for k, t in targets.items() if t in {f"f{f.id}" for f in required} and values.get(t) is None]
            if not invalid and record is None:
                empty += [f.name for f in required if f"f{f.id}" not in targets.values()]
            if not invalid and empty:
                invalid, (code, reason) = empty, MISSING
            email = values.get(f"f{data.schema.email_address_field_id}") or ""
            fault = None if invalid else bad_record(email if isinstance(email, str) else "")
            if fault:
                invalid, (code, reason) = [id_key], fault
            if invalid:
                out.reject(row_index, row, code, reason, invalid, sync_uri)
                continue
            if record is None:
                record = CustomObjectRecord(data.next_record_id, {}, created_at=stamp)
                if id_target == "external_id":
                    record.external_id = ident
                elif id_target != "id":
                    record.values[int(id_target[1:])] = ident
                data.next_record_id += 1
                data.records[record.id] = record
                if key is not None:
                    index[key] = record.id
                created += 1
            else:
                updated += 1
            change: dict = {}
            current = {f"f{fid}": v for fid, v in record.values.items()} | {"external_id": record.external_id}
            _merge(change, values, current, rule, {"id", id_target})  # matched, so the identifier stays
            for target, value in change.items():
                if target == "external_id":
                    record.external_id = value
                else:
                    record.values[int(target[1:])] = value
            record.updated_at = stamp
            out.written.append((record.id, [name for name in values if name != "id"]))
            if link_key and row.get(link_key, "").strip():
                source = row[link_key].strip()
                found = catalog.contacts.positions_for_emails([source]) if link_target == "C_EmailAddress" else \
                    catalog.contacts.positions_for_ids([int(source)] if source.isdigit() else [-1])
                if found[0] >= 0:
                    record.contact_id = int(catalog.contacts.ids()[found[0]])
                    linked += 1
    out.counts = [("ELQ-00001", "Total records processed.", len(rows)),
                  ("ELQ-00007", "CustomObject data created.", created),
                  ("ELQ-00012", "CustomObject data updated.", updated)]
    if link_key:
        out.counts.append(("ELQ-00025", "CustomObject data linked.", linked))
    if out.rejects:
        out.counts.append(("ELQ-00060", "Total rejected records.", len(out.rejects)))
    return out


ACTIVITY_DATA_TYPES = {"created_at": "date", "contact_id": "number", "campaign_id": "number", "asset_id": "number"}


def apply_activity_import(catalog, definition: dict, rows: list[dict], sync_uri: str, now: datetime,
                          bad_record: BadRecord) -> ImportOutcome:
    """Activities of the definition's activityType: each row names an existing contact (by id or email
    address) and a date; it is appended to the activity history, or rejected ("Contact does not exist.")."""
    out = ImportOutcome()
    targets = {key: ACTIVITY_IMPORT_TARGETS[s.strip()] for key, s in definition["fields"].items()}
    activity_type = definition["activityType"]
    contact_key = next((k for k, t in targets.items() if t == "contact_id"), None) or \
        next(k for k, t in targets.items() if t == "email")
    store = catalog.contacts
    ids = store.ids()
    accepted = []
    for index, row in enumerate(rows, start=1):
        values, invalid, reason, code = {}, [], None, ""
        for key, text in row.items():
            target = targets[key]
            value, why = coerce(text, ACTIVITY_DATA_TYPES.get(target, "text"), None)
            if target == "type" and value is not None and value != activity_type:
                why = f"Malformed records. '{value}' is not the definition's activity type {activity_type}."
            if target in ("contact_id", "campaign_id", "asset_id") and value is not None and not why:
                value = int(value) if float(value).is_integer() else None
                why = None if value is not None else f"Malformed records. '{text}' is not a valid id."
            if why:
                invalid.append(key)
                reason, code = (reason, code) if reason else (why, "ELQ-00032")
            else:
                values[target] = value
        if not invalid:
            empty = [k for k, t in targets.items() if t in ("created_at", "contact_id", "email")
                     and values.get(t) is None]
            if empty:
                invalid, (code, reason) = empty, MISSING
        if not invalid:
            if values.get("contact_id") is not None:
                pos = store.positions_for_ids([values["contact_id"]])[0]
            else:
                pos = store.positions_for_emails([values["email"]])[0]
            if pos < 0:
                invalid, code, reason = [contact_key], "ELQ-00085", "Contact does not exist."
            else:
                values["contact_id"] = int(ids[pos])
        fault = None if invalid else bad_record(str(values.get("email") or ""))
        if fault:
            invalid, (code, reason) = [contact_key], fault
        if invalid:
            out.reject(index, row, code, reason, invalid, sync_uri)
        else:
            accepted.append(values)
    if accepted:
        with catalog.lock:
            table = catalog.activities
            first = (pc.max(table.column("id")).as_py() or 0) + 1 if table.num_rows else 1
            new = pa.Table.from_pylist([
                {"id": first + i, "type": activity_type, "created_at": v["created_at"],
                 "contact_id": v["contact_id"], "campaign_id": v.get("campaign_id"), "asset_id": v.get("asset_id")}
                for i, v in enumerate(accepted)], schema=table.schema)
            catalog.activities = pa.concat_tables([table, new]).unify_dictionaries()
        out.written = [(v["contact_id"], [activity_type]) for v in accepted]
    out.counts = [("ELQ-00001", "Total records processed.", len(rows)),
                  ("ELQ-00006", "Activities created.", len(accepted))]
    if out.rejects:
        out.counts.append(("ELQ-00060", "Total rejected records.", len(out.rejects)))
    return out
