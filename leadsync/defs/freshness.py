"""Freshness from a schedule: an asset a schedule materialises is stale once it has not been materialised
for the longest gap between two of the schedule's ticks plus a grace for the run itself. So a source that
has not pulled within its schedule shows as failing its freshness policy in the UI (and in the asset
health), while one whose runs keep up passes, weekends of a weekdays-only schedule included."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._utils.schedules import cron_string_iterator, is_valid_cron_string

# How long a run may take before its assets count as late: warned after WARN_GRACE, failing after FAIL_GRACE.
WARN_GRACE = timedelta(minutes=5)
FAIL_GRACE = timedelta(minutes=15)
# The gaps are measured over a year of ticks from a fixed date (the same policy at every load), at most this many.
_SAMPLE_FROM = datetime(2026, 1, 1, tzinfo=UTC)
_SAMPLE_SPAN = timedelta(days=366)
_SAMPLE_TICKS = 2000


# Cached: iterating a year of ticks is half the cost of building the definitions (~0.1 s for five sources), and a
# process builds them again and again (the run process three times, a worker at every step), always the same.
@functools.lru_cache(maxsize=256)
def longest_gap(cron: str, timezone: str = "UTC") -> timedelta:
    """The longest time between two consecutive ticks of `cron` (a year's ticks, at most _SAMPLE_TICKS of them;
    a schedule ticking less than twice a year counts as a year)."""
    longest, previous = timedelta(0), None
    for count, tick in enumerate(cron_string_iterator(_SAMPLE_FROM.timestamp(), cron, timezone)):
        if previous is not None:
            longest = max(longest, tick - previous)
        if count >= _SAMPLE_TICKS or tick - _SAMPLE_FROM > _SAMPLE_SPAN:
            break
        previous = tick
    return longest or _SAMPLE_SPAN


def schedule_freshness(cron: str | None, timezone: str = "UTC") -> dg.FreshnessPolicy | None:
    """The freshness policy of assets materialised on `cron`; None without a (valid) schedule."""
    if not cron or not is_valid_cron_string(cron):
        return None
    gap = longest_gap(cron, timezone)
    return dg.FreshnessPolicy.time_window(fail_window=gap + FAIL_GRACE, warn_window=gap + WARN_GRACE)
