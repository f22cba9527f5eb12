"""One API budget per source owner, shared by every thread, process and machine that calls it.

A vendor's limits belong to the vendor's account, not to our process: Marketo allows 100 calls per 20 s,
10 in flight and 50,000 a day *per instance*; Salesforce's daily request allocation is *per org*. With
several Dagster/Celery workers each limiting itself, two workers spend one budget twice over. `ApiBudget`
keeps the count where every worker sees it:

    budget = ApiBudget(budget_key("marketo", "123-abc-456.mktorest.com"),
                       BudgetLimits(calls_per_window=100, window_s=20, max_concurrent=10, lease_ttl_s=40,
                                    daily_limit=50_000, day=MidnightIn("America/Chicago", "US Central")))
    with budget.call() as call:            # waits for a window slot and an in-flight slot; refuses when
        response = session.get(...)        # the day's calls are spent (ApiQuotaExhausted)
        call.report_usage(used, maximum)   # what the vendor says was spent (Salesforce Sforce-Limit-Info)

Per budget key it enforces
- a sliding window: at most `calls_per_window` calls in any `window_s` seconds. A call is stamped when it
  is admitted and stamped again when it ends, so a call the vendor saw late still counts for a full window
  after it (the vendor cannot have seen it later than its answer arrived).
- at most `max_concurrent` calls in flight, held as leases that expire after `lease_ttl_s` (a bit longer
  than the HTTP timeout): a worker killed with SIGKILL frees its slots when they expire; a long download
  renews its lease (`call.renew()`).
- a daily cap, counted in buckets: `MidnightIn(tz)` is one bucket per local day (Marketo: midnight US
  Central); `Rolling24h` is one bucket per UTC hour, summed over the last 25 hours (Salesforce's allocation
  is a rolling 24 h; counting the current partial hour plus 24 whole ones over-counts by up to an hour's
  calls, never under-counts). The vendor's own report raises the count: `spent = max(our buckets, the
  highest usage the vendor reported in the last VENDOR_REPORT_TTL_S)`, and the vendor's maximum, once
  reported, lowers the cap. Reaching the cap raises ApiQuotaExhausted naming the budget, what was spent and
  when it resets. Window and concurrency wait (as SlidingWindowLimiter did); the daily cap refuses.

Where the count lives: Redis when LEADSYNC_REDIS_URL is set (redis://host:6379/0; every check-and-take is
one atomic Lua script, one round trip to acquire and one to release, the clock is Redis's own so workers'
clocks need not agree), else process memory (the embedded default needs no Redis; then the budget is
shared by the threads of one process, which is all a single process needs). Redis keys:
`{LEADSYNC_BUDGET_PREFIX or "leadsync:budget"}:{<budget key>}:win|lease|vused|vmax|d:<bucket>`, the budget key
in braces so one budget's keys share a Redis Cluster slot; every key expires on its own.

Budget keys name the limit's real owner, so two sources on the same account share one budget:
`marketo:<rest host>` (the munchkin id is the host), `salesforce:<instance host>` (the org's My Domain
host; login hosts carry no daily count), `eloqua:<login host>:<site>` (the company).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from connectors.api_client import ApiQuotaExhausted, ApiTransientError

log = logging.getLogger(__name__)
ENV_REDIS_URL = "LEADSYNC_REDIS_URL"
ENV_PREFIX = "LEADSYNC_BUDGET_PREFIX"
DEFAULT_PREFIX = "leadsync:budget"
VENDOR_REPORT_TTL_S = 600  # a vendor's usage report is believed (as a floor) this long without a newer one
VENDOR_MAX_TTL_S = 25 * 3600
CONCURRENCY_POLL_S = 0.02  # Redis has no wake-up on release here: a waiter for a lease looks again this often
LEASE_MARGIN_S = 10.0  # lease TTL = HTTP timeout + this: a lease outlives any call the timeout lets finish


def budget_key(vendor: str, *owner: str) -> str:
    """`vendor:owner[:more]`, lower-cased, e.g. budget_key("marketo", "123-ABC-456.mktorest.com")."""
    return ":".join([vendor, *(part.strip().lower() for part in owner if part)])


def lease_ttl(timeout_s: float) -> float:
    return float(timeout_s) + LEASE_MARGIN_S


# ---------------------------------------------------------------------------------------------- day buckets

class DayBoundary(Protocol):
    def buckets(self, now: datetime) -> list[str]:
        """The buckets that count now; the first is the one a call made now goes into."""

    def ttl_s(self, now: datetime) -> int:
        """How long the current bucket must live."""

    def resets_at(self, now: datetime, counts: dict[str, int]) -> datetime | None:
        """When calls become available again, given the counted buckets; None when unknown."""

    def describe(self, now: datetime, resets: datetime | None) -> str:
        """`it resets ...`, for the exhausted message."""


def _in(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@dataclass(frozen=True)
class MidnightIn:
    """One bucket per local day in `tz` (Marketo: the quota resets at midnight US Central)."""

    tz: str = "UTC"
    label: str = "UTC"

    def _next_midnight(self, now: datetime) -> datetime:
        local = now.astimezone(ZoneInfo(self.tz))
        return datetime(local.year, local.month, local.day, tzinfo=ZoneInfo(self.tz)) + timedelta(days=1)

    def buckets(self, now: datetime) -> list[str]:
        return [f"d{now.astimezone(ZoneInfo(self.tz)):%Y%m%d}"]

    def ttl_s(self, now: datetime) -> int:
        return int((self._next_midnight(now) - now).total_seconds()) + 3600

    def resets_at(self, now: datetime, counts: dict[str, int]) -> datetime | None:
        return self._next_midnight(now)

    def describe(self, now: datetime, resets: datetime | None) -> str:
        reset = resets or self._next_midnight(now)
        return (f"it resets at midnight {self.label} time, {reset:%Y-%m-%d %H:%M %Z} "
                f"({reset.astimezone(UTC):%Y-%m-%d %H:%M} UTC), in {_in(reset - now)}")


@dataclass(frozen=True)
class Rolling24h:
    """One bucket per UTC hour; the current hour and the 24 before it count (Salesforce: rolling 24 h)."""

    def buckets(self, now: datetime) -> list[str]:
        hour = int(now.timestamp() // 3600)
        return [f"h{hour - back}" for back in range(25)]

    def ttl_s(self, now: datetime) -> int:
        hour = int(now.timestamp() // 3600)
        return int((hour + 25) * 3600 - now.timestamp()) + 60

    def resets_at(self, now: datetime, counts: dict[str, int]) -> datetime | None:
        used = sorted(int(name[1:]) for name, count in counts.items() if count > 0)
        return datetime.fromtimestamp((used[0] + 25) * 3600, UTC) if used else None

    def describe(self, now: datetime, resets: datetime | None) -> str:
        if resets is None:
            return ("the allocation is a rolling 24 hours: calls become available as the vendor's oldest "
                    "counted requests age out (its next usage report is believed)")
        return (f"the allocation is a rolling 24 hours: the oldest calls counted here stop counting by "
                f"{resets:%Y-%m-%d %H:%M} UTC, in {_in(resets - now)}, and more as later hours age out")


# ---------------------------------------------------------------------------------------------- limits

@dataclass(frozen=True)
class BudgetLimits:
    """What one caller enforces. Limits travel with each call, state is shared per key: two callers with
    different limits on one key each stay within their own."""

    calls_per_window: int | None = None  # None: no window
    window_s: float = 1.0
    max_concurrent: int | None = None  # None: no in-flight limit
    lease_ttl_s: float = 40.0
    daily_limit: int | None = None  # None: counted (and vendor reports kept) but never refused locally
    day: DayBoundary | None = None  # None: no daily count at all
    vendor: str = "API"  # "Marketo", "Salesforce": how messages name the vendor

    @property
    def enforces_nothing(self) -> bool:
        """No window, no in-flight limit, no daily count: calls need not touch the store at all."""
        return not self.calls_per_window and not self.max_concurrent and self.day is None

    def __post_init__(self) -> None:
        if self.calls_per_window is not None and self.calls_per_window < 1:
            raise ValueError("calls_per_window must be ≥ 1 (or None)")
        if self.window_s <= 0 or self.lease_ttl_s <= 0:
            raise ValueError("window_s and lease_ttl_s must be positive")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError("max_concurrent must be ≥ 1 (or None)")
        if self.daily_limit is not None and self.daily_limit < 0:
            raise ValueError("daily_limit must be ≥ 0 (or None)")


@dataclass
class Admission:
    """A store's answer to one acquire: admitted, wait `wait_s` (for `reason`), or refused (quota)."""

    status: str  # "ok" | "wait" | "quota"
    wait_s: float = 0.0
    reason: str = ""
    spent: int = 0
    cap: int = 0


