"""The export filter language (EML filter expressions) as far as integrations use it.

    '{{Contact.Field(C_DateModified)}}' > '2024-01-01 00:00:00' AND ( '{{Contact.Field(C_Country)}}' = 'Canada'
        OR '{{Contact.Field(C_EmailAddress)}}' = '*@acme.example' )

Comparisons are `'{{statement}}' op 'value'` with = != <> < <= > >=; AND, OR, NOT and parentheses combine
them. Text compares case-insensitively and `*` is a wildcard in = and !=; dates accept 'YYYY-MM-DD',
'YYYY-MM-DD HH:MM:SS' and fractional seconds. EXISTS(...) and STATUS(...) (list, segment and app membership)
are parsed but the sandbox has no lists, so they are refused with a validation error.

`parse_filter` gives a tree; `evaluate` turns it into a boolean mask over Arrow columns, so a filter over
300,000 contacts costs a few vectorised comparisons.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

MAX_FILTER_LENGTH = 1000
OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">")
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>!=|<>|<=|>=|=|<|>)|(?P<paren>[()])"
                    r"|(?P<stmt>\{\{.*?\}\})|(?P<word>[A-Za-z_]+))")
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%d")


class FilterError(ValueError):
    """The filter is not valid; the message says why (it becomes the 400 failure's constraint)."""


@dataclass(frozen=True)
class Compare:
    statement: str
    op: str
    value: str


@dataclass(frozen=True)
class BoolOp:
    op: str  # "AND" | "OR"
    parts: tuple


@dataclass(frozen=True)
class Not:
    part: object


# column_for(statement) -> (column over the whole table, kind) where kind is text | date | number | bool.
ColumnFor = Callable[[str], tuple[pa.Array | pa.ChunkedArray, str]]


def parse_filter(text: str) -> object:
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"Must be at most {MAX_FILTER_LENGTH} characters long.")
    tokens = _tokenize(text)
    parser = _Parser(tokens)
    node = parser.expression()
    if parser.pos != len(tokens):
        raise FilterError(f"Unexpected '{tokens[parser.pos][1]}' in filter.")
    return node


def statements_in(node: object) -> list[str]:
    if isinstance(node, Compare):
        return [node.statement]
    if isinstance(node, Not):
        return statements_in(node.part)
    return [s for part in node.parts for s in statements_in(part)]


def comparisons(node: object) -> list[Compare]:
    if isinstance(node, Compare):
        return [node]
    if isinstance(node, Not):
        return comparisons(node.part)
    return [c for part in node.parts for c in comparisons(part)]


def check_values(node: object, kind_of: Callable[[str], str | None]) -> None:
    """Raise FilterError when a compared value cannot be read as its statement's kind (a date, a number)."""
    for c in comparisons(node):
        kind = kind_of(c.statement)
        if kind == "date":
            parse_date(c.value)
        elif kind == "number":
            try:
                float(c.value)
            except ValueError:
                raise FilterError(f"'{c.value}' is not a number.") from None


def evaluate(node: object, column_for: ColumnFor) -> pa.ChunkedArray | pa.Array:
    """A boolean mask, true where the row matches (null values never match a comparison)."""
    if isinstance(node, Compare):
        column, kind = column_for(node.statement)
        return pc.fill_null(_compare(column, kind, node), False)
    if isinstance(node, Not):
        return pc.invert(evaluate(node.part, column_for))
    masks = [evaluate(part, column_for) for part in node.parts]
    combine = pc.and_ if node.op == "AND" else pc.or_
    out = masks[0]
    for mask in masks[1:]:
        out = combine(out, mask)
    return out


def parse_date(value: str) -> datetime:
    text = value.strip().removesuffix("Z")
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise FilterError(f"'{value}' is not a valid date; use 'YYYY-MM-DD HH:MM:SS'.")


def _compare(column: pa.Array | pa.ChunkedArray, kind: str, c: Compare):
    op = "!=" if c.op == "<>" else c.op
    if kind == "text":
        return _compare_text(column, op, c.value)
    if kind == "date":
        value = pa.scalar(parse_date(c.value), column.type)
    elif kind == "number":
        try:
            value = pa.scalar(float(c.value), pa.float64())
        except ValueError:
            raise FilterError(f"'{c.value}' is not a number.") from None
        column = pc.cast(column, pa.float64())
    elif kind == "bool":
        value = pa.scalar(c.value.strip().lower() in ("true", "1", "yes"))
    else:
        raise FilterError(f"{c.statement} cannot be filtered on.")
    return {"=": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal, ">": pc.greater,
            ">=": pc.greater_equal}[op](column, value)


def _compare_text(column, op: str, value: str):
    lowered = pc.utf8_lower(pc.fill_null(column, ""))
    needle = value.lower()
    if op in ("=", "!=") and "*" in needle:
        pattern = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
        hit = pc.match_like(lowered, pattern)
        return hit if op == "=" else pc.invert(hit)
    return {"=": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal, ">": pc.greater,
            ">=": pc.greater_equal}[op](lowered, pa.scalar(needle))


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"Cannot read the filter from position {pos}: {text[pos:pos + 20]!r}.")
        kind = m.lastgroup
        raw = m.group(kind)
        if kind == "str":
            raw = raw[1:-1].replace("''", "'")
        tokens.append((kind, raw))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError("The filter ends too early.")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].upper() == word:
            self.pos += 1
            return True
        return False

    def expression(self) -> object:
        parts = [self.conjunction()]
        while self.keyword("OR"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def conjunction(self) -> object:
        parts = [self.factor()]
        while self.keyword("AND"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def factor(self) -> object:
        if self.keyword("NOT"):
            return Not(self.factor())
        token = self.take()
        if token == ("paren", "("):
            node = self.expression()
            if self.take() != ("paren", ")"):
                raise FilterError("A parenthesis is not closed.")
            return node
        if token[0] == "word" and token[1].upper() in ("EXISTS", "STATUS"):
            raise FilterError(f"{token[1].upper()}() needs contact lists, segments or app instances, which "
                              "this sandbox does not have.")
        if token[0] not in ("str", "stmt"):
            raise FilterError(f"Expected '{{{{statement}}}}' but found '{token[1]}'.")
        statement = token[1].strip()
        if not (statement.startswith("{{") and statement.endswith("}}")):
            raise FilterError(f"'{statement}' is not an EML statement.")
        op = self.take()
        if op[0] != "op":
            raise FilterError(f"Expected an operator after {statement}, found '{op[1]}'.")
        value = self.take()
        if value[0] != "str":
            raise FilterError(f"Expected a quoted value after {statement} {op[1]}.")
        return Compare(statement, op[1], value[1])
