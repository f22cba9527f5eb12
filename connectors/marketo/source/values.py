"""Cells of the frames leadsync hands to write_* as JSON values for Marketo, and the result frame."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from leadsync.connectors.marketo.source.records import as_utc, iso
from leadsync.connectors.source_api import RESULT_COLUMNS


class Missing:
    """A cell with no value: the field is left as it is."""


MISSING = Missing()


def json_value(value: Any) -> Any:
    """A frame cell as a JSON value; MISSING for None/NaN/NaT (send "" to clear a text field)."""
    if value is None or (np.ndim(value) == 0 and pd.isna(value)):
        return MISSING
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, datetime):  # pandas Timestamps are datetimes
        return iso(as_utc(value))
    if isinstance(value, date):
        return value.isoformat()
    return value


def lead_id(value: Any) -> int | None:
    """A record id as Marketo's integer lead id, or None when it is not one."""
    value = json_value(value)
    if isinstance(value, bool) or value is MISSING:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = str(value).strip()
    return int(text) if text.isdigit() else None


def results(keys: list[Any], outcomes: list[tuple[bool, str | None]]) -> pd.DataFrame:
    """RESULT_COLUMNS, one row per input row, in input order."""
    return pd.DataFrame({"key": keys, "ok": [ok for ok, _ in outcomes], "error": [e for _, e in outcomes]},
                        columns=RESULT_COLUMNS)


def rounds(keys: list[Any]) -> list[list[int]]:
    """Row positions grouped so that no group holds a key twice (Marketo refuses duplicates in one call,
    1036); a later row for the same key goes in a later group, so it is applied after the earlier one."""
    seen: dict[Any, int] = {}
    groups: list[list[int]] = []
    for position, key in enumerate(keys):
        number = seen.get(key, 0)
        seen[key] = number + 1
        if number == len(groups):
            groups.append([])
        groups[number].append(position)
    return groups
