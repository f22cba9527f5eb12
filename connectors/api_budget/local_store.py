"""The count kept in this process's memory (the embedded default, no Redis): the same contract as the
Redis store, shared by the threads of one process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from leadsync.connectors.api_budget.limits import VENDOR_MAX_TTL_S, VENDOR_REPORT_TTL_S, Admission, BudgetLimits, Usage


@dataclass
class _LocalState:
    window: dict[str, float] = field(default_factory=dict)  # call id → stamp (monotonic)
    leases: dict[str, float] = field(default_factory=dict)  # call id → expiry (monotonic)
    days: dict[str, int] = field(default_factory=dict)
    vendor_used: tuple[int, float] | None = None  # (used, expiry)
    vendor_max: tuple[int, float] | None = None


class LocalStore:
    """The same rules in process memory, for the threads of one process (SlidingWindowLimiter's
    semantics plus leases and a daily count). A released lease wakes its waiters at once."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._cond = threading.Condition()
        self._states: dict[str, _LocalState] = {}

    def _state(self, key: str) -> _LocalState:
        return self._states.setdefault(key, _LocalState())

    def acquire(self, key: str, limits: BudgetLimits, call_id: str, buckets: list[str], bucket_ttl_s: int,
                count_daily: bool) -> Admission:
        with self._cond:
            now = self._clock()
            st = self._state(key)
            counting = count_daily and bool(buckets)
            spent, cap = 0, -1
            if counting:
                for stale in [b for b in st.days if b not in buckets]:
                    del st.days[stale]
                spent = max(sum(st.days.get(b, 0) for b in buckets), self._vendor(st.vendor_used, now) or 0)
                if limits.daily_limit is not None:
                    vmax = self._vendor(st.vendor_max, now)
                    cap = limits.daily_limit if vmax is None else min(limits.daily_limit, vmax)
                    if spent >= cap:
                        return Admission("quota", spent=spent, cap=cap)
            if limits.max_concurrent:
                st.leases = {i: exp for i, exp in st.leases.items() if exp > now}
                if len(st.leases) >= limits.max_concurrent:
                    return Admission("wait", wait_s=min(st.leases.values()) - now, reason="concurrency")
            if limits.calls_per_window:
                st.window = {i: s for i, s in st.window.items() if s > now - limits.window_s}
                if len(st.window) >= limits.calls_per_window:
                    return Admission("wait", wait_s=min(st.window.values()) + limits.window_s - now,
                                     reason="window")
                st.window[call_id] = now
            if limits.max_concurrent:
                st.leases[call_id] = now + limits.lease_ttl_s
            if counting:
                st.days[buckets[0]] = st.days.get(buckets[0], 0) + 1
                spent += 1
            return Admission("ok", spent=spent, cap=cap)

    @staticmethod
    def _vendor(value: tuple[int, float] | None, now: float) -> int | None:
        return value[0] if value is not None and value[1] > now else None

    def release(self, key: str, call_id: str, limits: BudgetLimits,
                report: tuple[int | None, int | None] | None) -> None:
        with self._cond:
            st = self._state(key)
            now = self._clock()
            st.leases.pop(call_id, None)
            if limits.calls_per_window:
                st.window[call_id] = now  # stamped again at its end: see the module docstring
            used, maximum = report or (None, None)
            if used is not None:
                current = self._vendor(st.vendor_used, now)
                if current is None or used >= current:
                    st.vendor_used = (used, now + VENDOR_REPORT_TTL_S)
            if maximum is not None:
                st.vendor_max = (maximum, now + VENDOR_MAX_TTL_S)
            self._cond.notify_all()

    def renew(self, key: str, call_id: str, ttl_s: float) -> None:
        with self._cond:
            st = self._state(key)
            if call_id in st.leases:
                st.leases[call_id] = self._clock() + ttl_s

    def report(self, key: str, used: int | None, maximum: int | None) -> None:
        self.release(key, "report", BudgetLimits(), (used, maximum))

    def usage(self, key: str, buckets: list[str]) -> Usage:
        with self._cond:
            st = self._state(key)
            now = self._clock()
            return Usage({b: st.days[b] for b in buckets if b in st.days}, self._vendor(st.vendor_used, now),
                         self._vendor(st.vendor_max, now))

    def in_flight(self, key: str) -> int:
        with self._cond:
            now = self._clock()
            return sum(1 for exp in self._state(key).leases.values() if exp > now)

    def clear(self, key: str) -> None:
        """Forget `key`'s budget (tests, or an operator resetting a budget)."""
        with self._cond:
            self._states.pop(key, None)
            self._cond.notify_all()

    def pause(self, key: str, admission: Admission) -> None:
        with self._cond:  # a release notifies; a window slot frees by time alone
            self._cond.wait(timeout=max(admission.wait_s, 0.001))