@dataclass
class Usage:
    counts: dict[str, int]
    vendor_used: int | None
    vendor_max: int | None

    @property
    def spent(self) -> int:
        return max(sum(self.counts.values()), self.vendor_used or 0)


class BudgetStore(Protocol):
    def acquire(self, key: str, limits: BudgetLimits, call_id: str, buckets: list[str], bucket_ttl_s: int,
                count_daily: bool) -> Admission: ...

    def release(self, key: str, call_id: str, limits: BudgetLimits,
                report: tuple[int | None, int | None] | None) -> None: ...

    def renew(self, key: str, call_id: str, ttl_s: float) -> None: ...

    def report(self, key: str, used: int | None, maximum: int | None) -> None: ...

    def usage(self, key: str, buckets: list[str]) -> Usage: ...

    def in_flight(self, key: str) -> int: ...

    def pause(self, key: str, admission: Admission) -> None: ...


# ---------------------------------------------------------------------------------------------- Redis

# KEYS: 1 window zset, 2 lease zset, 3 vendor-used, 4 vendor-max, 5.. day buckets (5 = the current one)
# ARGV: 1 call id, 2 window limit (0: none), 3 window ms, 4 lease limit (0: none), 5 lease ttl ms,
#       6 daily limit (-1: none), 7 count daily (0/1), 8 bucket ttl s
# Returns {0, 0, spent, cap} admitted | {1, wait ms, 1 (leases) or 2 (window)} | {2, 0, spent, cap} quota.
# The clock is Redis's TIME (ms, fractional), so workers on machines with skewed clocks agree.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local id = ARGV[1]
local win_limit, win_ms = tonumber(ARGV[2]), tonumber(ARGV[3])
local lease_limit, lease_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
local daily_limit, count_daily, bucket_ttl = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local spent, cap = 0, -1
if count_daily == 1 and #KEYS >= 5 then
  for i = 5, #KEYS do spent = spent + tonumber(redis.call('GET', KEYS[i]) or '0') end
  local vused = tonumber(redis.call('GET', KEYS[3]) or '0')
  if vused > spent then spent = vused end
  if daily_limit >= 0 then
    cap = daily_limit
    local vmax = tonumber(redis.call('GET', KEYS[4]) or '-1')
    if vmax >= 0 and vmax < cap then cap = vmax end
    if spent >= cap then return {2, 0, spent, cap} end
  end
