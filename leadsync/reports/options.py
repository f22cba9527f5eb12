"""What a caller may ask of a report: a date range, filters, a grouping, partner names.

- Date range: `date_from` and `date_to`, both days included (UTC). Lead reports date a lead by when leadsync
  received it; opportunity reports date an opportunity by when it was created.
- Filters: `field=value` pairs; the same field given twice matches either value. A field is one of
  FILTER_DIMENSIONS (partner id, source, campaign, distribution status), a standard lead column (country,
  lead_type, …) or any mapped lead field, the internal-only ones (`shared: false`) included. Values match without regard to case or surrounding spaces.
- Grouping: 1 to 3 dimensions: GROUP_BY_VALUES, `stage` and `origin` (opportunity reports), or any mapped lead
  field. A mapped field named like a built-in dimension is reached by the built-in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from leadsync.store.tables import STANDARD_LEAD_FIELDS

GROUP_BY_VALUES = ("partner", "source", "campaign", "status", "month")
OPPORTUNITY_DIMENSIONS = ("stage", "origin")
FILTER_DIMENSIONS = ("partner", "source", "campaign", "status")
DEFAULT_GROUP_BY = ("partner", "status")
MAX_GROUP_BY = 3
MAX_FILTERS = 20


class ReportError(ValueError):
    """A report asked for with a name or option that does not exist; the message lists what does."""


def _allowed(fields: Iterable[str], extra: Sequence[str] = OPPORTUNITY_DIMENSIONS) -> str:
    text = ", ".join((*GROUP_BY_VALUES, *extra))
    fields = sorted(set(fields) - set(GROUP_BY_VALUES) - set(extra))
    return text + (f" or a mapped field ({', '.join(fields)})" if fields else "")


def parse_group_by(value: str | Sequence[str] | None, fields: Iterable[str] = ()) -> tuple[str, ...] | None:
    """1 to 3 distinct dimensions from 'a,b' or a sequence; None when not given (the report's default)."""
    if value is None:
        return None
    fields = set(fields)
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(_name(str(v), fields) for v in items if str(v).strip())
    known = {*GROUP_BY_VALUES, *OPPORTUNITY_DIMENSIONS, *fields, *STANDARD_LEAD_FIELDS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ReportError(f"group_by: {', '.join(repr(u) for u in unknown)} is not a dimension; "
                          f"allowed: {_allowed(fields)}")
    if not 1 <= len(names) <= MAX_GROUP_BY:
        raise ReportError(f"group_by takes 1 to {MAX_GROUP_BY} of {_allowed(fields)}; got {len(names)}")
    if len(set(names)) != len(names):
        raise ReportError(f"group_by names a dimension twice: {', '.join(names)}")
    return names


def _name(text: str, fields: set[str]) -> str:
    """Built-in dimensions are lower-cased; a mapped field keeps its exact name when it has capitals."""
    text = text.strip()
    return text if text in fields else text.lower()


def parse_filters(value: str | Sequence[str] | Mapping[str, object] | None,
                  fields: Iterable[str] = ()) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """('field', (values…)) pairs from 'field=value' strings (or a mapping field → value or values)."""
    if not value:
        return ()
    fields = set(fields)
    pairs: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            for one in ([v] if isinstance(v, str) else list(v or [])):
                pairs.append((str(k), str(one)))
    else:
        for item in [value] if isinstance(value, str) else list(value):
            if isinstance(item, (tuple, list)) and len(item) == 2:
                values = item[1] if isinstance(item[1], (tuple, list)) else [item[1]]
                pairs.extend((str(item[0]), str(v)) for v in values)
                continue
            key, sep, val = str(item).partition("=")
            if not sep or not key.strip():
                raise ReportError(f"filter {item!r}: write it as field=value, e.g. country=US")
            pairs.append((key, val))
    out: dict[str, list[str]] = {}
    for key, val in pairs:
        name = _name(key, fields)
        if name not in FILTER_DIMENSIONS and name not in fields and name not in STANDARD_LEAD_FIELDS:
            allowed = ", ".join(FILTER_DIMENSIONS) + (f" or a mapped field ({', '.join(sorted(fields))})"
                                                      if fields else "")
            raise ReportError(f"filter on '{key}': not a field; filter on {allowed}")
        out.setdefault(name, []).append(val.strip())
    if len(pairs) > MAX_FILTERS:
        raise ReportError(f"{len(pairs)} filter values given; at most {MAX_FILTERS}")
    return tuple((k, tuple(v)) for k, v in out.items())


def parse_date(value: str | date | None, what: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ReportError(f"{what}: '{value}' is not a date; write it as YYYY-MM-DD, e.g. 2026-11-15") from None


@dataclass(frozen=True)
class ReportOptions:
    """group_by: dimensions (None: the report's default). partner_names: partner id → name from partners.yaml,
    shown beside ids. date_from/date_to: days included. filters: see the module docstring. fields: the mapped
    lead fields of the sources (what filters and groupings may name beyond the built-ins)."""

    group_by: tuple[str, ...] | None = None
    partner_names: Mapping[str, str] = field(default_factory=dict)
    date_from: date | None = None
    date_to: date | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fields: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", frozenset(self.fields or ()))
        object.__setattr__(self, "group_by", parse_group_by(self.group_by, self.fields))
        object.__setattr__(self, "partner_names", dict(self.partner_names or {}))
        object.__setattr__(self, "date_from", parse_date(self.date_from, "from"))
        object.__setattr__(self, "date_to", parse_date(self.date_to, "to"))
        object.__setattr__(self, "filters", parse_filters(self.filters, self.fields))
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ReportError(f"the date range ends ({self.date_to}) before it starts ({self.date_from}); "
                              "swap from and to")

    def grouping(self, default: tuple[str, ...]) -> tuple[str, ...]:
        return self.group_by or default

    def lead_fields(self) -> list[str]:
        """The mapped lead fields the grouping and filters name (beyond the built-in dimensions)."""
        builtin = {*GROUP_BY_VALUES, *OPPORTUNITY_DIMENSIONS}
        names = [*(self.group_by or ()), *(k for k, _ in self.filters)]
        return list(dict.fromkeys(n for n in names if n not in builtin))

    def names_frame(self) -> pd.DataFrame:
        """The partner names as a two-column lookup table (typed even when empty)."""
        ids = list(self.partner_names)
        return pd.DataFrame({"partner_id": pd.Series(ids, dtype="string"),
                             "partner_name": pd.Series([self.partner_names[i] for i in ids], dtype="string")})
