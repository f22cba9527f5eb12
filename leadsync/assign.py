"""Route a source's unassigned leads and record each decision with its writeback event, atomically."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from leadsync.config.schema import PartnersConfig, SourceConfig
from leadsync.intake import leads_frame
from leadsync.pull.raw_batches import rows_as_json
from leadsync.routing.engine import route
from leadsync.store import LeadStore, tables

STATUS_LABELS = {"assigned": "Assigned", "unassigned": "Not Routed", "needs_review": "Needs Review"}


@dataclass
class RoutingReport:
    decided: int = 0
    per_partner: Counter = field(default_factory=Counter)
    unassigned: int = 0
    needs_review: int = 0
    preview: pd.DataFrame | None = None


def route_new_leads(cfg: SourceConfig, partners: PartnersConfig, store: LeadStore, now: datetime) -> RoutingReport:
    report = RoutingReport()
    with store.begin() as conn:
        not_yet = ~sa.exists().where(tables.assignments.c.lead_id == tables.leads.c.lead_id)
        leads = leads_frame(store, conn, cfg, not_yet)
        if leads.empty:
            return report
        decisions = route(leads, partners, cfg)
        decisions["source"] = cfg.name
        decisions["decided_at"] = now
        decisions["version"] = 1
        store.insert_frame(conn, tables.assignments, decisions, conflict="nothing")
        store.insert_frame(conn, tables.writeback_outbox, outbox_events(decisions, partners, now), conflict="nothing")

    report.decided = len(decisions)
    assigned = decisions[decisions["status"] == "assigned"]
    names = {p.id: p.name for p in partners.partners}
    report.per_partner = Counter(names[p] for p in assigned["partner_id"])
    report.unassigned = int((decisions["status"] == "unassigned").sum())
    report.needs_review = int((decisions["status"] == "needs_review").sum())
    report.preview = decisions.head(10)[["lead_id", "status", "partner_id", "reason"]]
    return report


def outbox_events(decisions: pd.DataFrame, partners: PartnersConfig, now: datetime) -> pd.DataFrame:
    """One distribution_status event per decision; its id is derived from the decision, so recording it
    twice is impossible."""
    names = {p.id: p.name for p in partners.partners}
    payload = pd.DataFrame({
        "distribution_status": decisions["status"].map(STATUS_LABELS),
        "partner_id": decisions["partner_id"],
        "partner_name": decisions["partner_id"].map(names),
        "reason": decisions["reason"],
        "decided_at": now.isoformat(),
    })
    return pd.DataFrame({
        "event_id": decisions["lead_id"] + ":distribution_status:" + decisions["version"].astype(str),
        "source": decisions["source"],
        "lead_id": decisions["lead_id"],
        "kind": "distribution_status",
        "payload": rows_as_json(payload.reset_index(drop=True)),
        "created_at": now,
        "state": "pending",
        "batch_id": None,
    })