end
if lease_limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= lease_limit then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {1, math.ceil(tonumber(first[2]) - now), 1}
  end
end
if win_limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win_ms)
  if redis.call('ZCARD', KEYS[1]) >= win_limit then
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {1, math.ceil(tonumber(first[2]) + win_ms - now), 2}
  end
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * win_ms + lease_ms))
end
if lease_limit > 0 then
  redis.call('ZADD', KEYS[2], now + lease_ms, id)
  redis.call('PEXPIRE', KEYS[2], math.ceil(2 * lease_ms))
end
if count_daily == 1 and #KEYS >= 5 then
  redis.call('INCR', KEYS[5])
  redis.call('EXPIRE', KEYS[5], bucket_ttl)
  spent = spent + 1
end
return {0, 0, spent, cap}
"""

# KEYS: 1 window zset, 2 lease zset, 3 vendor-used, 4 vendor-max
# ARGV: 1 call id, 2 restamp in window (0/1), 3 window ms, 4 lease ms, 5 reported used (-1: none),
#       6 reported max (-1: none), 7 vendor-used ttl ms, 8 vendor-max ttl ms
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(ARGV[2]) == 1 then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * tonumber(ARGV[3]) + tonumber(ARGV[4])))
end
local used, maximum = tonumber(ARGV[5]), tonumber(ARGV[6])
if used >= 0 then
  local cur = tonumber(redis.call('GET', KEYS[3]) or '-1')
  if used >= cur then redis.call('SET', KEYS[3], used, 'PX', ARGV[7]) end
end
if maximum >= 0 then redis.call('SET', KEYS[4], maximum, 'PX', ARGV[8]) end
return 1
"""

