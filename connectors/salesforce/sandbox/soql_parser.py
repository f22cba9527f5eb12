"""A small SOQL parser: recursive descent over `soql_tokens`, producing a `Query` tree.

Covers what a lead pull emits: SELECT field list (dotted parent fields, COUNT()), FROM, WHERE with
AND/OR/NOT and parentheses, = != <> < <= > >=, [NOT] IN (...), LIKE, INCLUDES/EXCLUDES, null/true/false,
strings, numbers, date and date-time literals, ORDER BY (ASC/DESC, NULLS FIRST/LAST), LIMIT, OFFSET.
Like Salesforce, mixing AND and OR at one level without parentheses is an error.

Syntax errors raise `SoqlError` carrying Salesforce's MALFORMED_QUERY message (the query, a caret under
the offending token, "ERROR at Row:r:Column:c" and the reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leadsync.connectors.salesforce.sandbox.soql_tokens import SoqlError, Token, located_message, tokenize

KEYWORDS = frozenset({"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
                      "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE", "INCLUDES",
                      "EXCLUDES", "GROUP", "HAVING", "WITH", "FOR", "USING", "TYPEOF"})


@dataclass(frozen=True)
class FieldRef:
    path: str
    pos: int


@dataclass(frozen=True)
class Literal:
    kind: str  # string number boolean null date datetime
    value: Any
    pos: int


@dataclass(frozen=True)
class Condition:
    field: FieldRef
    op: str  # = != < <= > >= IN NOT IN LIKE INCLUDES EXCLUDES
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND OR
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class OrderItem:
    field: FieldRef
    descending: bool = False
    nulls_last: bool | None = None  # None: Salesforce's default (first for ASC, last for DESC)

    @property
    def effective_nulls_last(self) -> bool:
        return self.descending if self.nulls_last is None else self.nulls_last


@dataclass
class Query:
    text: str
    sobject: str
    sobject_pos: int
    fields: list[FieldRef] = field(default_factory=list)
    count_only: bool = False
    where: Any = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


# ---------------------------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, token: Token | None = None, detail: str | None = None) -> SoqlError:
        token = token or self.tok
        shown = token.text if token.kind != "EOF" else "<EOF>"
        return SoqlError("MALFORMED_QUERY",
                         located_message(self.text, token.pos, detail or f"unexpected token: {shown}"))

    def next(self) -> Token:
        token = self.tok
        self.i += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        return self.tok.kind == "IDENT" and self.tok.upper in words

    def keyword(self, word: str) -> Token:
        if not self.at_keyword(word):
            raise self.fail()
        return self.next()

    def punct(self, ch: str) -> Token:
        if self.tok.kind != "PUNCT" or self.tok.text != ch:
            raise self.fail()
        return self.next()

    def field_ref(self) -> FieldRef:
        token = self.tok
        if token.kind != "IDENT" or token.upper in KEYWORDS or token.text.endswith(".") \
                or ".." in token.text:
            raise self.fail()
        self.next()
        return FieldRef(token.text, token.pos)

    # query := SELECT select_list FROM ident [WHERE expr] [ORDER BY ...] [LIMIT n] [OFFSET n]
    def query(self) -> Query:
        self.keyword("SELECT")
        fields, count_only = self.select_list()
        self.keyword("FROM")
        obj = self.tok
        if obj.kind != "IDENT" or obj.upper in KEYWORDS or "." in obj.text:
            raise self.fail()
        self.next()
        query = Query(self.text, obj.text, obj.pos, fields, count_only)
        if self.at_keyword("WHERE"):
            self.next()
            query.where = self.condition_expr()
        if self.at_keyword("ORDER"):
            self.next()
            self.keyword("BY")
            query.order_by = self.order_list()
        if self.at_keyword("LIMIT"):
            self.next()
            query.limit = self.integer()
        if self.at_keyword("OFFSET"):
            self.next()
            query.offset = self.integer()
        if self.tok.kind != "EOF":
            raise self.fail()
        return query

    def select_list(self) -> tuple[list[FieldRef], bool]:
        if self.at_keyword("COUNT") and self.tokens[self.i + 1].text == "(":
            self.next()
            self.punct("(")
            self.punct(")")
            return [], True
        fields = [self.field_ref()]
        while self.tok.kind == "PUNCT" and self.tok.text == ",":
            self.next()
            fields.append(self.field_ref())
        seen: set[str] = set()
        for ref in fields:
            if ref.path.lower() in seen:
                raise SoqlError("MALFORMED_QUERY", located_message(self.text, ref.pos,
                                                                   f"duplicate field selected: {ref.path}"))
            seen.add(ref.path.lower())
        return fields, False

    def integer(self) -> int:
        token = self.tok
        if token.kind != "NUMBER" or not isinstance(token.value, int):
            raise self.fail()
        self.next()
        return token.value

    # expr := unary ((AND unary)* | (OR unary)*)   -- no mixing without parentheses
    def condition_expr(self) -> Any:
        first = self.unary()
        if not self.at_keyword("AND", "OR"):
            return first
        op = self.tok.upper
        items = [first]
        while self.at_keyword("AND", "OR"):
            if self.tok.upper != op:
                raise self.fail()
            self.next()
            items.append(self.unary())
        return BoolOp(op, tuple(items))

    def unary(self) -> Any:
        if self.at_keyword("NOT"):
            self.next()
            return Not(self.unary())
        if self.tok.kind == "PUNCT" and self.tok.text == "(":
            self.next()
            inner = self.condition_expr()
            self.punct(")")
            return inner
        return self.condition()

    def condition(self) -> Condition:
        ref = self.field_ref()
        token = self.tok
        if token.kind == "OP":
            self.next()
            op = "!=" if token.text == "<>" else token.text
            return Condition(ref, op, self.literal())
        if self.at_keyword("NOT"):
            self.next()
            self.keyword("IN")
            return Condition(ref, "NOT IN", self.literal_list())
        if self.at_keyword("IN"):
            self.next()
            return Condition(ref, "IN", self.literal_list())
        if self.at_keyword("LIKE"):
            self.next()
            value = self.literal()
            if value.kind != "string":
                raise self.fail(detail="LIKE needs a string pattern")
            return Condition(ref, "LIKE", value)
        if self.at_keyword("INCLUDES", "EXCLUDES"):
            op = self.next().upper
            return Condition(ref, op, self.literal_list())
        raise self.fail()

    def literal_list(self) -> tuple[Literal, ...]:
        self.punct("(")
        if self.at_keyword("SELECT"):
            raise self.fail(detail="semi-join sub-selects are not supported by the leadsync sandbox")
        values = [self.literal()]
        while self.tok.kind == "PUNCT" and self.tok.text == ",":
            self.next()
            values.append(self.literal())
        self.punct(")")
        return tuple(values)

    def literal(self) -> Literal:
        token = self.tok
        sign = 1
        if token.kind == "PUNCT" and token.text in "+-":
            self.next()
            sign = -1 if token.text == "-" else 1
            if self.tok.kind != "NUMBER":
                raise self.fail()
            number = self.next()
            return Literal("number", sign * number.value, token.pos)
        kinds = {"STRING": "string", "NUMBER": "number", "DATE": "date", "DATETIME": "datetime"}
        if token.kind in kinds:
            self.next()
            return Literal(kinds[token.kind], token.value, token.pos)
        if token.kind == "IDENT" and token.upper in ("NULL", "TRUE", "FALSE"):
            self.next()
            if token.upper == "NULL":
                return Literal("null", None, token.pos)
            return Literal("boolean", token.upper == "TRUE", token.pos)
        raise self.fail()

    def order_list(self) -> list[OrderItem]:
        items = [self.order_item()]
        while self.tok.kind == "PUNCT" and self.tok.text == ",":
            self.next()
            items.append(self.order_item())
        return items

    def order_item(self) -> OrderItem:
        ref = self.field_ref()
        descending = False
        if self.at_keyword("ASC", "DESC"):
            descending = self.next().upper == "DESC"
        nulls_last = None
        if self.at_keyword("NULLS"):
            self.next()
            if not self.at_keyword("FIRST", "LAST"):
                raise self.fail()
            nulls_last = self.next().upper == "LAST"
        return OrderItem(ref, descending, nulls_last)


def parse(text: str) -> Query:
    """Parse a SOQL query; raises SoqlError(MALFORMED_QUERY) on a syntax error."""
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "SOQL statements cannot be empty or null")
    return _Parser(text).query()
