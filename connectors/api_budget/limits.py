"""What a budget enforces (BudgetLimits), its keys and lease TTLs, and the contract every store of the
count keeps (BudgetStore: one atomic check-and-take per call, leases, vendor reports)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from leadsync.connectors.api_budget.days import DayBoundary

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


