"""Marketo's API limits, enforced per sandbox (a Marketo instance): calls per sliding window (606),
concurrent calls (615), the daily call quota (607). Bulk-export limits live here as settings and are
enforced by the export jobs. All limits are plain attributes, changeable while the sandbox runs.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from leadsync.connectors.marketo.sandbox.clock import SandboxClock
from leadsync.connectors.marketo.sandbox.envelope import MarketoError


@dataclass
class MarketoLimits:
    rate_limit_calls: int = 100  # 606 beyond this many calls ...
    rate_limit_window_s: float = 20  # ... within this sliding window
    max_concurrent: int = 10  # 615 beyond this many calls in flight
    daily_quota: int = 50_000  # 607 beyond this many calls per day (Central Time)
    max_batch: int = 300  # records per sync call, values per filter, batchSize
    token_ttl_s: int = 3600
    export_daily_quota_mb: float = 500  # 1029 "Export daily quota exceeded" once exceeded
    export_max_processing: int = 2  # jobs processing at once
    export_max_queued: int = 10  # Queued + Processing; 1029 "Too many jobs in queue"
    export_max_days: int = 31  # createdAt/updatedAt window of an export filter
    export_retention_days: int = 7  # files and job listings kept this long
    updated_at_export_filter: bool = True  # False: 1035, as on subscriptions without it


@dataclass
class Ticket:
    at: datetime
    day: date


class Meter:
    """Admits or refuses each API call; refused calls count for nothing, as on Marketo."""

    def __init__(self, limits: MarketoLimits, clock: SandboxClock):
        self.limits = limits
        self.clock = clock
        self._lock = threading.Lock()
        self._window: deque[datetime] = deque()
        self._daily: dict[date, int] = {}
        self.in_flight = 0
        self.peak_in_flight = 0

    def enter(self) -> Ticket:
        """Admit one call (it is now in flight), or raise 615 / 606 / 607."""
        now = self.clock.now()
        day = self.clock.central_day()
        with self._lock:
            limits = self.limits
            if self.in_flight >= limits.max_concurrent:
                raise MarketoError("615", f"Concurrent access limit '{limits.max_concurrent}' reached")
            cutoff = now - timedelta(seconds=limits.rate_limit_window_s)
            while self._window and self._window[0] <= cutoff:
                self._window.popleft()
            if len(self._window) >= limits.rate_limit_calls:
                raise MarketoError("606", f"Max rate limit '{limits.rate_limit_calls}' exceeded with in "
                                          f"'{limits.rate_limit_window_s:g}' secs")
            if self._daily.get(day, 0) >= limits.daily_quota:
                raise MarketoError("607")
            self._window.append(now)
            self._daily[day] = self._daily.get(day, 0) + 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return Ticket(now, day)

    def leave(self, ticket: Ticket, refund: bool = False) -> None:
        """The call finished; `refund` when it failed at response level (not counted, per Marketo)."""
        with self._lock:
            self.in_flight -= 1
            if refund:
                try:
                    self._window.remove(ticket.at)
                except ValueError:
                    pass
                self._daily[ticket.day] = max(0, self._daily.get(ticket.day, 0) - 1)

    def calls_today(self) -> int:
        with self._lock:
            return self._daily.get(self.clock.central_day(), 0)

    def set_remaining_daily_quota(self, remaining: int) -> None:
        with self._lock:
            self._daily[self.clock.central_day()] = max(0, self.limits.daily_quota - remaining)

    def reset_window(self) -> None:
        with self._lock:
            self._window.clear()