# KEYS: 1 lease zset; ARGV: 1 call id, 2 ttl ms. Extends a lease still held (XX: never revives a freed one),
# and the set with it, which would otherwise expire under a long download.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local renewed = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1])
if renewed == 1 then redis.call('PEXPIRE', KEYS[1], math.ceil(2 * tonumber(ARGV[2]))) end
return renewed
"""


class RedisStore:
    """The budget in Redis: every decision is one Lua script, so concurrent workers never both take the
    last slot."""

    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX):
        import redis

        self._redis_errors = redis.RedisError
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5,
                                           health_check_interval=30)
        kwargs = self.client.connection_pool.connection_kwargs
        # Where, for messages: never the URL itself (it may hold a password).
        self.where = f"Redis {kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}/" \
                     f"{kwargs.get('db', 0)}"
        self.prefix = prefix
        self._acquire = self.client.register_script(_ACQUIRE)
        self._release = self.client.register_script(_RELEASE)
        self._renew = self.client.register_script(_RENEW)

    def _k(self, key: str, part: str) -> str:
        return f"{self.prefix}:{{{key}}}:{part}"

    def _keys(self, key: str) -> list[str]:
        return [self._k(key, "win"), self._k(key, "lease"), self._k(key, "vused"), self._k(key, "vmax")]

    def _run(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except self._redis_errors as exc:  # transient: the caller's retry policy tries again
            raise ApiTransientError(f"API budget store ({self.where}) failed during {what}: "
                                    f"{type(exc).__name__}: {exc}") from exc

    def acquire(self, key: str, limits: BudgetLimits, call_id: str, buckets: list[str], bucket_ttl_s: int,
                count_daily: bool) -> Admission:
        keys = self._keys(key) + [self._k(key, f"d:{b}") for b in buckets]
        args = [call_id, limits.calls_per_window or 0, int(limits.window_s * 1000), limits.max_concurrent or 0,
                int(limits.lease_ttl_s * 1000), -1 if limits.daily_limit is None else limits.daily_limit,
                1 if count_daily and buckets else 0, bucket_ttl_s]
        answer = self._run("acquire", lambda: self._acquire(keys=keys, args=args))
        code = int(answer[0])
        if code == 0:
            return Admission("ok", spent=int(answer[2]), cap=int(answer[3]))
        if code == 1:
            return Admission("wait", wait_s=max(int(answer[1]), 1) / 1000,
                             reason="concurrency" if int(answer[2]) == 1 else "window")
        return Admission("quota", spent=int(answer[2]), cap=int(answer[3]))

    def release(self, key: str, call_id: str, limits: BudgetLimits,
                report: tuple[int | None, int | None] | None) -> None:
        used, maximum = report or (None, None)
        args = [call_id, 1 if limits.calls_per_window else 0, int(limits.window_s * 1000),
                int(limits.lease_ttl_s * 1000), -1 if used is None else used, -1 if maximum is None else maximum,
                VENDOR_REPORT_TTL_S * 1000, VENDOR_MAX_TTL_S * 1000]
        self._run("release", lambda: self._release(keys=self._keys(key), args=args))

    def renew(self, key: str, call_id: str, ttl_s: float) -> None:
        self._run("renew", lambda: self._renew(keys=[self._k(key, "lease")], args=[call_id, int(ttl_s * 1000)]))

    def report(self, key: str, used: int | None, maximum: int | None) -> None:
        # A release of no call: the same script, with a call id that holds nothing.
        self.release(key, "report-" + uuid.uuid4().hex, BudgetLimits(), (used, maximum))

    def usage(self, key: str, buckets: list[str]) -> Usage:
        names = [self._k(key, f"d:{b}") for b in buckets]
        values = self._run("usage", lambda: self.client.mget(names + [self._k(key, "vused"),
                                                                      self._k(key, "vmax")]))
        counts = {b: int(v) for b, v in zip(buckets, values[:-2], strict=True) if v is not None}
        return Usage(counts, None if values[-2] is None else int(values[-2]),
                     None if values[-1] is None else int(values[-1]))

    def in_flight(self, key: str) -> int:
        def count() -> int:
            now = self.client.time()
            return int(self.client.zcount(self._k(key, "lease"), now[0] * 1000 + now[1] / 1000, "+inf"))
        return self._run("in_flight", count)

    def pause(self, key: str, admission: Admission) -> None:
        # A window slot frees at a known time; a lease frees whenever its holder ends, so look again soon.
        # Jitter spreads workers that would all wake at the same instant.
        wait = admission.wait_s if admission.reason == "window" else min(admission.wait_s, CONCURRENCY_POLL_S)
        time.sleep(wait + random.uniform(0, 0.005))

    def clear(self, key: str) -> None:
        """Delete every key of `key`'s budget (tests, or an operator resetting a budget)."""
        self._run("clear", lambda: [self.client.delete(*chunk) for chunk in _chunks(
            list(self.client.scan_iter(match=self._k(key, "*").replace("{", "\\{").replace("}", "\\}"))))])


def _chunks(items: list[str], size: int = 500) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---------------------------------------------------------------------------------------------- in process

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


# ---------------------------------------------------------------------------------------------- the budget

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
