"""The sandbox's own clock: real time by default, movable by tests and demos.

Everything the sandbox stamps or expires (C_DateModified on imports, createdAt of definitions and syncs,
token expiry, export data retention) reads this clock, so a test can step over an 8-hour token lifetime or a
12-hour retention period without sleeping. Sync processing delays use real time (they are tiny).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """`now()` is real UTC time plus an offset, or a frozen instant after `freeze()`."""

    def __init__(self, start: datetime | None = None, frozen: bool = False):
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None
        if start is not None:
            self.set(start, frozen=frozen)
        elif frozen:
            self._frozen = _real_now()

    def now(self) -> datetime:
        """Timezone-aware UTC now, millisecond precision (what Eloqua stores)."""
        with self._lock:
            moment = self._frozen if self._frozen is not None else _real_now() + self._offset
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def set(self, moment: datetime, frozen: bool | None = None) -> None:
        """Jump to `moment` (naive values are UTC). Keeps ticking unless frozen."""
        moment = as_utc(moment)
        with self._lock:
            freeze = (self._frozen is not None) if frozen is None else frozen
            if freeze:
                self._frozen = moment
            else:
                self._frozen = None
                self._offset = moment - _real_now()

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move forward by `seconds` (or a timedelta) and return the new now."""
        step = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        with self._lock:
            if self._frozen is not None:
                self._frozen += step
            else:
                self._offset += step
        return self.now()

    def freeze(self, at: datetime | None = None) -> datetime:
        """Stop the clock (at `at`, or at the current now)."""
        self.set(at or self.now(), frozen=True)
        return self.now()

    def unfreeze(self) -> None:
        self.set(self.now(), frozen=False)


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso_z(moment: datetime) -> str:
    """Bulk API timestamp form: 2024-01-05T13:22:10.1270000Z (seven fractional digits, as .NET writes)."""
    moment = as_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def epoch_str(moment: datetime) -> str:
    """Application API timestamp form: Unix seconds as a string."""
    return str(int(as_utc(moment).timestamp()))


def number_str(value: float) -> str:
    """Numbers as the Application API writes them: 25000, 12.5 (no exponent, no trailing .0)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _real_now() -> datetime:
    return datetime.now(UTC)
