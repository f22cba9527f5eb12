"""Bulk import definitions and their staged data: validation, upload parsing and the rules a sync applies.

Definitions are checked when created (and when synced). Uploads are JSON arrays of objects or CSV with a
header row, keyed by the definition's field names; they wait in staging until a sync applies them. Applying
them is in import_apply.py.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime

from leadsync.connectors.eloqua.sandbox.accounts import ACCOUNT_FIELDS, IDENTIFIER_COLUMNS, account_target
from leadsync.connectors.eloqua.sandbox.definitions import (
    DEFAULT_IMPORT_RETENTION,
    check_common,
    check_fields,
    failure,
)
from leadsync.connectors.eloqua.sandbox.export_sources import ACTIVITY_TYPE_FIELDS
from leadsync.connectors.eloqua.sandbox.schema import CONTACT_FIELD_RE, CUSTOM_OBJECT_RE

MAX_IMPORT_FIELDS = 100
MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # bigger uploads are answered 404, as Eloqua does
UPDATE_RULES = ("always", "ifNewIsNotNull", "ifExistingIsNull", "useFieldRule")
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
DATE_INPUTS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
               "%Y-%m-%d", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y")
IDENTIFIER_CONSTRAINT = "Must be a string value, at least 1 character and at most 100 characters long."


def contact_target(store, statement: str) -> str | None:
    """The contact column an import statement writes ("id" for {{Contact.Id}}), or None."""
    if statement == "{{Contact.Id}}":
        return "id"
    m = CONTACT_FIELD_RE.match(statement)
    f = store.field(m.group(1)) if m else None
    return f.internal_name if f else None


def custom_object_target(data, statement: str) -> str | None:
    """`f<field id>`, `id` or `external_id` for a statement of this custom object, or None."""
    m = CUSTOM_OBJECT_RE.match(statement)
    if not m or int(m.group(1)) != data.schema.id:
        return None
    if m.group(2):
        return f"f{m.group(2)}" if data.schema.field_by_id(int(m.group(2))) else None
    return {"Id": "id", "ExternalId": "external_id"}.get(m.group(3) or "")


# What an activity import writes: statement -> stored activity column ("email" finds the contact by address).
# Asset name and type are accepted but not stored: exports derive them from the activity type and asset id.
ACTIVITY_IMPORT_TARGETS = {"{{Activity.Type}}": "type", "{{Activity.CreatedAt}}": "created_at",
                           "{{Activity.Contact.Id}}": "contact_id", "{{Activity.Field(EmailAddress)}}": "email",
                           "{{Activity.Campaign.Id}}": "campaign_id", "{{Activity.Asset.Id}}": "asset_id",
                           "{{Activity.Asset.Name}}": "asset_name", "{{Activity.Asset.Type}}": "asset_type"}
CONTACT_KEYS = ("{{Activity.Contact.Id}}", "{{Activity.Field(EmailAddress)}}")  # for every activity type


def _validate_activity_import(body: dict, fields: dict) -> list[dict]:
    problems = []
    of_type = ACTIVITY_TYPE_FIELDS.get(body.get("activityType"))
    if of_type is None:
        problems.append(failure("activityType", "Must be one of: " + ", ".join(ACTIVITY_TYPE_FIELDS) + ".",
                                body.get("activityType")))
    targets = {key: ACTIVITY_IMPORT_TARGETS.get(s.strip()) for key, s in fields.items()}
    for key, target in targets.items():
        if target is None:
            problems.append(failure(f"fields.{key}", "Must be a valid Eloqua Markup Language statement "
                                    "referencing an importable activity field.", fields[key]))
        elif of_type is not None and fields[key].strip() not in of_type and fields[key].strip() not in CONTACT_KEYS:
            problems.append(failure(f"fields.{key}", "Must be a field of the import's activity type.", fields[key]))
    if "created_at" not in targets.values():
        problems.append(failure("fields", "Must include {{Activity.CreatedAt}}.", None))
    if not {"contact_id", "email"} & set(targets.values()):
        problems.append(failure("fields", "Must include {{Activity.Contact.Id}} or "
                                          "{{Activity.Field(EmailAddress)}}.", None))
    return problems


def validate_import(entity: str, catalog, body: dict) -> list[dict]:
    """Failures of an import definition body (empty when valid). Fills in defaults on `body`."""
    problems = check_common(body, DEFAULT_IMPORT_RETENTION)
    body.setdefault("isSyncTriggeredOnImport", False)
    body.setdefault("isUpdatingMultipleMatchedRecords", False)
    body.setdefault("updateRule", "always")
    fields = body.get("fields")
    field_problems = check_fields(fields, MAX_IMPORT_FIELDS)
    problems += field_problems
    if body["updateRule"] not in UPDATE_RULES:
        problems.append(failure("updateRule", "Must be one of: " + ", ".join(UPDATE_RULES) + ".",
                                body["updateRule"]))
    if field_problems:
        return problems
    if entity == "activities":
        return problems + _validate_activity_import(body, fields)
    if entity in ("contacts", "accounts"):
        if entity == "contacts":
            targets = {key: contact_target(catalog.contacts, s.strip()) for key, s in fields.items()}
            unique, record = {"C_EmailAddress", "id", "ContactIDExt"}, "contact"
            read_only = {f.internal_name for f in catalog.contacts.fields if f.read_only} - {"ContactIDExt"}
        else:
            targets = {key: account_target(s.strip()) for key, s in fields.items()}
            unique, record = IDENTIFIER_COLUMNS, "account"
            read_only = {f.internal_name for f in ACCOUNT_FIELDS if f.system}
        for key, target in targets.items():
            if target is None:
                problems.append(failure(f"fields.{key}", "Must be a valid Eloqua Markup Language statement "
                                        f"referencing an existing {record} field.", fields[key]))
            elif target in read_only and key != body.get("identifierFieldName"):
                problems.append(failure(f"fields.{key}", "Must not reference a read-only field.", fields[key]))
    else:
        data = catalog.custom_objects.get(int(entity.split("/")[1]))
        targets = {key: custom_object_target(data, s.strip()) for key, s in fields.items()}
        unique = {"id", "external_id"} | {f"f{f.id}" for f in data.schema.fields if f.unique}
        for key, target in targets.items():
            if target is None:
                problems.append(failure(f"fields.{key}", "Must be a valid Eloqua Markup Language statement "
                                        "referencing a field of this custom object.", fields[key]))
        if body.get("mapDataCards"):
            problems += _check_map_data_cards(catalog, body)
    identifier = body.get("identifierFieldName")
    if not isinstance(identifier, str) or not 1 <= len(identifier) <= 100:
        problems.append(failure("identifierFieldName", IDENTIFIER_CONSTRAINT, identifier))
    elif identifier not in fields:
        problems.append(failure("identifierFieldName", "Must be the name of a field in the definition.",
                                identifier))
    elif targets.get(identifier) is not None and targets[identifier] not in unique:
        problems.append(failure("identifierFieldName", "Must reference a field with a uniqueness constraint.",
                                identifier))
    return problems


def _check_map_data_cards(catalog, body: dict) -> list[dict]:
    problems = []
    if body.get("mapDataCardsSourceField") not in body["fields"]:
        problems.append(failure("mapDataCardsSourceField", "Must be the name of a field in the definition.",
                                body.get("mapDataCardsSourceField")))
    if contact_target(catalog.contacts, str(body.get("mapDataCardsEntityField", "")).strip()) is None:
        problems.append(failure("mapDataCardsEntityField", "Must be a contact field statement.",
                                body.get("mapDataCardsEntityField")))
    if body.get("mapDataCardsEntityType", "Contact") != "Contact":
        problems.append(failure("mapDataCardsEntityType", "Only Contact is supported by the sandbox.",
                                body.get("mapDataCardsEntityType")))
    return problems


class UploadError(ValueError):
    def __init__(self, failures: list[dict]):
        super().__init__(failures[0]["constraint"])
        self.failures = failures


def parse_upload(raw: bytes, content_type: str, fields: dict) -> list[dict[str, str]]:
    """Rows of an upload as {field name: text}; raises UploadError (a 400) when it cannot be read."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError([failure("data", "Must be UTF-8 encoded.")]) from None
    if "csv" in content_type:
        reader = csv.DictReader(io.StringIO(text))
        rows = [dict(r) for r in reader]
        header = reader.fieldnames or []
    else:
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UploadError([failure("data", f"Must be a JSON array of objects: {exc.msg}.")]) from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise UploadError([failure("data", "Must be a JSON array of objects.")])
        header = sorted({key for r in rows for key in r})
    unknown = [key for key in header if key not in fields]
    if unknown:
        raise UploadError([failure(key, "Must be a field name of the import definition.", key) for key in unknown])
    return [{key: _text(value) for key, value in r.items()} for r in rows]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def coerce(value: str, data_type: str, max_length: int | None) -> tuple[object, str | None]:
    """(stored value, None) or (None, why the value is rejected). "" means null."""
    value = value.strip() if data_type != "largeText" else value
    if value == "":
        return None, None
    if data_type == "emailAddress" and not EMAIL_RE.match(value):
        return None, "Invalid email addresses."
    if data_type == "date":
        for fmt in DATE_INPUTS:
            try:
                return datetime.strptime(value.removesuffix("Z"), fmt), None
            except ValueError:
                continue
        return None, f"Malformed records. '{value}' is not a valid date."
    if data_type in ("numeric", "number"):
        try:
            return float(value), None
        except ValueError:
            return None, f"Malformed records. '{value}' is not a valid number."
    if max_length is not None and len(value) > max_length:
        return None, f"Malformed records. The value is longer than the field's maximum of {max_length} characters."
    return value, None
