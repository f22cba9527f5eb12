"""The budget a connector calls through: admitted calls (Call) with their leases, waits on the window
and in-flight limits, ApiQuotaExhausted when the day is spent; the store chosen by the environment."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from leadsync.connectors.api_budget.days import MidnightIn, Rolling24h
from leadsync.connectors.api_budget.limits import (
    DEFAULT_PREFIX,
    ENV_PREFIX,
    ENV_REDIS_URL,
    Admission,
    BudgetLimits,
    BudgetStore,
    Usage,
)
from leadsync.connectors.api_budget.local_store import LocalStore
from leadsync.connectors.api_budget.redis_store import RedisStore
from leadsync.connectors.api_client import ApiQuotaExhausted, ApiTransientError

log = logging.getLogger(__name__)

_LOCAL = LocalStore()
_REDIS: dict[tuple[str, str, int], RedisStore] = {}
_REDIS_LOCK = threading.Lock()


def default_store() -> BudgetStore:
    """Redis at $LEADSYNC_REDIS_URL (keys under $LEADSYNC_BUDGET_PREFIX), else this process's memory.
    One RedisStore (one connection pool) per URL, prefix and process."""
    url = os.environ.get(ENV_REDIS_URL, "").strip()
    if not url:
        return _LOCAL
    prefix = os.environ.get(ENV_PREFIX, "").strip() or DEFAULT_PREFIX
    with _REDIS_LOCK:
        store = _REDIS.get((url, prefix, os.getpid()))
        if store is None:
            store = _REDIS[(url, prefix, os.getpid())] = RedisStore(url, prefix)
        return store


class Call:
    """One admitted call: `renew()` keeps its lease during a long transfer; `report_usage()` hands the
    vendor's count to the budget when the call is released."""

    def __init__(self, budget: ApiBudget, call_id: str):
        self.budget, self.call_id = budget, call_id
        self._report: tuple[int | None, int | None] | None = None
        self._renewed = time.monotonic()
        self.released = False

    def report_usage(self, used: int | None, maximum: int | None = None) -> None:
        self._report = (used, maximum)

    def renew(self) -> None:
        """Extend the lease (cheap to call often: it talks to the store at most every third of a TTL)."""
        limits = self.budget.limits
        if limits.max_concurrent and time.monotonic() - self._renewed >= limits.lease_ttl_s / 3:
            self._renewed = time.monotonic()
            try:
                self.budget.store.renew(self.budget.key, self.call_id, limits.lease_ttl_s)
            except ApiTransientError as exc:  # the transfer goes on; at worst the lease lapses early
                log.warning("could not renew the API budget lease of %s: %s", self.budget.key, exc)

    def release(self) -> None:
        """Give the slot back. A store failure here is logged, not raised: the vendor call has happened and
        must not be reported failed (and repeated); the lease expires by its TTL instead."""
        if not self.released and self.call_id:
            self.released = True
            try:
                self.budget.store.release(self.budget.key, self.call_id, self.budget.limits, self._report)
            except ApiTransientError as exc:
                log.warning("could not release an API budget slot of %s (it expires by itself): %s",
                            self.budget.key, exc)


class ApiBudget:
    """The budget of one key. `store` defaults to default_store() (chosen by LEADSYNC_REDIS_URL when the
    budget is built); `clock` (UTC-aware now) decides the day bucket and the reset time in messages."""

    def __init__(self, key: str, limits: BudgetLimits, store: BudgetStore | None = None,
                 clock: Callable[[], datetime] | None = None):
        self.key = key
        self.limits = limits
        self.store = store if store is not None else default_store()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.waited_s = 0.0  # time this budget object spent waiting for slots (for metadata and tests)

    def __repr__(self) -> str:
        return f"ApiBudget({self.key!r}, {type(self.store).__name__})"

    @contextmanager
    def call(self, count_daily: bool = True) -> Iterator[Call]:
        """Around one HTTP call: waits for a window and an in-flight slot, refuses with ApiQuotaExhausted
        when the daily cap is reached, releases the slot (and passes on the vendor's report) afterwards.
        `count_daily=False` for calls the vendor's daily allocation does not count (logins)."""
        if self.limits.enforces_nothing:  # nothing to share: no round trip to the store
            yield Call(self, "")
            return
        admitted = self.acquire(count_daily)
        try:
            yield admitted
        finally:
            admitted.release()

    def acquire(self, count_daily: bool = True) -> Call:
        call_id = uuid.uuid4().hex
        day = self.limits.day
        while True:
            now = self.clock()
            buckets = day.buckets(now) if day is not None and count_daily else []
            ttl = day.ttl_s(now) if day is not None else 0
            admission = self.store.acquire(self.key, self.limits, call_id, buckets, ttl, count_daily)
            if admission.status == "ok":
                return Call(self, call_id)
            if admission.status == "quota":
                raise self._exhausted(admission, now)
            started = time.monotonic()
            self.store.pause(self.key, admission)
            self.waited_s += time.monotonic() - started

    def report_usage(self, used: int | None, maximum: int | None = None) -> None:
        """The vendor's own count outside any call (e.g. read from a /limits resource)."""
        self.store.report(self.key, used, maximum)

    def usage(self) -> Usage:
        day = self.limits.day
        return self.store.usage(self.key, day.buckets(self.clock()) if day is not None else [])

    def spent(self) -> int:
        """Calls spent in the current day (or rolling 24 h), our count raised to the vendor's report."""
        return self.usage().spent

    def in_flight(self) -> int:
        return self.store.in_flight(self.key)

    def _exhausted(self, admission: Admission, now: datetime) -> ApiQuotaExhausted:
        day = self.limits.day
        assert day is not None
        usage = self.store.usage(self.key, day.buckets(now))
        resets = day.resets_at(now, usage.counts)
        vendor = self.limits.vendor
        reported = f"; {vendor} itself reported {usage.vendor_used:,}" + \
            (f" of {usage.vendor_max:,}" if usage.vendor_max is not None else "") \
            if usage.vendor_used is not None else ""
        period = "in the last 24 hours" if isinstance(day, Rolling24h) else \
            f"on {now.astimezone(ZoneInfo(day.tz)):%Y-%m-%d} ({day.label} day)" if isinstance(day, MidnightIn) \
            else "today"
        return ApiQuotaExhausted(
            f"{vendor} daily API budget of {self.key} is spent: {admission.spent:,} calls counted {period} "
            f"against a cap of {admission.cap:,} (leadsync's share, shared by every worker{reported}); "
            f"{day.describe(now, resets)}. The pull stops here and resumes from its watermark then.",
            vendor_code="DAILY_BUDGET", resets_at=resets)
