"""Application API contacts: search, the contact JSON at each depth, and full-object updates.

Contacts appear as `{"type": "Contact", "id": "1", "createdAt": "1403034086", ...}`: ids, timestamps and flags
are strings and timestamps are Unix seconds. `depth=minimal` gives the identity, `partial` adds the standard
properties, `complete` adds `fieldValues` for every other field. `search` takes `term op value` expressions
(= != < > <= >=, `*` wildcard, quotes optional), several separated by spaces, or a bare value matched against
the email address.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadsync.connectors.eloqua.sandbox.clock import epoch_str, number_str
from leadsync.connectors.eloqua.sandbox.contacts import ContactStore, to_timestamp
from leadsync.connectors.eloqua.sandbox.eml_filter import DATE_FORMATS
from leadsync.connectors.eloqua.sandbox.imports import EMAIL_RE
from leadsync.connectors.eloqua.sandbox.schema import CONTACT_TEXT_MAX

_TERM = re.compile(r"""^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>!=|<=|>=|=|<|>)\s*(?P<value>.*)$""")
SEARCH_ALIASES = {"id": "id", "name": "C_EmailAddress", "createdat": "C_DateCreated",
                  "updatedat": "C_DateModified"}
MINIMAL = ("type", "id", "createdAt", "depth", "name", "updatedAt", "emailAddress")


class RestValidationError(Exception):
    """A 400 answer: a list of ObjectValidationError-style objects."""

    def __init__(self, errors: list[dict]):
        super().__init__(errors[0].get("property", "validation"))
        self.errors = errors


def _split_terms(search: str) -> list[str]:
    terms, current, quoted = [], "", False
    for ch in search.strip():
        if ch == "'":
            quoted = not quoted
        if ch.isspace() and not quoted:
            if current:
                terms.append(current)
            current = ""
        else:
            current += ch
    return terms + ([current] if current else [])


def contact_search_column(store: ContactStore, name: str) -> str | None:
    """The contact column a search term names: id, name, createdAt, updatedAt, a field's internal name or a
    REST property."""
    column = SEARCH_ALIASES.get(name.lower())
    if column is None:
        f = store.field(name) or next((f for f in store.fields if (f.rest_property or "").lower() == name.lower()),
                                      None)
        column = f.internal_name if f else None
    return column


def search_mask(table: pa.Table, search: str, column_of: Callable[[str], str | None]) -> pa.Array:
    """A boolean mask of the records matching a `search` expression (all records for "" or "*");
    `column_of` names the column a term's name stands for (None: not searchable)."""
    mask = pa.array(np.ones(table.num_rows, dtype=bool))
    for term in _split_terms(search):
        m = _TERM.match(term)
        name, op, value = (m.group("name"), m.group("op"), m.group("value")) if m else ("name", "=", term)
        value = value.strip().strip("'")
        column_name = column_of(name)
        if column_name is None or value == "*":
            continue  # Eloqua ignores terms it does not know
        mask = pc.and_(mask, _match(table.column(column_name), op, value))
    return mask


def _match(column, op: str, value: str):
    compare = {"=": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal, ">": pc.greater,
               ">=": pc.greater_equal}[op]
    if pa.types.is_timestamp(column.type):
        moment = _search_date(value)
        return pc.fill_null(compare(column, pa.scalar(moment, column.type)), False)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return pc.fill_null(compare(pc.cast(column, pa.float64()), pa.scalar(float(value or 0))), False)
    lowered = pc.utf8_lower(pc.fill_null(column, ""))
    if "*" in value and op in ("=", "!="):
        pattern = value.lower().replace("%", "\\%").replace("_", "\\_").replace("*", "%")
        hit = pc.match_like(lowered, pattern)
        return hit if op == "=" else pc.invert(hit)
    return compare(lowered, pa.scalar(value.lower()))


def _search_date(value: str) -> datetime:
    if value.isdigit():
        return datetime.fromtimestamp(int(value), UTC).replace(tzinfo=None)
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise RestValidationError([{"type": "QueryParameterValidationError", "parameter": "search",
                                "requirement": {"type": "DateRequirement"}, "value": value}])


