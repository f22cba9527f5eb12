"""Opportunities a partner created in its own CRM without a lead from leadsync: read on each partner-CRM
update run when the partner's `crm.crm_only_opportunities` is true (off by default: it reads every
opportunity of the partner's org, which the partner must agree to share), and kept in
`partner_crm_only_opportunities` for the Opportunity Summary's CRM-only class (leadsync/reports).

Incremental like the lead changes (changes.py): from the latest `modified_at` stored for the partner, minus
LOOK_BACK; reading a record again replaces its row, so nothing is counted twice."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from leadsync.connectors.crm.contract import CrmOnlyOpportunity, PartnerCrm
from leadsync.config.partners import Partner
from leadsync.lifecycle.context import Lifecycle
from leadsync.partner_crm.changes import LOOK_BACK
from leadsync.partner_crm.kinds import kind_of
from leadsync.partner_crm.outcome import PartnerOutcome
from leadsync.partner_crm.tables import partner_crm_only_opportunities as table
from leadsync.partner_crm.values import stage_for


def enabled(partner: Partner) -> bool:
    """Whether the partner's CRM block asks for its CRM-only opportunities (partners.yaml
    `crm.crm_only_opportunities`, false when the key is absent)."""
    return bool(partner.crm is not None and getattr(partner.crm, "crm_only_opportunities", False))


def since(ctx: Lifecycle, partner_id: str) -> datetime | None:
    with ctx.store.begin() as conn:
        latest = conn.execute(sa.select(sa.func.max(table.c.modified_at))
                              .where(table.c.partner_id == partner_id)).scalar()
    return latest - LOOK_BACK if latest else None


def pull_crm_only(ctx: Lifecycle, partner: Partner, crm: PartnerCrm, now: datetime, outcome: PartnerOutcome) -> int:
    """Read the partner's CRM-only opportunities changed since the last read and store them; how many."""
    found = crm.crm_only_opportunities(since(ctx, partner.id))
    if not found:
        return 0
    rows = [_row(ctx, partner, opp, now) for opp in found]
    ids = [r["record_id"] for r in rows]
    with ctx.store.begin() as conn:
        conn.execute(sa.delete(table).where(table.c.partner_id == partner.id, table.c.record_id.in_(ids)))
        conn.execute(sa.insert(table), rows)
    outcome.notes.append(f"{len(rows)} CRM-only opportunit{'y' if len(rows) == 1 else 'ies'} read")
    return len(rows)


def _row(ctx: Lifecycle, partner: Partner, opp: CrmOnlyOpportunity, now: datetime) -> dict:
    stage_map = {**kind_of(partner).default_stage_map, **partner.crm.stage_map}
    stage = stage_for(opp.stage, stage_map, ctx.settings.opportunities.stages) or opp.stage
    return {"partner_id": partner.id, "record_id": opp.record_id, "crm": partner.crm.type, "name": opp.name,
            "stage": stage, "amount": opp.amount, "currency": ctx.settings.opportunities.currency,
            "close_date": opp.close_date, "created_at": opp.created_at, "modified_at": opp.modified_at,
            "read_at": now}
