"""The segregation filter: which pulled records leadsync must keep apart, from structured YAML values.

    segregation:
      all:                                   # or any
        - {field: LeadSource, in: [Partner Referral, Employee Referral]}
        - {field: Country, not_equals: US}
        - {field: Email, ends_with: "@competitor.example"}
        - {field: IsConverted, equals: false}

Operators: equals, not_equals, in, not_in, starts_with, ends_with, contains, like (a raw SOQL pattern with %
and _), is_null (true/false), gt, gte, lt, lte. Values are typed by the field's describe type and rendered
as SOQL literals by `soql.literal`; user text never reaches SOQL unescaped.

It is evaluated client-side, on the very values pulled (the filter's fields are added to the query): the
flag describes the version of the record handed over, costs no API call, and keeps bulk pages flat. The
rules follow SOQL's: text compares case-insensitively, `not_equals`/`not_in` also match null, ordering
operators never match null, ids compare by their 15-character form. `soql()` renders the same condition as
a WHERE fragment (for a report, or to check the org agrees: the tests do).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import pandas as pd

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.salesforce.source import soql
from leadsync.connectors.salesforce.source.describe import ObjectDescription

SEGREGATED_COLUMN = "__segregated__"
_SOQL_OPS = {"equals": "=", "not_equals": "!=", "in": "IN", "not_in": "NOT IN", "gt": ">", "gte": ">=",
             "lt": "<", "lte": "<=", "like": "LIKE", "starts_with": "LIKE", "ends_with": "LIKE",
             "contains": "LIKE", "is_null": None}
OPERATORS = tuple(_SOQL_OPS)
_LIST_OPS = ("in", "not_in")
_LIKE_OPS = ("like", "starts_with", "ends_with", "contains")
_NULL_MATCHES = ("not_equals", "not_in")


@dataclass(frozen=True)
class SegregationCondition:
    field: str
    op: str
    value: Any = None

    def __post_init__(self) -> None:
        soql.identifier(self.field)
        if self.op not in _SOQL_OPS:
            raise ApiConfigError(f"segregation: unknown operator {self.op!r} for {self.field}; use one of "
                                 f"{', '.join(OPERATORS)}")
        if self.op in _LIST_OPS:
            values = self.value if isinstance(self.value, list | tuple | set | frozenset) else [self.value]
            if not values:
                raise ApiConfigError(f"segregation: {self.field} {self.op} needs at least one value")
            object.__setattr__(self, "value", tuple(values))
        elif self.op == "is_null":
            if not isinstance(self.value, bool):
                raise ApiConfigError(f"segregation: {self.field} is_null takes true or false")
        elif self.op in _LIKE_OPS and not isinstance(self.value, str):
            raise ApiConfigError(f"segregation: {self.field} {self.op} takes text")
        elif self.value is None:
            raise ApiConfigError(f"segregation: {self.field} {self.op} needs a value (use is_null for null)")


@dataclass(frozen=True)
class SegregationFilter:
    conditions: tuple[SegregationCondition, ...]
    match: Literal["all", "any"] = "all"

    def __post_init__(self) -> None:
        if self.match not in ("all", "any"):
            raise ApiConfigError(f"segregation: match must be all or any, not {self.match!r}")
        if not self.conditions:
            raise ApiConfigError("segregation: at least one condition is needed")
        object.__setattr__(self, "conditions", tuple(self.conditions))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SegregationFilter:
        """From YAML: {"all"|"any": [{"field": F, "<operator>": value}, ...]} ({"field", "op", "value"}
        also)."""
        if not isinstance(config, Mapping) or len(config) != 1 or next(iter(config)) not in ("all", "any"):
            raise ApiConfigError("segregation: expected one key, all or any, holding a list of conditions")
        match, items = next(iter(config.items()))
        if not isinstance(items, Sequence) or isinstance(items, str):
            raise ApiConfigError(f"segregation: {match} must hold a list of conditions")
        return cls(tuple(_condition(item) for item in items), match)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.field for c in self.conditions))

    def soql(self, described: ObjectDescription) -> str:
        """The filter as a SOQL WHERE fragment (parenthesised), fields checked against describe."""
        parts = [_condition_soql(c, described) for c in self.conditions]
        return "(" + (" AND " if self.match == "all" else " OR ").join(parts) + ")"

    def flags(self, records: pd.DataFrame, described: ObjectDescription,
              columns: Mapping[str, str] | None = None) -> pd.Series:
        """"true"/"false" per record: whether it matches. `columns` maps a condition's field to the frame's
        column (default: the field name as written)."""
        columns = columns or {}
        if records.empty:
            return pd.Series([], dtype=object, index=records.index)
        results = []
        for condition in self.conditions:
            test = _tester(condition, described.type_of(condition.field))
            column = records[columns.get(condition.field, condition.field)]
            results.append(column.map(test).astype(bool))
        combined = results[0]
        for result in results[1:]:
            combined = (combined & result) if self.match == "all" else (combined | result)
        return combined.map({True: "true", False: "false"}).astype(object)


def _condition(item: Any) -> SegregationCondition:
    if not isinstance(item, Mapping) or "field" not in item:
        raise ApiConfigError(f"segregation: a condition needs a field and one operator, got {item!r}")
    if "op" in item:
        return SegregationCondition(item["field"], item["op"], item.get("value"))
    ops = [k for k in item if k != "field"]
    if len(ops) != 1:
        raise ApiConfigError(f"segregation: condition on {item['field']} needs exactly one operator, "
                             f"got {ops}")
    return SegregationCondition(item["field"], ops[0], item[ops[0]])


def _condition_soql(condition: SegregationCondition, described: ObjectDescription) -> str:
    name = described.require([condition.field])[condition.field]
    entry = described.field(name)
    if entry is not None and entry.get("filterable") is False:
        raise ApiConfigError(f"{described.name}.{name} cannot be filtered on (describe: filterable false)")
    kind = described.type_of(name)
    op = condition.op
    if op == "is_null":
        return f"{name} {'=' if condition.value else '!='} null"
    if op in _LIST_OPS:
        return f"{name} {_SOQL_OPS[op]} {soql.in_list(condition.value, kind, name)}"
    if op in _LIKE_OPS:
        if kind not in soql.TEXT_TYPES:
            raise ApiConfigError(f"segregation: {op} needs a text field; {name} is {kind}")
        return f"{name} LIKE {soql.quote_like(_like_pattern(condition))}"
    return f"{name} {_SOQL_OPS[op]} {soql.literal(condition.value, kind, name)}"


def _like_pattern(condition: SegregationCondition) -> str:
    text = str(condition.value)
    if condition.op == "like":
        return text
    escaped = soql.like_escape(text)
    patterns = {"starts_with": f"{escaped}%", "ends_with": f"%{escaped}", "contains": f"%{escaped}%"}
    return patterns[condition.op]


def _like_regex(pattern: str) -> re.Pattern[str]:
    parts, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _normaliser(kind: str) -> Callable[[Any], Any]:
    """Text as pulled → the value SOQL compares (None stays None)."""
    if kind in ("id", "reference"):
        return lambda v: str(v)[:15]
    if kind in soql.TEXT_TYPES:
        return lambda v: str(v).casefold()
    if kind in soql.NUMBER_TYPES:
        return float
    if kind == "boolean":
        return lambda v: str(v).strip().lower() == "true" if not isinstance(v, bool) else v
    if kind == "date":
        return lambda v: str(v)[:10]
    if kind == "datetime":
        return lambda v: v if isinstance(v, datetime) else soql.parse_datetime(str(v))
    return str


def _tester(condition: SegregationCondition, kind: str) -> Callable[[Any], bool]:
    op = condition.op
    if op == "is_null":
        wanted = condition.value
        return lambda v: _is_null(v) == wanted
    if op in _LIKE_OPS:
        regex = _like_regex(_like_pattern(condition))
        return lambda v: not _is_null(v) and regex.fullmatch(str(v)) is not None
    norm = _normaliser(kind)
    literal_norm = _literal_normaliser(kind, condition.field)
    if op in _LIST_OPS:
        wanted_set = {literal_norm(v) for v in condition.value}
        def inside(v: Any) -> bool:
            return not _is_null(v) and norm(v) in wanted_set
        return inside if op == "in" else (lambda v: not inside(v))
    target = literal_norm(condition.value)
    compare: Callable[[Any], bool] = {
        "equals": lambda a: a == target, "not_equals": lambda a: a != target,
        "gt": lambda a: a > target, "gte": lambda a: a >= target,
        "lt": lambda a: a < target, "lte": lambda a: a <= target}[op]
    null_result = op in _NULL_MATCHES
    return lambda v: null_result if _is_null(v) else compare(norm(v))


def _literal_normaliser(kind: str, field_name: str) -> Callable[[Any], Any]:
    """A YAML value → the value SOQL compares, validated as `soql.literal` would render it."""
    norm = _normaliser(kind)

    def convert(value: Any) -> Any:
        rendered = soql.literal(value, kind, field_name)  # raises ApiConfigError for a wrong type
        if kind in soql.TEXT_TYPES:
            return norm(value if not isinstance(value, bool) else ("true" if value else "false"))
        if kind == "datetime":
            return soql.parse_datetime(rendered)
        return norm(rendered)
    return convert


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA
