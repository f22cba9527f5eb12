"""Cells a spreadsheet would run as a formula, made inert (OWASP "CSV Injection").

Every CSV or XLSX cell leadsync writes for a person to open goes through one of these: a value that
starts with `=`, `+`, `-`, `@`, TAB or CR gets a leading apostrophe, so Excel, LibreOffice and Google
Sheets show it as text instead of evaluating it. A plain number (`-12.5`, `+3`) is left as it is: it
cannot be a formula, and amounts must stay numbers. Machine consumers that need the raw values get
them through a documented per-sink setting (`neutralise_formulas: false`), never for text a partner
typed.

Three forms of one rule: a Python function for cell-at-a-time writers, an Arrow function for whole
columns, and a SQL expression for files written by the database's own COPY.
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A leading character class and a plain-number pattern, shared by the three forms below.
_LEADING = r"^[=+\-@\t\r]"
_NUMBER = r"^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
_NUMBER_RE = re.compile(_NUMBER)


def neutralise(value: object) -> str:
    """The cell as text, made inert when a spreadsheet would treat it as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _NUMBER_RE.match(text):
        return "'" + text
    return text


def neutralise_array(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A string column with every formula-leading cell made inert (nulls stay null)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    risky = pc.and_(pc.match_substring_regex(values, _LEADING),
                    pc.invert(pc.match_substring_regex(values, _NUMBER)))
    return pc.if_else(risky, pc.binary_join_element_wise("'", values, ""), values)


def neutralise_table(table: pa.Table) -> pa.Table:
    """Every string column of the table through neutralise_array."""
    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            table = table.set_column(i, field, neutralise_array(table.column(i)))
    return table


def neutralise_sql(expr: str, dialect: str) -> str:
    """A SQL expression (DuckDB or PostgreSQL) giving `expr` made inert, for COPY … TO files."""
    # The first character's code first: an integer test, where a regular expression ran on each of the millions
    # of cells that start with a letter or a digit; the number pattern only for the few that start like a formula.
    codes = [str(ord(c)) for c in FORMULA_START]
    if dialect == "postgresql":
        leading = f"ascii({expr}) IN ({', '.join(codes)})"
        risky = f"{leading} AND NOT ({expr}) ~ '{_NUMBER}'"
    else:
        # Equalities, not an IN list: DuckDB plans an IN list of six or more constants as a join per cell (23 a
        # status file), dearer than the comparisons and a join: its COPY then no longer keeps the rows' order
        # (writeback/status_scan_order.py). The code is computed once (common subexpression).
        leading = "(" + " OR ".join(f"ascii({expr}) = {code}" for code in codes) + ")"
        risky = f"{leading} AND NOT regexp_matches({expr}, '{_NUMBER}')"
    return f"CASE WHEN {risky} THEN '''' || ({expr}) ELSE ({expr}) END"
