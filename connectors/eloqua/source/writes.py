"""Write-back through Bulk API 2.0 imports: contact fields, and custom object records (opportunities, partner
events, optionally statuses), each an upsert.

One write = one import definition, its rows uploaded (in POSTs under 32 MB), one sync waited for. Every row
gets a result: rows the sync rejected (`/syncs/{id}/rejects`, matched back by recordIndex and checked against
the identifier value) fail with Eloqua's message, the others succeed. A sync ending `warning` is such a partial
success; `error` raises (SyncFailed, with the sync's logs); a definition Eloqua refuses (an unknown or
read-only field) is ApiConfigError.

Contacts are matched on `identifier` (ContactID: `record_id` is the contact id, an unknown id is rejected;
C_EmailAddress: `record_id` is the address, and Eloqua creates a contact for an unknown one). Custom object
records are matched on the object's unique field, so writing the same external id again updates the record.
Records are linked to their contact through the object's email field (`record_id` is looked up when it is a
contact id), or through a field mapped from `record_id`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import pandas as pd

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.eloqua.source.bulk import Bulk
from leadsync.connectors.eloqua.source.contact_fields import CONTACT_ID_STATEMENT, RECORD_ID, ContactFields
from leadsync.connectors.eloqua.source.contact_lookup import emails_by_id
from leadsync.connectors.eloqua.source.custom_objects import CustomObjectInfo, CustomObjects, ObjectField
from leadsync.connectors.eloqua.source.settings import EloquaSettings
from leadsync.connectors.eloqua.source.timestamps import import_value
from leadsync.connectors.source_api import RESULT_COLUMNS

log = logging.getLogger(__name__)
IMPORT_RETENTION = "P7D"
EMAIL_STATEMENT = "{{Contact.Field(C_EmailAddress)}}"


class Writes:
    def __init__(self, bulk: Bulk, settings: EloquaSettings, objects: CustomObjects,
                 contact_fields: Callable[[], ContactFields]):
        self.bulk = bulk
        self.settings = settings
        self.objects = objects
        self.contact_fields = contact_fields

    # ------------------------------------------------------------------ contacts

    def records(self, updates: pd.DataFrame) -> pd.DataFrame:
        _require(updates, ["key", "record_id"], "write_records")
        columns = [c for c in updates.columns if c not in ("key", "record_id")]
        if self.settings.status_mode == "custom_object":
            obj = self.objects.get(self.settings.status_object)
            unique = obj.field(obj.unique_field_id) if obj.unique_field_id else None
            if unique is None:
                raise ApiConfigError(f"Eloqua custom object {obj.name!r} (status_object) needs a unique field to hold "
                                     "the record id")
            return self._object_write(obj, updates, {c: obj.field(c) for c in columns}, unique, "record_id")
        if updates.empty:
            return _results([], {})
        catalog = self.contact_fields()
        ident = self.settings.identifier
        fields = {ident: CONTACT_ID_STATEMENT if ident == RECORD_ID else EMAIL_STATEMENT}
        names = []
        for column in columns:
            name, statement = catalog.resolve(column)
            if name == ident:
                raise ApiConfigError(f"write_records cannot set {column!r}: it is the identifier writes are keyed by")
            if name in fields:
                raise ApiConfigError(f"write_records: {column!r} names the same Eloqua field as another column")
            fields[name] = statement
            names.append(name)
        keys, rows, failed = [], [], {}
        for key, record_id, *values in updates[["key", "record_id", *columns]].itertuples(index=False, name=None):
            ident_value = import_value(record_id).strip()
            if not ident_value:
                failed[key] = f"no record_id ({ident}) to match the Eloqua contact by"
                continue
            keys.append(key)
            rows.append({ident: ident_value, **{n: import_value(v) for n, v in zip(names, values, strict=True)}})
        errors = self.import_rows("contacts", fields, ident, rows, {}) if rows else {}
        return _results(list(updates["key"]), {**failed, **{keys[i]: e for i, e in errors.items()}})

    # ------------------------------------------------------------------ custom objects

    def opportunities(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self._mapped(frame, self.settings.opportunity_object, self.settings.opportunity_fields, "external_id",
                            "write_opportunities")

    def events(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self._mapped(frame, self.settings.event_object, self.settings.event_fields, "key", "write_events")

    def _mapped(self, frame: pd.DataFrame, ref: str, mapping, id_column: str, what: str) -> pd.DataFrame:
        _require(frame, ["key", id_column], what)
        if id_column not in mapping:
            raise ApiConfigError(f"{what}: the Eloqua field mapping has no field for {id_column!r} (the upsert key)")
        obj = self.objects.get(ref)
        column_fields = {c: obj.field(f) for c, f in mapping.items() if c in frame.columns}
        return self._object_write(obj, frame, column_fields, column_fields[id_column], id_column)

    def _object_write(self, obj: CustomObjectInfo, frame: pd.DataFrame, column_fields: dict[str, ObjectField],
                      id_field: ObjectField, id_column: str) -> pd.DataFrame:
        if not id_field.unique:
            raise ApiConfigError(f"Eloqua custom object {obj.name!r}: field {id_field.name!r} has no uniqueness "
                                 "constraint, so re-writing a record would duplicate it; use the object's unique field")
        if frame.empty:
            return _results([], {})
        fields = {id_field.internal_name: id_field.statement}
        for column, f in column_fields.items():
            if column not in (id_column, "record_id"):
                fields.setdefault(f.internal_name, f.statement)
        link, record_ids = self._link(obj, frame, column_fields)
        if link:
            fields.setdefault(link["mapDataCardsSourceField"], link.pop("_statement"))
        types = {f.internal_name: f.data_type for f in obj.fields}
        keys, rows, failed = [], [], {}
        for position, row in enumerate(frame.to_dict("records")):
            key = row["key"]
            values = {id_field.internal_name: import_value(row[id_column]).strip()}
            if not values[id_field.internal_name]:
                failed[key] = f"no {id_column} to match the Eloqua {obj.name} record by"
                continue
            for column, f in column_fields.items():
                if column not in (id_column, "record_id"):
                    values[f.internal_name] = _typed(row[column], types.get(f.internal_name, "string"))
            if link:
                linked = record_ids[position]
                if linked is None:
                    failed[key] = f"Eloqua has no contact {import_value(row.get('record_id'))} to link the record to"
                    continue
                values[link["mapDataCardsSourceField"]] = linked
            keys.append(key)
            rows.append(values)
        errors = self.import_rows(obj.entity, fields, id_field.internal_name, rows, link or {}) if rows else {}
        return _results(list(frame["key"]), {**failed, **{keys[i]: e for i, e in errors.items()}})

    def _link(self, obj: CustomObjectInfo, frame: pd.DataFrame,
              column_fields: dict[str, ObjectField]) -> tuple[dict, list[str | None]]:
        """How records are linked to contacts (mapDataCards settings) and each row's linking value ("" when the
        row has no record_id, None when its contact does not exist)."""
        if "record_id" not in frame.columns:
            return {}, []
        record_ids = [import_value(v).strip() for v in frame["record_id"]]
        by_id = self.settings.identifier == RECORD_ID
        if "record_id" in column_fields:  # a field holds the record id itself
            source = column_fields["record_id"]
            entity = CONTACT_ID_STATEMENT if by_id else EMAIL_STATEMENT
            values: list[str | None] = record_ids
        elif obj.email_field is not None:
            source, entity = obj.email_field, EMAIL_STATEMENT
            if by_id:
                emails = emails_by_id(self.bulk, [r for r in record_ids if r], self.settings.export_page_size)
                values = [emails.get(r) if r else "" for r in record_ids]
            else:
                values = record_ids
        else:
            log.info("Eloqua custom object %s has no email field: records are not linked to contacts", obj.name)
            return {}, []
        link = {"mapDataCards": True, "mapDataCardsSourceField": source.internal_name,
                "mapDataCardsEntityType": "Contact", "mapDataCardsEntityField": entity,
                "mapDataCardsCaseSensitiveMatch": False, "_statement": source.statement}
        return link, values

    # ------------------------------------------------------------------ the import itself

    def import_rows(self, entity: str, fields: dict[str, str], identifier: str, rows: list[dict[str, str]],
                extra: dict) -> dict[int, str]:
        """Define, upload, sync and wait; position of each rejected row → why."""
        body = {"name": f"leadsync write-back ({len(rows)} rows)", "fields": fields,
                "identifierFieldName": identifier, "isSyncTriggeredOnImport": False, "updateRule": "always",
                "dataRetentionDuration": IMPORT_RETENTION, "autoDeleteDuration": "P1D", **extra}
        definition = self.bulk.define(entity, "imports", body)
        self.bulk.upload(definition, rows)
        sync = self.bulk.run(definition)
        errors: dict[int, str] = {}
        if sync["status"] == "success":
            return errors
        index: dict[str, list[int]] = {}
        for position, row in enumerate(rows):
            index.setdefault(row.get(identifier, "").lower(), []).append(position)
        for reject in self.bulk.rejects(sync["uri"]):
            position = _position(reject, rows, identifier, index, errors)
            if position is None:
                log.warning("Eloqua %s: a reject matches no uploaded row: %r", sync["uri"], reject)
                continue
            errors[position] = _reason(reject)
        return errors


def _position(reject: dict, rows: list[dict], identifier: str, index: dict[str, list[int]],
              taken: dict[int, str]) -> int | None:
    """Which uploaded row a reject is: recordIndex (1-based) when the identifier agrees, else by identifier."""
    values = reject.get("fieldValues") or {}
    ident = str(values.get(identifier, "")).strip().lower()
    try:
        position = int(reject.get("recordIndex")) - 1
    except (TypeError, ValueError):
        position = -1
    if 0 <= position < len(rows) and (identifier not in values or rows[position].get(identifier, "").lower() == ident):
        return position
    return next((p for p in index.get(ident, []) if p not in taken), None)


def _reason(reject: dict) -> str:
    message = reject.get("message") or "rejected"
    extra = [reject.get("statusCode") or ""]
    if reject.get("invalidFields"):
        extra.append("invalid fields: " + ", ".join(map(str, reject["invalidFields"])))
    extra = [e for e in extra if e]
    return f"{message} ({'; '.join(extra)})" if extra else message


def _typed(value: object, data_type: str) -> str:
    """Dates given as ISO text are written the way Eloqua reads them; other values as text."""
    if data_type == "date" and isinstance(value, str) and value.strip():
        try:
            return import_value(datetime.fromisoformat(value.strip()))
        except ValueError:
            return value
    return import_value(value)


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ApiConfigError(f"{what}: the frame lacks the columns {missing}")


def _results(keys: list, errors: dict) -> pd.DataFrame:
    frame = pd.DataFrame({"key": keys, "ok": [k not in errors for k in keys],
                          "error": [errors.get(k) for k in keys]}, columns=RESULT_COLUMNS)
    return frame.astype({"ok": bool, "error": object})
