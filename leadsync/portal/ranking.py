"""What a partner sees of the rewards: its points and rank among partners, its reps' points, and the rep
stack ranking across partners — other partners' reps by name, or anonymised, as lifecycle.yaml
`portal.other_partners_reps` says (default anonymised). Built on rewards.leaderboard."""

from __future__ import annotations

from dataclasses import dataclass

from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.rewards import leaderboard

ANONYMOUS = "Rep of another partner"


@dataclass(frozen=True)
class Ranking:
    partner: dict | None  # rank, points, updates (None: no points yet)
    partners_ranked: int
    own_reps: list[dict]  # rank (across partners), rep_name, rep_email, points, updates
    stack: list[dict]  # rank, rep_name, partner_name, points, own


def ranking(ctx: Lifecycle, partner_id: str) -> Ranking:
    board = leaderboard(ctx.store, ctx.partners)
    mine = board.partners[board.partners["partner_id"] == partner_id].to_dict("records")
    shown = ctx.settings.portal.other_partners_reps == "shown"
    stack = []
    for r in board.reps.to_dict("records"):
        own = r["partner_id"] == partner_id
        stack.append({"rank": int(r["rank"]), "points": int(r["points"]), "own": own,
                      "rep_name": r["rep_name"] if own or shown else ANONYMOUS,
                      "partner_name": r["partner_name"] if own or shown else ""})
    own_reps = [{"rank": int(r["rank"]), "rep_name": r["rep_name"], "rep_email": r["rep_email"],
                 "points": int(r["points"]), "updates": int(r["updates"])}
                for r in board.reps.to_dict("records") if r["partner_id"] == partner_id]
    partner = {"rank": int(mine[0]["rank"]), "points": int(mine[0]["points"]),
               "updates": int(mine[0]["updates"])} if mine else None
    return Ranking(partner, len(board.partners), own_reps, stack)