def wire_text(value: object) -> str | None:
    """A value as the Application API writes it: text, dates as Unix seconds, numbers without a needless .0."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return epoch_str(value)
    if isinstance(value, float):
        return number_str(value)
    return str(value)


def field_values(fields, row: dict) -> list[dict]:
    """`fieldValues` of a complete record: every field without a property of its own."""
    values = []
    for f in fields:
        if f.rest_property is None:
            entry = {"type": "FieldValue", "id": str(f.id)}
            if row.get(f.internal_name) is not None:
                entry["value"] = wire_text(row[f.internal_name])
            values.append(entry)
    return values


def contact_json(store: ContactStore, row: dict, depth: str) -> dict:
    """The REST representation of one contact row (as ContactStore.row returns it)."""
    body = {"type": "Contact", "id": str(row["id"]), "createdAt": wire_text(row["C_DateCreated"]), "depth": depth,
            "name": row["C_EmailAddress"], "updatedAt": wire_text(row["C_DateModified"]),
            "emailAddress": row["C_EmailAddress"]}
    if depth == "minimal":
        return body
    for f in store.fields:
        if f.rest_property and f.rest_property not in body and row.get(f.internal_name) is not None:
            body[f.rest_property] = wire_text(row[f.internal_name])
    body["isSubscribed"] = "true" if row.get("_subscribed") else "false"
    body["isBounceback"] = "true" if row.get("_bounced") else "false"
    if depth == "complete":
        body["fieldValues"] = field_values(store.fields, row)
    return body


def contact_changes(store: ContactStore, body: dict, full: bool) -> dict[str, object]:
    """Column values for a PUT (full=True: standard properties left out are blanked, as Eloqua warns) or
    a POST. Raises RestValidationError."""
    errors = []
    email = body.get("emailAddress")
    if not isinstance(email, str) or not EMAIL_RE.match(email.strip()):
        errors.append(object_error("Contact", "emailAddress", "EmailAddressRequirement", email))
    changes = record_changes(store.fields, store.field_by_id, body, full, "Contact", errors)
    changes["C_EmailAddress"] = email.strip()
    return changes


def record_changes(fields, field_by_id, body: dict, full: bool, object_type: str,
                   errors: list[dict]) -> dict[str, object]:
    """Column values from a record's REST properties and `fieldValues` (read-only fields ignored); raises
    RestValidationError with `errors` and any of its own."""
    changes: dict[str, object] = {}
    for f in fields:
        if f.rest_property is None or _read_only(f):
            continue
        value = body.get(f.rest_property)
        if value is None and not full:
            continue
        changes[f.internal_name] = _rest_value(f, value, errors, object_type)
    for item in body.get("fieldValues") or []:
        f = field_by_id(int(item.get("id", 0))) if str(item.get("id", "")).isdigit() else None
        if f is None or _read_only(f):
            continue
        changes[f.internal_name] = _rest_value(f, item.get("value"), errors, object_type)
    if errors:
        raise RestValidationError(errors)
    return changes


def _read_only(f) -> bool:
    return bool(getattr(f, "read_only", False) or getattr(f, "system", False))


def _rest_value(f, value: object, errors: list[dict], object_type: str) -> object:
    if value in (None, ""):
        return None
    prop = f.rest_property or str(f.id)
    if f.data_type == "date":
        try:
            return to_timestamp(datetime.fromtimestamp(int(value), UTC))
        except (TypeError, ValueError):
            errors.append(object_error(object_type, prop, "DateRequirement", value))
            return None
    if f.data_type == "numeric":
        try:
            return float(value)
        except (TypeError, ValueError):
            errors.append(object_error(object_type, prop, "IntegerRequirement", value))
            return None
    value = str(value)
    if f.max_length and len(value) > f.max_length:
        errors.append(object_error(object_type, prop, "ValidTextLengthRequirement", value,
                                   {"minimum": 0, "maximum": f.max_length or CONTACT_TEXT_MAX}))
    return value


def object_error(object_type: str, prop: str, requirement: str, value: object, extra: dict | None = None) -> dict:
    return {"type": "ObjectValidationError", "container": {"type": "ObjectKey", "objectType": object_type},
            "property": prop, "requirement": {"type": requirement, **(extra or {})},
            "value": "<null>" if value is None else str(value)}
