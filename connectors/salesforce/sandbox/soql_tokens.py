"""SOQL tokens: strings (with SOQL's backslash escapes), numbers, date and date-time literals, identifiers
(dotted paths as one token), operators and punctuation; and `SoqlError` with Salesforce's way of pointing
at the offending place in a query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


class SoqlError(Exception):
    """A query Salesforce would refuse: `code` (MALFORMED_QUERY, INVALID_FIELD, ...) and its message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def located_message(text: str, pos: int, detail: str) -> str:
    """Salesforce's way of pointing at a place in a query."""
    before = text[:pos]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    line_end = text.find("\n", pos)
    line = text[line_start:] if line_end < 0 else text[line_start:line_end]
    column = pos - line_start
    return f"\n{line}\n{' ' * column}^\nERROR at Row:{row}:Column:{column + 1}\n{detail}"


@dataclass(frozen=True)
class Token:
    kind: str  # IDENT STRING NUMBER DATE DATETIME OP PUNCT EOF
    text: str
    pos: int
    value: Any = None

    @property
    def upper(self) -> str:
        return self.text.upper()


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch == "'":
            i = _read_string(text, i, tokens)
        elif ch.isdigit():
            i = _read_number_or_date(text, i, tokens)
        elif ch.isalpha() or ch == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_."):
                i += 1
            tokens.append(Token("IDENT", text[start:i], start))
        elif text.startswith(("!=", "<>", "<=", ">="), i):
            tokens.append(Token("OP", text[i:i + 2], i))
            i += 2
        elif ch in "=<>":
            tokens.append(Token("OP", ch, i))
            i += 1
        elif ch in "(),-+":
            tokens.append(Token("PUNCT", ch, i))
            i += 1
        else:
            raise SoqlError("MALFORMED_QUERY", located_message(text, i, f"unexpected token: '{ch}'"))
    tokens.append(Token("EOF", "", n))
    return tokens


def _read_string(text: str, i: int, tokens: list[Token]) -> int:
    start, i, out = i, i + 1, []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            # \_ and \% stay escaped: they mean a literal _ or % inside LIKE patterns.
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        if ch == "'":
            tokens.append(Token("STRING", text[start:i + 1], start, "".join(out)))
            return i + 1
        out.append(ch)
        i += 1
    raise SoqlError("MALFORMED_QUERY", located_message(text, start, f"line 1:{start} no viable "
                                                       "alternative at character '\''"))


def _digits(text: str, i: int, count: int) -> bool:
    return i + count <= len(text) and text[i:i + count].isdigit()


def _read_number_or_date(text: str, i: int, tokens: list[Token]) -> int:
    start = i
    if _digits(text, i, 4) and text[i + 4:i + 5] == "-" and _digits(text, i + 5, 2) \
            and text[i + 7:i + 8] == "-" and _digits(text, i + 8, 2):
        i += 10
        if text[i:i + 1] != "T":
            tokens.append(Token("DATE", text[start:i], start, text[start:i]))
            return i
        j = i + 1
        if not (_digits(text, j, 2) and text[j + 2:j + 3] == ":" and _digits(text, j + 3, 2)
                and text[j + 5:j + 6] == ":" and _digits(text, j + 6, 2)):
            raise SoqlError("MALFORMED_QUERY", located_message(
                text, start, f"line 1:{i} no viable alternative at character 'T'"))
        j += 8
        if text[j:j + 1] == ".":
            j += 1
            while j < len(text) and text[j].isdigit():
                j += 1
        if text[j:j + 1] in ("Z", "z"):
            j += 1
        elif text[j:j + 1] in ("+", "-") and _digits(text, j + 1, 2):
            j += 3
            if text[j:j + 1] == ":":
                j += 1
            if not _digits(text, j, 2):
                raise SoqlError("MALFORMED_QUERY", located_message(text, start, "invalid date-time offset"))
            j += 2
        else:
            raise SoqlError("MALFORMED_QUERY", located_message(
                text, start, f"unexpected token: {text[start:j]} (a date-time needs Z or an offset)"))
        tokens.append(Token("DATETIME", text[start:j], start, text[start:j]))
        return j
    while i < len(text) and text[i].isdigit():
        i += 1
    if text[i:i + 1] == "." and _digits(text, i + 1, 1):
        i += 1
        while i < len(text) and text[i].isdigit():
            i += 1
        tokens.append(Token("NUMBER", text[start:i], start, float(text[start:i])))
    else:
        tokens.append(Token("NUMBER", text[start:i], start, int(text[start:i])))
    return i
