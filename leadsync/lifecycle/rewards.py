"""Rewards: points for timely status updates (and conversions), credited to the partner and the lead's rep;
a leaderboard of partners and reps. Each ledger entry derives its id from the event it rewards, so a
repeated update never pays twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from leadsync.config.partners import PartnersConfig
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle
from leadsync.store import LeadStore


def _as_utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def is_timely(ctx: Lifecycle, touched_at: datetime, now: datetime) -> bool:
    """Within rewards.timely_within_days of acceptance or of the previous status update."""
    return now - _as_utc(touched_at) <= timedelta(days=ctx.settings.rewards.timely_within_days)


def credit(ctx: Lifecycle, conn: sa.Connection, *, event_id: str, reason: str, points: int, held: dict,
           now: datetime) -> int:
    """Add a ledger entry for `event_id` (once); returns the points added."""
    if points <= 0:
        return 0
    entry_id = f"{event_id}:{reason}"
    r = lt.rewards_ledger
    if conn.execute(sa.select(r.c.entry_id).where(r.c.entry_id == entry_id)).all():
        return 0
    conn.execute(sa.insert(r).values(entry_id=entry_id, event_id=event_id, lead_id=held["lead_id"],
                                     partner_id=held["partner_id"], rep_email=held.get("rep_email"),
                                     rep_name=held.get("rep_name"), points=points, reason=reason, earned_at=now))
    return points


def reward_status_update(ctx: Lifecycle, conn: sa.Connection, event_id: str, held: dict, new_status: str,
                         now: datetime) -> int:
    """Points for a status update recorded as `event_id`; `held` is the lead's progress before it."""
    rules = ctx.settings.rewards
    points = 0
    if is_timely(ctx, held["touched_at"], now):
        points += credit(ctx, conn, event_id=event_id, reason="timely_update",
                         points=rules.points_per_timely_update, held=held, now=now)
    if new_status == "Converted Opportunity":
        points += credit(ctx, conn, event_id=event_id, reason="conversion", points=rules.conversion_points,
                         held=held, now=now)
    return points


@dataclass(frozen=True)
class Leaderboard:
    partners: pd.DataFrame  # rank, partner_id, partner_name, points, updates
    reps: pd.DataFrame  # rank, rep_name, rep_email, partner_id, partner_name, points, updates


def leaderboard(store: LeadStore, partners: PartnersConfig, since: datetime | None = None) -> Leaderboard:
    """Points per partner and per rep (since a date if given), highest first; ties share a rank."""
    r = lt.rewards_ledger
    query = sa.select(r.c.partner_id, r.c.rep_email, r.c.rep_name, r.c.points, r.c.event_id)
    if since is not None:
        query = query.where(r.c.earned_at >= since)
    with store.begin() as conn:
        ledger = store.read_frame(conn, query)
    names = {p.id: p.name for p in partners.partners}
    if ledger.empty:
        return Leaderboard(
            pd.DataFrame(columns=["rank", "partner_id", "partner_name", "points", "updates"]),
            pd.DataFrame(columns=["rank", "rep_name", "rep_email", "partner_id", "partner_name", "points", "updates"]))
    ledger["points"] = ledger["points"].astype("int64")
    by_partner = (ledger.groupby("partner_id", as_index=False)
                  .agg(points=("points", "sum"), updates=("event_id", "nunique")))
    by_partner["partner_name"] = by_partner["partner_id"].map(names)
    reps = ledger[ledger["rep_email"].notna()]
    by_rep = (reps.groupby(["rep_email", "partner_id"], as_index=False)
              .agg(rep_name=("rep_name", "last"), points=("points", "sum"), updates=("event_id", "nunique")))
    by_rep["partner_name"] = by_rep["partner_id"].map(names)
    return Leaderboard(
        _ranked(by_partner, ["partner_id"])[["rank", "partner_id", "partner_name", "points", "updates"]],
        _ranked(by_rep, ["rep_email"])[["rank", "rep_name", "rep_email", "partner_id", "partner_name", "points",
                                        "updates"]])


def _ranked(frame: pd.DataFrame, tie_break: list[str]) -> pd.DataFrame:
    frame = frame.sort_values(["points", *tie_break], ascending=[False, *[True] * len(tie_break)])
    frame["rank"] = frame["points"].rank(method="min", ascending=False).astype("int64")
    return frame.reset_index(drop=True)
