"""Leads into a partner's CRM, and withdrawals marked there.

A lead is created in the partner's CRM once the partner holds it (assignment `accepted`; auto-accept
partners accept on delivery, without an email). It is upserted by its external id, so a retry after a
refusal or a crash updates the record the first attempt made. The ledger (`partner_crm_leads`) records
each outcome: `delivered` (with the CRM's record id and owner), `failed` (with the CRM's reason; tried
again next run), `withdrawn`.

A lead the partner no longer holds (withdrawn by hand, reassigned) is marked in the CRM (status or flag,
per `crm.withdrawal`), never deleted.

The CRM is called outside store transactions: what to send is read in one, the outcome recorded in another.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from leadsync.connectors.crm.contract import CrmLead, CrmWriteResult, PartnerCrm
from leadsync.config.partners import Partner
from leadsync.intake import leads_frame
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.lead_view import lead_views
from leadsync.partner_crm.kinds import kind_of
from leadsync.partner_crm.outcome import PartnerOutcome
from leadsync.partner_crm.tables import partner_crm_leads as ledger
from leadsync.partner_crm.values import crm_values
from leadsync.store import tables

BATCH = 1000  # leads read, sent and recorded at a time
HELD = ("accepted", "closed")


def _chunks(items: list, size: int = BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _rows(conn: sa.Connection, query) -> list[dict]:
    return [dict(r) for r in conn.execute(query).mappings().all()]


def waiting_leads(ctx: Lifecycle, partner_id: str) -> list[dict]:
    """Leads the partner holds (accepted) that its CRM does not have yet: lead_id, source, version, rep
    email, and the ledger state (None, failed, withdrawn)."""
    a = tables.assignments
    query = (sa.select(a.c.lead_id, a.c.source, a.c.version, a.c.rep_email, ledger.c.state)
             .outerjoin(ledger, sa.and_(ledger.c.lead_id == a.c.lead_id, ledger.c.partner_id == a.c.partner_id))
             .where(a.c.partner_id == partner_id, a.c.status == "accepted",
                    sa.or_(ledger.c.state.is_(None), ledger.c.state != "delivered"))
             .order_by(a.c.decided_at, a.c.lead_id))
    with ctx.store.begin() as conn:
        return _rows(conn, query)


def _build(ctx: Lifecycle, partner: Partner, waiting: list[dict], outcome: PartnerOutcome) -> list[tuple[dict, CrmLead]]:
    crm = partner.crm
    kind = kind_of(partner)
    field_map = {**kind.default_fields, **crm.fields}
    by_source: dict[str, list[dict]] = {}
    for row in waiting:
        by_source.setdefault(row["source"], []).append(row)
    built = []
    with ctx.store.begin() as conn:
        views = lead_views(ctx, conn, [w["lead_id"] for w in waiting])
        for source, rows in by_source.items():
            cfg = ctx.sources.get(source)
            if cfg is None:
                outcome.fail("config", f"{len(rows)} lead(s) of source '{source}' wait: its mapping "
                                       f"(mappings/sources/{source}.yaml) is not loaded, so the fields "
                                       f"{partner.name} may see are unknown", source)
                continue
            frame = leads_frame(ctx.store, conn, cfg, tables.leads.c.lead_id.in_([r["lead_id"] for r in rows]))
            leads = {lead["lead_id"]: lead for lead in frame.astype(object).where(frame.notna(), None)
                     .to_dict("records")}
            for row in rows:
                lead = leads.get(row["lead_id"])
                if lead is None:
                    continue
                view = views.get(row["lead_id"])
                owners = []
                if crm.owner.use_rep and row["rep_email"] and partner.rep(row["rep_email"]):
                    owners.append(row["rep_email"])
                if crm.owner.default_email:
                    owners.append(crm.owner.default_email)
                built.append((row, CrmLead(
                    external_id=row["lead_id"],
                    values=crm_values(cfg, lead, field_map, kind.notes_field, kind.required_fields),
                    owner_emails=tuple(dict.fromkeys(owners)),
                    campaign=(view.campaign or {}).get("name") if view and crm.campaign.mode != "none" else None,
                    reopen=row["state"] == "withdrawn")))
    return built


def deliver_to_crm(ctx: Lifecycle, partner: Partner, crm: PartnerCrm, now: datetime, outcome: PartnerOutcome) -> None:
    """Create every lead the partner holds and its CRM lacks; record each outcome in the ledger."""
    waiting = waiting_leads(ctx, partner.id)
    for chunk in _chunks(waiting):
        built = _build(ctx, partner, chunk, outcome)
        if not built:
            continue
        results = crm.upsert_leads([lead for _, lead in built])
        with ctx.store.begin() as conn:
            for (row, _), result in zip(built, results, strict=True):
                _record_delivery(conn, partner, crm.kind, row, result, now)
                outcome.sources.add(row["source"])
                if result.ok:
                    outcome.delivered += 1
                    outcome.notes += [f"lead {row['lead_id']}: {n}" for n in result.notes]
                else:
                    outcome.fail("record", f"lead {row['lead_id']}: {partner.name}'s CRM refused it: {result.error}",
                                 row["source"])


def _record_delivery(conn: sa.Connection, partner: Partner, kind: str, row: dict, result: CrmWriteResult,
                     now: datetime) -> None:
    key = sa.and_(ledger.c.lead_id == row["lead_id"], ledger.c.partner_id == partner.id)
    before = _rows(conn, sa.select(ledger.c.attempts).where(key))
    values = {"source": row["source"], "crm": kind, "external_id": result.external_id,
              "assignment_version": int(row["version"]), "updated_at": now,
              "attempts": (before[0]["attempts"] if before else 0) + 1}
    if result.ok:
        values |= {"state": "delivered", "record_id": result.record_id, "owner_email": result.owner_email,
                   "delivered_at": now, "last_error": None, "withdrawn_at": None, "apply_error": None}
    else:
        values |= {"state": "failed", "last_error": (result.error or "refused")[:2000]}
    if before:
        conn.execute(sa.update(ledger).where(key).values(**values))
    else:
        conn.execute(sa.insert(ledger).values(lead_id=row["lead_id"], partner_id=partner.id, **values))


def leads_taken_back(ctx: Lifecycle, partner_id: str) -> list[dict]:
    """Leads in the partner's CRM the partner no longer holds: withdrawn, reassigned, or gone."""
    a = tables.assignments
    held = sa.and_(a.c.partner_id == partner_id, a.c.status.in_(HELD))
    query = (sa.select(ledger.c.lead_id, ledger.c.source, ledger.c.external_id)
             .outerjoin(a, a.c.lead_id == ledger.c.lead_id)
             .where(ledger.c.partner_id == partner_id, ledger.c.state == "delivered",
                    sa.or_(a.c.lead_id.is_(None), ~held))
             .order_by(ledger.c.lead_id))
    with ctx.store.begin() as conn:
        return _rows(conn, query)


