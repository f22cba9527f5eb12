"""SOQL text from values: every user value goes through a literal function here, never into an f-string raw.

Field and object names are checked as identifiers (`identifier`) and, by the callers, against describe;
values are rendered as the literal their field's type needs (quoted and escaped text, bare numbers,
booleans, dates and date-times).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from leadsync.connectors.api_client import ApiConfigError

TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist",
                        "combobox", "encryptedstring", "id", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
            '"': '\\"'}
# Salesforce recommends keeping a query URL well under 16,000 characters: 200 quoted ids is ~5,000.
ID_CHUNK = 200


def identifier(name: str, what: str = "field") -> str:
    """`name` if it is a plain (optionally dotted) SOQL identifier; ApiConfigError otherwise."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ApiConfigError(f"{name!r} is not a valid Salesforce {what} name")
    return name


def quote(text: str) -> str:
    """A SOQL string literal: quotes, backslashes and control characters escaped."""
    return "'" + "".join(_ESCAPES.get(ch, ch) for ch in str(text)) + "'"


def like_escape(text: str) -> str:
    """`text` for inside a LIKE pattern, its own % and _ matching literally (quote() is applied later)."""
    return str(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def quote_like(pattern: str) -> str:
    """A LIKE pattern literal: quotes escaped, backslash escapes of % and _ kept as the pattern has them."""
    out = []
    for ch in pattern:
        out.append(ch if ch == "\\" else _ESCAPES.get(ch, ch))
    return "'" + "".join(out) + "'"


def datetime_literal(moment: datetime) -> str:
    """A SOQL date-time literal (UTC, whole seconds, unquoted): 2026-11-23T10:15:30Z. Naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def literal(value: Any, field_type: str, field: str) -> str:
    """`value` as the SOQL literal a field of `field_type` compares with; ApiConfigError when it cannot be."""
    if value is None:
        return "null"
    kind = field_type.lower()
    try:
        if kind in TEXT_TYPES:
            if isinstance(value, bool):
                return quote("true" if value else "false")
            return quote(str(value))
        if kind == "boolean":
            if isinstance(value, bool):
                return "true" if value else "false"
            text = str(value).strip().lower()
            if text in ("true", "false"):
                return text
            raise ValueError(value)
        if kind in NUMBER_TYPES:
            if isinstance(value, bool):
                raise ValueError(value)
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(value)
            return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
        if kind == "date":
            if isinstance(value, datetime):
                return value.date().isoformat()
            if isinstance(value, date):
                return value.isoformat()
            return date.fromisoformat(str(value).strip()[:10]).isoformat()
        if kind == "datetime":
            if isinstance(value, datetime):
                return datetime_literal(value)
            return datetime_literal(parse_datetime(str(value)))
    except (TypeError, ValueError):
        raise ApiConfigError(f"{value!r} is not a valid {kind} value for {field}") from None
    raise ApiConfigError(f"{field} is a {kind} field, which a filter cannot compare")


def parse_datetime(text: str) -> datetime:
    """A Salesforce date-time ("2026-11-23T10:15:30.000+0000", "...000Z", "...+01:00") as aware UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    elif len(value) >= 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = value[:-2] + ":" + value[-2:]
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def in_list(values: Iterable[Any], field_type: str = "string", field: str = "Id") -> str:
    """"('a', 'b')" for IN / NOT IN."""
    return "(" + ", ".join(literal(v, field_type, field) for v in values) + ")"


def chunks(values: Sequence[Any], size: int = ID_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
