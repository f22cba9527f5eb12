"""The sandbox's clock and Salesforce's date/time wire formats.

Salesforce stores date-times to the second and writes them as "2026-11-23T10:15:30.000+0000" (UTC); dates as
"2026-11-23". Both sort correctly as strings, so the sandbox keeps them as these strings.

The clock runs on real time unless frozen or shifted, so tests can make several writes share one
SystemModstamp (freeze) or move time forward between two pulls (advance).
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

WIRE_FORMAT = "%Y-%m-%dT%H:%M:%S.000+0000"


class BadDateTime(ValueError):
    pass


def format_datetime(moment: datetime) -> str:
    """A datetime (naive means UTC) in Salesforce's wire format, truncated to the second."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(WIRE_FORMAT)


def parse_datetime(text: str) -> datetime:
    """Parse the ISO 8601 forms clients send: 2026-11-23T10:00:00Z, ...+0000, ...+01:00, ...000+0000,
    a bare date-time (taken as UTC). Raises BadDateTime."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Python wants "+01:00"; Salesforce writes "+0100".
    if len(value) >= 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = value[:-2] + ":" + value[-2:]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadDateTime(text) from None
    if "T" not in value and " " not in value:
        raise BadDateTime(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def normalize_datetime(value: str | datetime) -> str:
    """Any accepted date-time (string or datetime) as the wire string. Raises BadDateTime."""
    if isinstance(value, datetime):
        return format_datetime(value)
    return format_datetime(parse_datetime(value))


def normalize_date(value: str | date) -> str:
    """A date as "YYYY-MM-DD"; a date-time string is cut to its date. Raises BadDateTime."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = value.strip()
    try:
        return date.fromisoformat(text[:10]).isoformat() if len(text) >= 10 else date.fromisoformat(text)
    except ValueError:
        raise BadDateTime(value) from None


class SandboxClock:
    """Time as the sandbox sees it: real UTC time, optionally frozen or shifted."""

    def __init__(self, frozen_at: str | datetime | None = None):
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None
        if frozen_at is not None:
            self.freeze(frozen_at)

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    def now_wire(self) -> str:
        return format_datetime(self.now())

    def freeze(self, at: str | datetime | None = None) -> str:
        """Stop the clock (at `at`, or now): every write until `unfreeze` gets the same timestamp.
        Returns the frozen time in wire format."""
        moment = self.now() if at is None else _as_datetime(at)
        with self._lock:
            self._frozen = moment.replace(microsecond=0)
        return format_datetime(moment)

    def unfreeze(self) -> None:
        """Run again from the frozen time onwards."""
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - datetime.now(UTC)
                self._frozen = None

    def set(self, at: str | datetime) -> None:
        """Jump to `at` (frozen or running, as before)."""
        moment = _as_datetime(at)
        with self._lock:
            if self._frozen is not None:
                self._frozen = moment.replace(microsecond=0)
            else:
                self._offset = moment - datetime.now(UTC)

    def advance(self, seconds: float) -> str:
        """Move time forward; returns the new time in wire format."""
        with self._lock:
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)
        return self.now_wire()


def _as_datetime(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return parse_datetime(value)
