"""The unassigned and review queues, with the reason each lead waits, as `leadsync explain` words it
(leadsync/routing/explain.py): the routing step that left it there, the decision's own reason and, for a
lead held for review, the partners that could take it once the missing value is known."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from leadsync.routing.explain import STEP_TEXT
from leadsync.store import LeadStore, tables

QUEUES = {"unassigned": "Unassigned", "needs_review": "Needs review"}
QUEUE_COLUMNS = ("lead_id", "source", "email", "company", "country", "state", "lead_type", "campaign")


def waiting_reason(step: str | None, reason: str | None, candidates: str | None, status: str) -> str:
    """One sentence: why the lead waits in its queue."""
    said = STEP_TEXT.get(step or "", step or "routing")
    text = f"{said}: {reason}" if reason else said
    if candidates:
        label = "could go to" if status == "needs_review" else "candidates"
        text += f" ({label}: {candidates.replace(',', ', ')})"
    return text


def queue(store: LeadStore, status: str, limit: int) -> tuple[pd.DataFrame, int]:
    """The leads waiting in queue `status` (unassigned | needs_review), oldest decision first, at most `limit`;
    with the total in the queue."""
    if status not in QUEUES:
        raise ValueError(f"no queue '{status}'; queues: {', '.join(QUEUES)}")
    a, lead = tables.assignments, tables.leads
    with store.begin() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(a).where(a.c.status == status)).scalar_one()
        frame = store.read_frame(conn, sa.select(
            *(lead.c[c] for c in QUEUE_COLUMNS), a.c.step, a.c.reason, a.c.candidates, a.c.decided_at, a.c.status)
            .join(a, a.c.lead_id == lead.c.lead_id).where(a.c.status == status)
            .order_by(a.c.decided_at, a.c.lead_id).limit(limit))
    frame["waiting_because"] = [waiting_reason(r.step, r.reason, r.candidates, r.status)
                                for r in frame.itertuples()]
    return frame, total
