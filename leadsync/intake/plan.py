"""A source's field mapping compiled once into SQL: normalise, check, cast and identify a whole batch at once.

The plan is DuckDB SQL over a relation of the batch's raw strings. It runs where the rows are: inside the
embedded store, or in an in-process DuckDB over Arrow batches read from Postgres. One pass gives every lead
field typed, and for each row the reasons it cannot be a lead (empty but required, not an email, not a number,
not a date, not an allowed picklist value, too long), worded as a person fixes them: column, value, expected.

Values reach SQL only as quoted literals (`literal`): header names and allowed values come from files and
YAML, and must never become SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from leadsync.config.schema import FieldMapping, FieldType, SourceConfig
from leadsync.intake.segregation import segregation_sql
from leadsync.intake.sql import ident, literal
from leadsync.store.tables import STANDARD_LEAD_FIELDS

__all__ = ["IntakePlan", "MissingColumnsError", "compile_plan", "ident", "literal"]

# Same grammar as before the plan existed (and as partners' systems check addresses): local part, a domain
# of labels, at least one dot.
EMAIL_PATTERN = (r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                 r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
# What counts as blank around a value (as exporters pad with any of these): a literal of the characters, and
# an RE2 test for a value that starts or ends with one (most do not: they are passed through untouched,
# which costs a fraction of trimming every value).
_BLANK_CHARS = " \t\n\x0b\x0c\r\xa0"
_BLANKS = "'" + _BLANK_CHARS + "'"
# Control characters no lead field has a use for (NUL first: Postgres text refuses it; a Postgres raw row
# holds it as U+2400, see leadsync/store/raw.py); TAB, LF and CR stay.
_CONTROL = r"'[\x{00}-\x{08}\x{0b}\x{0c}\x{0e}-\x{1f}\x{7f}\x{2400}]'"
# Whether a row has a control character in any mapped cell, tested once per row (its cells joined): the cells
# of the rare row that has one are then tested one by one. A regular expression per cell cost a third of the
# map stage's time on a clean file.
_CONTROL_ROW = '"control_in_row"'


def _padded(v: str) -> str:
    """SQL: true where `v` starts or ends with a blank (byte comparisons, no regular expression per cell)."""
    return "(" + " OR ".join([f"starts_with({v}, {literal(c)})" for c in _BLANK_CHARS] +
                             [f"ends_with({v}, {literal(c)})" for c in _BLANK_CHARS]) + ")"


class MissingColumnsError(ValueError):
    """The batch lacks required columns; nothing in it can become a lead."""


def is_required(f: FieldMapping) -> bool:
    # A lead without an email cannot be delivered to anyone, whatever the YAML says.
    return f.required or f.field == "email"


@dataclass(frozen=True)
class Check:
    field: str
    kind: str  # required | email | control_characters | max_length | number | datetime | picklist | multi_picklist
    fails: str  # SQL: true where the row fails
    message: str  # SQL: the reason text for a failing row
    label: str  # the reason's kind without the value, for run summaries


@dataclass(frozen=True)
class IntakePlan:
    """What one batch of a source becomes. `columns` maps each present lead field to its input column."""

    source: SourceConfig
    columns: dict[str, str]  # lead field → input column (an SQL identifier of the input relation)
    raw_names: dict[str, str]  # input column → the header name as received (quarantine payloads)
    record_id: str | None  # input column holding the source's record id (API sources)
    segregated: str | None  # input column flagging the source's segregation filter

    @property
    def fields(self) -> list[FieldMapping]:
        return list(self.source.fields)

    def max_length(self, f: FieldMapping) -> int:
        """The field's longest value: its own max_length, else the source's cells.max_length."""
        return f.max_length or self.source.cells.max_length

    def cleaned(self, f: FieldMapping) -> str:
        """The cell as text, control characters stripped where cells.control_characters says strip. A column of
        its own (`s_<field>`, see mapped_sql) that `normalised` refers to by name: written out inside it, this
        expression came sixteen times per field (the padding tests), 65 KB of SQL for 14 fields that DuckDB
        took 160 ms to plan for every slice, however few its rows."""
        col = self.columns.get(f.field)
        if col is None:
            return "CAST(NULL AS VARCHAR)"
        v = f"CAST({col} AS VARCHAR)"
        if self.source.cells.control_characters == "strip":
            v = (f"(CASE WHEN {_CONTROL_ROW} AND regexp_matches({v}, {_CONTROL}) "
                 f"THEN regexp_replace({v}, {_CONTROL}, '', 'g') ELSE {v} END)")
        return v

    def normalised(self, f: FieldMapping) -> str:
        """The cleaned cell (column `s_<field>`) trimmed, empty as null, and cut to its max_length where the
        field says truncate."""
        if self.columns.get(f.field) is None:
            return "CAST(NULL AS VARCHAR)"
        v = ident(f"s_{f.field}")
        v = f"NULLIF(CASE WHEN {_padded(v)} THEN trim({v}, {_BLANKS}) ELSE {v} END, '')"
        return f"left({v}, {int(self.max_length(f))})" if f.truncate else v

    def raw(self, f: FieldMapping) -> str:
        col = self.columns.get(f.field)
        return "CAST(NULL AS VARCHAR)" if col is None else f"CAST({col} AS VARCHAR)"

    def checks(self) -> list[Check]:
        out: list[Check] = []
        for f in self.fields:
            v = ident(f"n_{f.field}")
            where = f"column '{f.column}'"
            quoted = f"'''' || {v} || ''''"
            if is_required(f):
                out.append(Check(f.field, "required", f"{v} IS NULL", literal(f"{where} is empty but required"),
                                 f"{where} is empty but required"))
            bad = f"{where} (bad value)"
            if f.type is FieldType.string and f.format == "email":
                out.append(Check(f.field, "email", f"NOT regexp_full_match({v}, {literal(EMAIL_PATTERN)})",
                                 f"{literal(where + ' value ')} || {quoted} || ' is not a valid email address'", bad))
            if self.source.cells.control_characters == "quarantine":
                raw = self.raw(f)
                out.append(Check(f.field, "control_characters", f"regexp_matches({raw}, {_CONTROL})",
                                 f"{literal(where + ' value has a control character (code ')} || "
                                 f"CAST(unicode(regexp_extract({raw}, {_CONTROL})) AS VARCHAR) || "
                                 f"{literal(') at position ')} || CAST(instr({raw}, regexp_extract({raw}, {_CONTROL})) "
                                 "AS VARCHAR) || "
                                 f"{literal('; remove it from the file, or set cells.control_characters: strip')}",
                                 f"{where} value has control characters"))
            longest = self.max_length(f)
            if not f.truncate:
                hint = ("raise the field's max_length (up to 1000000) or set truncate: true" if f.max_length else
                        "give the field a max_length, or raise cells.max_length, or set truncate: true")
                out.append(Check(f.field, "max_length", f"length({v}) > {int(longest)}",
                                 f"{literal(where + ' value is longer than ' + str(longest) + ' characters (')} || "
                                 f"CAST(length({v}) AS VARCHAR) || {literal('); ' + hint)}",
                                 f"{where} value is longer than {longest} characters"))
            if f.type is FieldType.number:
                out.append(Check(f.field, "number", f"TRY_CAST({v} AS DOUBLE) IS NULL",
                                 f"{literal(where + ' value ')} || {quoted} || ' is not a number'", bad))
            if f.type is FieldType.datetime:
                expected = (f"format {f.format}" if f.format
                            else "ISO 8601, e.g. 2026-11-23 or 2026-11-23T14:30:00Z")
                out.append(Check(f.field, "datetime", f"{self._datetime(f, v)} IS NULL",
                                 f"{literal(where + ' value ')} || {quoted} || "
                                 f"{literal(f' is not a date/time (expected {expected})')}", bad))
            if f.type is FieldType.picklist:
                out.append(Check(f.field, "picklist", f"{self._picklist(f, v)} IS NULL",
                                 f"{literal(where + ' value ')} || {quoted} || "
                                 f"{literal(' is not one of: ' + ', '.join(f.values or []))}", bad))
            if f.type is FieldType.multi_picklist:
                allowed = ", ".join(literal(a.lower()) for a in f.values or [])
                out.append(Check(f.field, "multi_picklist",
                                 f"len(list_filter({ident('p_' + f.field)}, lambda x: x NOT IN ({allowed}))) > 0",
                                 f"{literal(where + ' value ')} || {quoted} || "
                                 f"{literal(' has values outside: ' + ', '.join(f.values or []))}", bad))
        # a check on a missing value never fails: emptiness is the `required` check's business
        return [c if c.kind == "required" else
                Check(c.field, c.kind, f"({ident('n_' + c.field)} IS NOT NULL AND ({c.fails}))", c.message, c.label)
                for c in out]

    @staticmethod
    def _datetime(f: FieldMapping, v: str) -> str:
        if f.format:  # strptime codes, as the YAML documents; naive times are UTC (the session's zone)
            return f"CAST(try_strptime({v}, {literal(f.format)}) AS TIMESTAMPTZ)"
        return f"TRY_CAST({v} AS TIMESTAMPTZ)"

    @staticmethod
    def _picklist(f: FieldMapping, v: str) -> str:
        cases = " ".join(f"WHEN {literal(a.lower())} THEN {literal(a)}" for a in f.values or [])
        return f"(CASE lower({v}) {cases} END)"

    @staticmethod
    def _parts(f: FieldMapping, v: str) -> str:
        """The cell's values, trimmed and lower-cased, blanks dropped."""
        return (f"list_filter(list_transform(string_split({v}, {literal(f.separator)}), "
                f"lambda x: lower(trim(x, {_BLANKS}))), lambda x: x <> '')")

    def typed(self, f: FieldMapping) -> str:
        """The lead field's value: cast, canonical spelling, lower-cased email."""
        v = ident(f"n_{f.field}")
        if f.type is FieldType.number:
            return f"TRY_CAST({v} AS DOUBLE)"
        if f.type is FieldType.datetime:
            return self._datetime(f, v)
        if f.type is FieldType.picklist:
            return self._picklist(f, v)
        if f.type is FieldType.multi_picklist:
            # allowed spellings, de-duplicated, in the order of the allowed list
            parts = ident(f"p_{f.field}")
            present = ", ".join(f"CASE WHEN list_contains({parts}, {literal(a.lower())}) THEN {literal(a)} END"
                                for a in f.values or [])
            return f"NULLIF(concat_ws({literal(f.separator)}, {present}), '')"
        if f.format == "email":
            return f"lower({v})"
        return v

    def mapped_sql(self, relation: str) -> str:
        """One row per input row: row_number, each lead field typed (named as the field), `reasons` (null
        when the row is a lead), `record_id`, `segregated`, and `raw_payload` (the row as received, JSON,
        for quarantined rows only)."""
        cleaned = "".join(f", {self.cleaned(f)} AS {ident('s_' + f.field)}" for f in self.fields)
        normalised = ", ".join(f"{self.normalised(f)} AS {ident('n_' + f.field)}" for f in self.fields)
        parts = "".join(f", {self._parts(f, ident('n_' + f.field))} AS {ident('p_' + f.field)}"
                        for f in self.fields if f.type is FieldType.multi_picklist)
        checks = self.checks()
        reasons = ", ".join(f"CASE WHEN {c.fails} THEN {c.message} END" for c in checks) or "NULL"
        typed = ", ".join(f"{self.typed(f)} AS {ident(f.field)}" for f in self.fields)
        record_id = f"CAST({self.record_id} AS VARCHAR)" if self.record_id else "CAST(NULL AS VARCHAR)"
        # the connector's flag (Salesforce's filter, evaluated by its connector) or the source's segregate filter
        # over the typed lead fields (t below)
        segregated = f"coalesce(lower({self.segregated}) = 'true', false)" if self.segregated else "false"
        held = segregation_sql(self.source)
        pairs = ", ".join(f"{literal(name)}, {col}" for col, name in self.raw_names.items())
        flags = ", ".join(f"({c.fails}) AS {ident('fail_' + str(i))}" for i, c in enumerate(checks))
        # the raw payload (quarantine only) is built for failing rows alone: CASE evaluates per selected row
        mapped = [f"CAST({col} AS VARCHAR)" for col in dict.fromkeys(self.columns.values())]
        control = (f"coalesce(regexp_matches(concat({', '.join(mapped)}), {_CONTROL}), false)" if mapped
                   else "false")
        return f"""
WITH b AS (SELECT *, {control} AS {_CONTROL_ROW} FROM {relation}),
s AS (SELECT *{cleaned} FROM b),
n AS (SELECT *, {normalised}, {record_id} AS record_id, {segregated} AS segregated FROM s),
m AS (SELECT *{parts} FROM n),
c AS (SELECT *, NULLIF(concat_ws('; ', {reasons}), '') AS reasons{', ' + flags if flags else ''} FROM m),
t AS (SELECT row_number, {typed}, reasons, record_id, segregated,
       CASE WHEN reasons IS NOT NULL THEN CAST(json_object({pairs}) AS VARCHAR) END AS raw_payload{self._flag_columns(checks)}
FROM c)
SELECT * {f"REPLACE (segregated OR {held} AS segregated) " if held else ""}FROM t"""

    @staticmethod
    def _flag_columns(checks: list[Check]) -> str:
        return "".join(f", {ident('fail_' + str(i))}" for i in range(len(checks)))

    def identity_sql(self, mapped: str, batch_id: str) -> str:
        """Leads of the mapped relation with lead_key and lead_id (see `leadsync/intake/__init__.py` for the
        rules); within the batch, records of one key collapse to the last (the newest information)."""
        name = self.source.name
        mode = self.source.uniqueness.mode
        if mode == "every_send" or (mode == "every_record" and self.record_id is None):
            # the row is the lead: every version an API source sends is a row of its own (the pull stores a
            # version once), so each send is a new lead, and re-mapping a batch finds the same ids
            row = "format('{:07d}', row_number)"
            return (f"SELECT *, {literal(batch_id + ':')} || {row} AS lead_key, "
                    f"{literal(f'{name}-{batch_id}-')} || {row} AS lead_id FROM {mapped} WHERE reasons IS NULL")
        if mode == "every_record":
            key = "record_id"
        else:
            parts = [f"coalesce(lower(trim(CAST({ident(k)} AS VARCHAR))), '')" for k in self.source.uniqueness.key]
            key = " || chr(31) || ".join(parts)
        return (f"SELECT *, {literal(name + '-')} || left(sha1(lead_key), 20) AS lead_id FROM ("
                f"SELECT *, {key} AS lead_key FROM {mapped} WHERE reasons IS NULL "
                f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY row_number DESC) = 1)")

    @property
    def standard(self) -> list[str]:
        return [f.field for f in self.fields if f.field in STANDARD_LEAD_FIELDS]

    @property
    def extra(self) -> list[FieldMapping]:
        return [f for f in self.fields if f.field not in STANDARD_LEAD_FIELDS]

    def attributes_sql(self) -> str:
        """The non-standard mapped fields as one JSON object (times in ISO 8601), or null when there are none."""
        if not self.extra:
            return "CAST(NULL AS VARCHAR)"
        pairs = []
        for f in self.extra:
            v = ident(f.field)
            if f.type is FieldType.datetime:
                v = f"strftime({v}, '%Y-%m-%dT%H:%M:%S.%f+00:00')"
            pairs.append(f"{literal(f.field)}, {v}")
        return f"CAST(json_object({', '.join(pairs)}) AS VARCHAR)"


