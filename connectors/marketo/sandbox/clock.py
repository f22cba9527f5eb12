"""The sandbox's sense of time, and Marketo's date formats.

Every timestamp the sandbox hands out or compares (token expiry, the 20-second rate window, the daily
quota's midnight in Central Time, `updatedAt`, export windows) comes from one `SandboxClock`, so a test
can move time instead of sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

# Marketo's daily quotas reset at 12:00 AM Central Time.
CENTRAL = ZoneInfo("America/Chicago")


class SandboxClock:
    """Wall-clock time plus an adjustable offset; can be frozen. Thread-safe."""

    def __init__(self, start: datetime | None = None, frozen: bool = False):
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen_at: datetime | None = None
        if start is not None:
            self.set(start)
        if frozen:
            self.freeze()

    def now(self) -> datetime:
        """The current sandbox time, timezone-aware UTC, whole microseconds."""
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return datetime.now(UTC) + self._offset

    def timestamp(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float = 0, **delta: float) -> datetime:
        """Move time forward (`advance(20)`, `advance(days=2)`); works frozen or running."""
        step = timedelta(seconds=seconds, **delta)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += step
            else:
                self._offset += step
        return self.now()

    def set(self, when: datetime) -> None:
        """Jump to `when` (naive means UTC); time keeps running from there unless frozen."""
        when = as_utc(when)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = when
            else:
                self._offset = when - datetime.now(UTC)

    def freeze(self, at: datetime | None = None) -> None:
        """Stop time (at `at`, or now) until `unfreeze()`."""
        current = self.now() if at is None else as_utc(at)
        with self._lock:
            self._frozen_at = current

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - datetime.now(UTC)
                self._frozen_at = None

    def central_day(self) -> date:
        """The quota day: the date in Central Time."""
        return self.now().astimezone(CENTRAL).date()


def as_utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def naive_utc(when: datetime) -> datetime:
    """How timestamps are stored in DuckDB: naive, meaning UTC."""
    return as_utc(when).replace(tzinfo=None)


def iso(when: datetime | None) -> str | None:
    """Marketo's REST datetime: `2016-05-17T22:11:45Z`."""
    if when is None:
        return None
    return as_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def asset_iso(when: datetime | None) -> str | None:
    """The Asset API's odd variant: `2015-11-18T15:25:35Z+0000`."""
    return None if when is None else iso(when) + "+0000"


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 datetime or date the way Marketo accepts them (`Z`, `+07:00`, `-0500`, a bare
    date); a value without an offset means UTC. Raises ValueError."""
    text = str(text).strip()
    if not text:
        raise ValueError("empty datetime")
    if text.endswith("Z+0000"):  # the Asset API's own format, echoed back by a client
        text = text[:-5]
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    return as_utc(parsed)
