"""Runs parsed SOQL against the record store: checks names and literal types the way Salesforce does,
filters, sorts, pages, and renders records (REST JSON, or columns for Bulk CSV).

Comparisons follow SOQL, not SQL: text compares case-insensitively; `Field != 'x'` also matches records
whose Field is null; `Field = null` / `!= null` test for null; ids match in their 15- or 18-character form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from leadsync.connectors.salesforce.sandbox.clock import BadDateTime, normalize_datetime
from leadsync.connectors.salesforce.sandbox.ids import looks_like_id, to_18
from leadsync.connectors.salesforce.sandbox.schema import ID_TYPES, NUMBER_TYPES, TEXT_TYPES, FieldSpec, ObjectSpec
from leadsync.connectors.salesforce.sandbox.soql_parser import (
    BoolOp,
    Condition,
    FieldRef,
    Literal,
    Not,
    Query,
    parse,
)
from leadsync.connectors.salesforce.sandbox.soql_tokens import SoqlError, located_message
from leadsync.connectors.salesforce.sandbox.store import RecordStore, Table

Getter = Callable[[int], Any]

FIELD_HINT = ("If you are attempting to use a custom field, be sure to append the '__c' after the custom "
               "field name. Please reference your WSDL or the describe call for the appropriate names.")
_OBJECT_HINT = ("If you are attempting to use a custom object, be sure to append the '__c' after the entity "
                "name. Please reference your WSDL or the describe call for the appropriate names.")
_EXPECTED = {"date": ("date", "should not be enclosed in quotes"),
             "datetime": ("dateTime", "should not be enclosed in quotes"),
             "boolean": ("boolean", "should not be enclosed in quotes"),
             "int": ("integer", "should not be enclosed in quotes"),
             "double": ("double", "should not be enclosed in quotes"),
             "currency": ("currency", "should not be enclosed in quotes"),
             "percent": ("percent", "should not be enclosed in quotes")}


@dataclass(frozen=True)
class FieldPath:
    """A selected or filtered field: "Email", or "Campaign.Name" through a lookup."""

    path: str  # canonical spelling, e.g. "Campaign.Name"
    hops: tuple[FieldSpec, ...]  # the reference fields walked, in order
    spec: FieldSpec  # the field read at the end


@dataclass
class QueryPlan:
    query: Query
    sobject: ObjectSpec
    fields: list[FieldPath]
    sort: list[tuple[FieldPath, bool, bool]]  # (field, descending, nulls_last)
    where: Any  # the parsed condition tree with FieldPaths resolved (see _resolve_where)

    @property
    def count_only(self) -> bool:
        return self.query.count_only


def compile_query(text: str, store: RecordStore) -> QueryPlan:
    """Parse and check a query; raises SoqlError (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE, ...)."""
    query = parse(text)
    sobject = store.schema.object(query.sobject)
    if sobject is None or not sobject.queryable:
        raise SoqlError("INVALID_TYPE", located_message(
            text, query.sobject_pos, f"sObject type '{query.sobject}' is not supported. {_OBJECT_HINT}"))
    fields = [_resolve(ref, sobject, store, text) for ref in query.fields]
    sort = [(_resolve(item.field, sobject, store, text), item.descending, item.effective_nulls_last)
            for item in query.order_by]
    where = _resolve_where(query.where, sobject, store, text) if query.where is not None else None
    if query.offset is not None and query.offset > 2000:
        raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
    return QueryPlan(query, sobject, fields, sort, where)


def _resolve(ref: FieldRef, sobject: ObjectSpec, store: RecordStore, text: str) -> FieldPath:
    parts = ref.path.split(".")
    current = [sobject]
    hops: list[FieldSpec] = []
    names: list[str] = []
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if depth == 0 and len(parts) > 1 and part.lower() == sobject.name.lower():
            continue  # "Lead.Email" in a query on Lead
        if last:
            specs = [obj.field(part) for obj in current]
            if any(s is None for s in specs):
                entity = current[0].name if len(current) == 1 else "Name"
                raise SoqlError("INVALID_FIELD", located_message(
                    text, ref.pos, f"No such column '{part}' on entity '{entity}'. {FIELD_HINT}"))
            names.append(specs[0].name)
            return FieldPath(".".join(names), tuple(hops), specs[0])
        links = [obj.relationship(part) for obj in current]
        if any(link is None for link in links):
            raise SoqlError("INVALID_FIELD", located_message(
                text, ref.pos, f"Didn't understand relationship '{part}' in field path. {FIELD_HINT}"))
        link = links[0]
        hops.append(link)
        names.append(link.relationship_name or part)
        current = [store.schema.objects[target] for target in link.reference_to
                   if target in store.schema.objects]
    raise AssertionError(ref)


def _resolve_where(node: Any, sobject: ObjectSpec, store: RecordStore, text: str) -> Any:
    if isinstance(node, BoolOp):
        return BoolOp(node.op, tuple(_resolve_where(item, sobject, store, text) for item in node.items))
    if isinstance(node, Not):
        return Not(_resolve_where(node.item, sobject, store, text))
    assert isinstance(node, Condition)
    path = _resolve(node.field, sobject, store, text)
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    checked = tuple(_check_literal(path, node.op, lit, text) for lit in values)
    return _Resolved(path, node.op, checked if isinstance(node.value, tuple) else checked[0])


@dataclass(frozen=True)
class _Resolved:
    path: FieldPath
    op: str
    value: Any  # a normalised Python value, or a tuple of them for IN/NOT IN/INCLUDES/EXCLUDES


def _check_literal(path: FieldPath, op: str, lit: Literal, text: str) -> Any:
    spec = path.spec
    kind = spec.type
    if lit.kind == "null":
        if op not in ("=", "!=", "IN", "NOT IN"):
            raise SoqlError("MALFORMED_QUERY", located_message(text, lit.pos, "unexpected token: null"))
        return None

    def wrong() -> SoqlError:
        expected, hint = _EXPECTED.get(kind, ("string", "should be enclosed in quotes"))
        return SoqlError("INVALID_FIELD", located_message(
            text, lit.pos, f"value of filter criterion for field '{spec.name}' must be of type {expected} "
                           f"and {hint}"))

    if kind in TEXT_TYPES:
        if lit.kind != "string":
            raise wrong()
        return lit.value if op == "LIKE" else lit.value.casefold()
    if kind in ID_TYPES:
        if lit.kind != "string":
            raise wrong()
        if op == "LIKE":
            return lit.value
        if not looks_like_id(lit.value):
            raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", located_message(
                text, lit.pos, f"invalid ID field: {lit.value}"))
        return to_18(lit.value)
    if op == "LIKE":
        raise SoqlError("INVALID_FIELD", located_message(
            text, lit.pos, f"invalid operator on {kind} field: LIKE"))
    if kind in NUMBER_TYPES:
        if lit.kind != "number":
            raise wrong()
        return lit.value
    if kind == "boolean":
        if lit.kind != "boolean":
            raise wrong()
        return lit.value
    if kind == "date":
        if lit.kind != "date":
            raise wrong()
        return lit.value
    if kind == "datetime":
        if lit.kind != "datetime":
            raise wrong()
        try:
            return normalize_datetime(lit.value)
        except BadDateTime:
            raise wrong() from None
    raise wrong()


# ---------------------------------------------------------------------------------------------- running


def getter(path: FieldPath, table: Table, store: RecordStore) -> Getter:
    """Row -> value of `path` (walking lookups to their parents). Call with the store lock held."""
    if not path.hops:
        column = table.column(path.spec.name)
        return column.__getitem__
    first = table.column(path.hops[0].name)

    def walk(row: int) -> Any:
        record_id = first[row]
        for hop in path.hops[1:]:
            if record_id is None:
                return None
            located = store.locate(record_id)
            if located is None:
                return None
            record_id = located[0].get(located[1], hop.name)
        if record_id is None:
            return None
        located = store.locate(record_id)
        if located is None:
            return None
        parent, parent_row = located
        return parent.get(parent_row, path.spec.name) if path.spec.name in parent.spec.fields else None

    return walk


def _comparable(path: FieldPath, value: Any) -> Any:
    if isinstance(value, str) and path.spec.type in TEXT_TYPES:
        return value.casefold()
    return value


def _like(pattern: str) -> Callable[[Any], bool]:
    parts, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    compiled = re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
    return lambda value: value is not None and compiled.fullmatch(str(value)) is not None


def _predicate(node: Any, table: Table, store: RecordStore) -> Callable[[int], bool]:
    if isinstance(node, BoolOp):
        parts = [_predicate(item, table, store) for item in node.items]
        if node.op == "AND":
            return lambda row: all(p(row) for p in parts)
        return lambda row: any(p(row) for p in parts)
    if isinstance(node, Not):
        inner = _predicate(node.item, table, store)
        return lambda row: not inner(row)
    path, op, value = node.path, node.op, node.value
    get = getter(path, table, store)
    text = path.spec.type in TEXT_TYPES
    if op == "LIKE":
        match = _like(value)
        return lambda row: match(get(row))
    if op in ("IN", "NOT IN"):
        wanted = set(value)

        def found(row: int) -> bool:
            current = get(row)
            if text and current is not None:
                current = current.casefold()
            return current in wanted
        return found if op == "IN" else (lambda row: not found(row))
    if op in ("INCLUDES", "EXCLUDES"):
        wanted_sets = [frozenset(p.strip() for p in v.split(";")) for v in value]

        def includes(row: int) -> bool:
            current = get(row)
            have = frozenset(p.strip().casefold() for p in current.split(";")) if current else frozenset()
            return any(w <= have for w in wanted_sets)
        return includes if op == "INCLUDES" else (lambda row: not includes(row))
    if value is None:
        return (lambda row: get(row) is None) if op == "=" else (lambda row: get(row) is not None)
    norm = (lambda v: v.casefold() if v is not None else None) if text else (lambda v: v)
    if op == "=":
        return lambda row: norm(get(row)) == value
    if op == "!=":
        return lambda row: norm(get(row)) != value
    compare = {"<": lambda a: a < value, "<=": lambda a: a <= value,
               ">": lambda a: a > value, ">=": lambda a: a >= value}[op]

    def ordered(row: int) -> bool:
        current = norm(get(row))
        return current is not None and compare(current)
    return ordered


def select_rows(plan: QueryPlan, store: RecordStore, include_deleted: bool = False) -> list[int]:
    """The rows the query returns, in order, after OFFSET and LIMIT."""
    with store.lock:
        table = store.tables[plan.sobject.name]
        deleted = table.column("IsDeleted")
        if include_deleted:
            candidates: Sequence[int] = range(table.size)
        else:
            candidates = [r for r in range(table.size) if not deleted[r]]
        if plan.where is not None:
            keep = _predicate(plan.where, table, store)
            rows = [r for r in candidates if keep(r)]
        else:
            rows = list(candidates)
        for path, descending, nulls_last in reversed(plan.sort):
            get = getter(path, table, store)
            null_rank = 1 if nulls_last != descending else 0

            def key(row: int, get: Getter = get, path: FieldPath = path, null_rank: int = null_rank) -> tuple:
                value = get(row)
                if value is None:
                    return (null_rank, 0)
                return (1 - null_rank, _comparable(path, value))
            rows.sort(key=key, reverse=descending)
    offset = plan.query.offset or 0
    if offset:
        rows = rows[offset:]
    if plan.query.limit is not None:
        rows = rows[:plan.query.limit]
    return rows


def render_records(plan: QueryPlan, store: RecordStore, rows: Sequence[int], version: str) -> list[dict]:
    """REST query records: {"attributes": {"type", "url"}, field: value, Parent: {"attributes", ...}}."""
    out = []
    with store.lock:
        table = store.tables[plan.sobject.name]
        ids = table.column("Id")
        getters = [getter(path, table, store) for path in plan.fields]
        for row in rows:
            record: dict[str, Any] = {"attributes": _attributes(plan.sobject.name, ids[row], version)}
            for path, get in zip(plan.fields, getters, strict=True):
                if not path.hops:
                    record[path.spec.name] = get(row)
                else:
                    _put_nested(record, path, table, row, store, version)
            out.append(record)
    return out


def _attributes(object_name: str, record_id: str, version: str) -> dict[str, str]:
    return {"type": object_name, "url": f"/services/data/v{version}/sobjects/{object_name}/{record_id}"}


def _put_nested(record: dict, path: FieldPath, table: Table, row: int, store: RecordStore,
                version: str) -> None:
    target, current_table, current_row = record, table, row
    for hop in path.hops:
        name = hop.relationship_name or hop.name
        parent_id = current_table.get(current_row, hop.name)
        located = store.locate(parent_id) if parent_id else None
        if located is None:
            target.setdefault(name, None)
            return
        current_table, current_row = located
        nested = target.get(name)
        if nested is None:
            nested = target[name] = {"attributes": _attributes(current_table.spec.name, parent_id, version)}
        target = nested
    spec_name = path.spec.name
    has_field = spec_name in current_table.spec.fields
    target[spec_name] = current_table.get(current_row, spec_name) if has_field else None


def column_values(plan: QueryPlan, store: RecordStore, rows: Sequence[int],
                  paths: Sequence[FieldPath] | None = None) -> dict[str, list]:
    """The selected fields (or `paths`) as columns, header name -> values."""
    with store.lock:
        table = store.tables[plan.sobject.name]
        out = {}
        for path in paths if paths is not None else plan.fields:
            if not path.hops and path.spec.compute is None:
                column = table.column(path.spec.name)
                picked = itemgetter(*rows)(column) if rows else ()
                out[path.path] = list(picked) if len(rows) != 1 else [picked]
            else:
                get = getter(path, table, store)
                out[path.path] = [get(r) for r in rows]
        return out