# The column an API connector adds to flag records of the source's segregation filter.
SEGREGATED = "__segregated__"


def compile_plan(cfg: SourceConfig, columns: dict[str, str]) -> IntakePlan:
    """The plan for a batch whose input relation has `columns` (header name as received → SQL identifier).

    Headers match the mapping case- and space-insensitively. Raises MissingColumnsError when a required
    column is absent, naming it and what the batch has."""
    by_key = {name.strip().lower(): name for name in columns}
    found: dict[str, str] = {}
    missing: list[FieldMapping] = []
    for f in cfg.fields:
        header = by_key.get(f.column.strip().lower())
        if header is not None:
            found[f.field] = columns[header]
        elif is_required(f):
            missing.append(f)
    if missing:
        names = ", ".join(f"'{f.column}' (lead field {f.field})" for f in missing)
        raise MissingColumnsError(
            f"missing required column{'s' if len(missing) > 1 else ''} {names}; the file has columns: "
            f"{', '.join(repr(c) for c in columns if c != SEGREGATED)}. Add the column to the file or fix "
            "'column' in the mapping.")
    wanted = cfg.record_id_column
    record_id = next((columns[n] for n in columns if wanted and n.lower() == wanted.lower()), None)
    raw_names = {col: name for name, col in columns.items() if name != SEGREGATED}
    return IntakePlan(cfg, found, raw_names, record_id, columns.get(SEGREGATED))
