"""Export filters in Eloqua's expression language, kept under its 1000-character limit.

Values are quoted (a quote inside is doubled), never pasted raw: the filter is built from data (ids, dates),
and a value must not be able to change the expression around it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from leadsync.connectors.eloqua.source.timestamps import filter_time

MAX_FILTER = 1000


def quoted(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def compare(statement: str, op: str, value: str) -> str:
    return f"{quoted(statement)} {op} {quoted(value)}"


def any_of(statement: str, values: list[str]) -> str:
    return " OR ".join(compare(statement, "=", v) for v in values)


def since_clause(statement: str, lower: datetime | None) -> str | None:
    """`'{{statement}}' >= 'YYYY-MM-DD HH:MM:SS'` (inclusive), or None without a lower bound."""
    return compare(statement, ">=", filter_time(lower)) if lower is not None else None


def chunked_any_of(statement: str, values: list[str], reserve: int = 0) -> Iterator[str]:
    """OR-lists of `values`, each short enough to leave `reserve` characters of the filter for the rest."""
    budget = MAX_FILTER - reserve - 4  # the parentheses around an OR-list
    chunk: list[str] = []
    for value in values:
        if chunk and len(any_of(statement, [*chunk, value])) > budget:
            yield any_of(statement, chunk)
            chunk = []
        chunk.append(value)
    if chunk:
        yield any_of(statement, chunk)
