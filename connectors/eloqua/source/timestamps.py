"""Eloqua's time formats: Bulk values ('2024-01-05 13:22:10.127', UTC as exported with
areSystemTimestampsInUTC), filter values ('YYYY-MM-DD HH:MM:SS'), Application API epoch-second strings."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pandas as pd

_BULK_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
                 "%Y-%m-%d")


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def filter_time(moment: datetime) -> str:
    """A filter value, floored to the second (flooring only widens a `>=` filter)."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S")


def parse_bulk_time(text: str | None) -> datetime | None:
    """A Bulk export date as an aware UTC datetime; None for "" or an unreadable value."""
    if not text:
        return None
    value = text.strip().removesuffix("Z")
    if "." in value and len(value.rsplit(".", 1)[1]) > 6:  # .NET's seven fractional digits
        head, frac = value.rsplit(".", 1)
        value = f"{head}.{frac[:6]}"
    for fmt in _BULK_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat(timespec="milliseconds") if moment is not None else None


def bulk_to_iso(text: str | None) -> str | None:
    """'2024-01-05 13:22:10.127' → '2024-01-05T13:22:10.127+00:00'."""
    return iso(parse_bulk_time(text))


def epoch_to_iso(text: str | None) -> str | None:
    """Application API '1704460930' → '2024-01-05T13:22:10+00:00'; None when absent."""
    if text in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(float(text)), UTC).isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


def import_value(value: object) -> str:
    """A value as Bulk import text: dates 'YYYY-MM-DD HH:MM:SS', None/NaN as "" (Eloqua's null)."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):  # pandas.Timestamp included
        if pd.isna(value):  # NaT
            return ""
        return as_utc(value).strftime("%Y-%m-%d %H:%M:%S") if value.tzinfo else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return "" if text in ("NaT", "nan", "<NA>") and not isinstance(value, str) else text
