"""The count kept in Redis, for every worker on every machine: one atomic Lua script to acquire a call
(sliding window, in-flight leases, daily bucket), one to release it, one to renew a lease; Redis's own clock."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from leadsync.connectors.api_budget.limits import (
    CONCURRENCY_POLL_S,
    DEFAULT_PREFIX,
    VENDOR_MAX_TTL_S,
    VENDOR_REPORT_TTL_S,
    Admission,
    BudgetLimits,
    Usage,
)
from leadsync.connectors.api_client import ApiTransientError

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


