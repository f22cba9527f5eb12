"""Daily caps: the buckets a vendor's day is counted in (a local midnight, or a rolling 24 hours)
and how an exhausted message says when the count resets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


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

