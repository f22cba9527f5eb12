"""What a caller may ask of a report: the grouping of the lead distribution summary and partner names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

GROUP_BY_VALUES = ("partner", "source", "campaign", "status", "month")
DEFAULT_GROUP_BY = ("partner", "status")
MAX_GROUP_BY = 3


class ReportError(ValueError):
    """A report asked for with a name or option that does not exist; the message lists what does."""


def parse_group_by(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """1 to 3 distinct dimensions out of GROUP_BY_VALUES, from 'a,b' or a sequence; None: the default."""
    if value is None:
        return DEFAULT_GROUP_BY
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(str(v).strip().lower() for v in items if str(v).strip())
    allowed = ", ".join(GROUP_BY_VALUES)
    unknown = [n for n in names if n not in GROUP_BY_VALUES]
    if unknown:
        raise ReportError(f"group_by: {', '.join(repr(u) for u in unknown)} is not a dimension; "
                          f"allowed: {allowed}")
    if not 1 <= len(names) <= MAX_GROUP_BY:
        raise ReportError(f"group_by takes 1 to {MAX_GROUP_BY} of {allowed}; got {len(names)}")
    if len(set(names)) != len(names):
        raise ReportError(f"group_by names a dimension twice: {', '.join(names)}")
    return names


@dataclass(frozen=True)
class ReportOptions:
    """group_by: dimensions of the lead distribution summary (validated here). partner_names: partner id →
    name from partners.yaml, shown beside ids (an id without a name is shown as itself)."""

    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    partner_names: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "group_by", parse_group_by(self.group_by))
        object.__setattr__(self, "partner_names", dict(self.partner_names or {}))

    def names_frame(self) -> pd.DataFrame:
        """The partner names as a two-column lookup table (typed even when empty)."""
        ids = list(self.partner_names)
        return pd.DataFrame({"partner_id": pd.Series(ids, dtype="string"),
                             "partner_name": pd.Series([self.partner_names[i] for i in ids], dtype="string")})
