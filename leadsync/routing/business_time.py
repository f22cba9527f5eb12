"""Days as a partner counts them: in its time zone, and only its business days when it has them.

A window of N days starts when the lead was routed. Without business days it ends N calendar days later at
the same wall-clock time in the partner's zone (a DST change does not move it). With business days, a
lead routed on a day off starts counting at 00:00 of the next business day; each whole day of the window
moves to the next business day (same wall-clock time); a fraction of a day is added as hours, and an end
that falls on a day off moves to the next business day. All arithmetic is zoneinfo's wall-clock arithmetic;
results are UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pandas as pd

from leadsync.config.partners import Partner, PartnersConfig

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _workdays(partner: Partner | None) -> frozenset[int] | None:
    if partner is None or not partner.business_days:
        return None
    return frozenset(WEEKDAYS.index(d) for d in partner.business_days)


def _wall(local: datetime, days: float) -> datetime:
    """`local` moved by whole or fractional days in wall-clock time, normalised to the zone's offset then."""
    moved = local + timedelta(days=days)  # aware + timedelta keeps the wall clock (zoneinfo)
    return moved.astimezone(UTC).astimezone(local.tzinfo)


def utc(moment: datetime) -> datetime:
    """An aware moment; a naive one (as some drivers return stored times) is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def add_days(start: datetime, days: float, partner: Partner | None) -> datetime:
    """The moment `days` (the partner's days) after `start`, as UTC."""
    tz = zone(partner.timezone if partner else "UTC")
    local = utc(start).astimezone(tz)
    work = _workdays(partner)
    if work is None:
        return _wall(local, days).astimezone(UTC)
    if local.weekday() not in work:
        local = _next_workday(local.replace(hour=0, minute=0, second=0, microsecond=0), work)
    frac, whole = math.modf(days)
    for _ in range(int(whole)):
        local = _next_workday(_wall(local, 1), work)
    if frac:
        local = _wall(local, frac)
        if local.weekday() not in work:
            local = _next_workday(local, work)
    return local.astimezone(UTC)


def _next_workday(local: datetime, work: frozenset[int]) -> datetime:
    while local.weekday() not in work:
        local = _wall(local, 1)
    return local


def acceptance_window(partner: Partner | None, partners: PartnersConfig) -> float | None:
    """Days the partner has to accept (its own, else routing's); None: its leads never time out."""
    if partner is None or partner.auto_accept:
        return None
    return partner.accept_within_days or partners.routing.accept_within_days


def moments(frame: pd.DataFrame, partners: PartnersConfig, days_before_end: float = 0.0) -> pd.Series:
    """Per row (`partner_id`, `decided_at`), when its acceptance window ends (or, with `days_before_end`,
    that many of the partner's days earlier: the reminder); NaT where nothing times out. Computed once per
    distinct (partner, decided_at): a routing run stamps all its decisions with one time."""
    out = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    if frame.empty:
        return out
    decided = pd.to_datetime(frame["decided_at"], utc=True)
    keys = pd.DataFrame({"partner_id": frame["partner_id"], "decided_at": decided})
    distinct = keys.drop_duplicates()
    values = {}
    for pid, at in distinct.itertuples(index=False):
        partner = partners.by_id(pid) if isinstance(pid, str) else None
        window = acceptance_window(partner, partners)
        if window is None or window - days_before_end <= 0:
            continue
        values[(pid, at)] = add_days(at.to_pydatetime(), window - days_before_end, partner)
    if not values:
        return out
    found = pd.Series(list(values.values()), index=pd.MultiIndex.from_tuples(list(values)), dtype=object)
    looked = found.reindex(pd.MultiIndex.from_frame(keys)).to_numpy()
    return pd.Series(pd.to_datetime(looked, utc=True), index=frame.index)


def shown(moment: datetime, partner: Partner | None) -> str:
    """A moment as the partner reads it: in its zone, with the zone's abbreviation (e.g. Tue 04 Nov 2026
    09:00 CET)."""
    local = utc(moment).astimezone(zone(partner.timezone if partner else "UTC"))
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()}"


def latest_start(partners: PartnersConfig, now: datetime, days_before_end: float = 0.0) -> datetime | None:
    """Decisions taken after this cannot have reached their window's end (or reminder) by `now` (None when
    nothing times out): the shortest window back, with a day of slack for wall-clock days across a DST
    change. A filter for the store query; `moments` gives the exact times."""
    spans = [w - days_before_end for p in partners.partners if (w := acceptance_window(p, partners)) is not None]
    spans = [s for s in spans if s > 0]
    return now - timedelta(days=min(spans)) + timedelta(days=1) if spans else None