def withdraw_from_crm(ctx: Lifecycle, partner: Partner, crm: PartnerCrm, now: datetime,
                      outcome: PartnerOutcome) -> None:
    """Mark in the CRM every lead taken back from the partner; the ledger row becomes `withdrawn`."""
    for chunk in _chunks(leads_taken_back(ctx, partner.id)):
        results = crm.mark_withdrawn([r["external_id"] for r in chunk])
        with ctx.store.begin() as conn:
            for row, result in zip(chunk, results, strict=True):
                key = sa.and_(ledger.c.lead_id == row["lead_id"], ledger.c.partner_id == partner.id)
                outcome.sources.add(row["source"])
                if result.ok:
                    conn.execute(sa.update(ledger).where(key).values(
                        state="withdrawn", withdrawn_at=now, updated_at=now, last_error=None))
                    outcome.withdrawn += 1
                    outcome.notes += [f"lead {row['lead_id']}: {n}" for n in result.notes]
                else:
                    conn.execute(sa.update(ledger).where(key).values(
                        updated_at=now, last_error=f"withdrawal not marked: {result.error}"[:2000]))
                    outcome.fail("record", f"lead {row['lead_id']}: {partner.name}'s CRM refused the withdrawal "
                                           f"mark: {result.error}", row["source"])


def ledger_frame(ctx: Lifecycle, partner_id: str | None = None) -> pd.DataFrame:
    query = sa.select(ledger)
    if partner_id:
        query = query.where(ledger.c.partner_id == partner_id)
    with ctx.store.begin() as conn:
        return ctx.store.read_frame(conn, query.order_by(ledger.c.partner_id, ledger.c.lead_id))
