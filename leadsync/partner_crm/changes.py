"""The partner's changes in its CRM back into leadsync, as the very lifecycle events the partner-response app
records (so the writeback carries them to the supplier's source):

- the CRM status → our sales status (`crm.status_map` over the connector's defaults; a converted lead is
  Converted Opportunity) → `sales_status` event (and `closed` when it closes the lead);
- the owner (name, email) → `rep` event, once it is someone else than the owner leadsync gave the lead
  (no rep email is sent: the CRM told the rep);
- conversion → the lead's opportunity with the CRM opportunity's name, stage (`crm.stage_map`), amount and
  close date; later changes to that opportunity → `opportunity` events.

Incremental: each pull reads what changed since the partner's watermark (minus LOOK_BACK, since the CRM's
clock and commit order are not ours); reading a change twice adds nothing, because every step compares
with what is recorded. The state read is kept in the ledger with the lead: a state that cannot be applied
(a status missing from the map) keeps its reason in `apply_error` and is applied again on every pull until
it can be, so fixing the YAML is enough. A change the lifecycle refuses (a status going backwards, a
closed lead changing) is kept as a note and not applied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from leadsync.connectors.crm.contract import CrmLeadState, CrmOpportunity, PartnerCrm
from leadsync.config.partners import Partner
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.events import LifecycleError, held_lead
from leadsync.lifecycle.lead_view import lead_view
from leadsync.lifecycle.opportunities import current_opportunity, parse_fields, update_opportunity
from leadsync.lifecycle.reps import assign_rep
from leadsync.lifecycle.status import CONVERTED, SALES_STATUSES, set_sales_status
from leadsync.partner_crm.kinds import kind_of
from leadsync.partner_crm.outcome import PartnerOutcome
from leadsync.partner_crm.tables import partner_crm_leads as ledger
from leadsync.partner_crm.tables import partner_crm_sync as sync
from leadsync.partner_crm.values import normalise, sales_status_for, stage_for

LOOK_BACK = timedelta(minutes=5)
CHUNK = 500


class ApplyProblem(ValueError):
    """A CRM state leadsync cannot turn into events until its configuration changes (named in the message)."""


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def watermark(ctx: Lifecycle, partner_id: str) -> datetime | None:
    with ctx.store.begin() as conn:
        found = conn.execute(sa.select(sync.c.watermark).where(sync.c.partner_id == partner_id)).scalars().all()
    return found[0] if found else None


def _state_columns(state: CrmLeadState) -> dict:
    opp = state.opportunity
    return {"crm_status": state.status, "crm_owner_name": state.owner_name, "crm_owner_email": state.owner_email,
            "crm_converted": state.converted, "crm_modified_at": state.modified_at,
            "crm_opportunity": json.dumps({"record_id": opp.record_id, "name": opp.name, "stage": opp.stage,
                                           "amount": opp.amount, "close_date": opp.close_date.isoformat()
                                           if opp.close_date else None}) if opp else None}


def _state_from_row(row: dict) -> CrmLeadState:
    opp = json.loads(row["crm_opportunity"]) if row["crm_opportunity"] else None
    return CrmLeadState(
        external_id=row["external_id"], record_id=row["record_id"] or "", status=row["crm_status"],
        owner_name=row["crm_owner_name"], owner_email=row["crm_owner_email"], converted=bool(row["crm_converted"]),
        opportunity=CrmOpportunity(opp["record_id"], opp["name"], opp["stage"], opp["amount"],
                                   date.fromisoformat(opp["close_date"]) if opp["close_date"] else None)
        if opp else None,
        modified_at=row["crm_modified_at"])


def pull_changes(ctx: Lifecycle, partner: Partner, crm: PartnerCrm, now: datetime, outcome: PartnerOutcome) -> None:
    """Read what changed in the partner's CRM since its watermark, apply it, move the watermark; then apply
    again the states an earlier pull could not."""
    mark = watermark(ctx, partner.id)
    states = crm.changed_leads(mark - LOOK_BACK if mark else None)
    outcome.changes_read = len(states)
    by_external: dict[str, CrmLeadState] = {}
    for state in states:  # oldest first: the latest state of a lead wins
        by_external[state.external_id] = state
    rows: dict[str, dict] = {}
    with ctx.store.begin() as conn:
        for chunk in _chunks(sorted(by_external)):
            for row in conn.execute(sa.select(ledger).where(
                    ledger.c.partner_id == partner.id, ledger.c.external_id.in_(chunk))).mappings().all():
                rows[row["external_id"]] = dict(row)
        retry = [dict(r) for r in conn.execute(sa.select(ledger).where(
            ledger.c.partner_id == partner.id, ledger.c.state == "delivered", ledger.c.apply_error.is_not(None),
            ledger.c.crm_modified_at.is_not(None))).mappings().all() if r["external_id"] not in by_external]
    for external_id, state in by_external.items():
        row = rows.get(external_id)
        if row is not None:  # else a lead leadsync did not create for this partner (another tool's id)
            apply_state(ctx, partner, row, state, now, outcome)
    for row in retry:
        apply_state(ctx, partner, row, _state_from_row(row), now, outcome)
    newest = max((s.modified_at for s in states), default=None)
    with ctx.store.begin() as conn:
        _save_watermark(conn, partner.id, max(filter(None, [mark, newest]), default=None), now)


def _save_watermark(conn: sa.Connection, partner_id: str, value: datetime | None, now: datetime) -> None:
    exists = conn.execute(sa.select(sync.c.partner_id).where(sync.c.partner_id == partner_id)).all()
    if exists:
        conn.execute(sa.update(sync).where(sync.c.partner_id == partner_id).values(watermark=value, last_pull_at=now))
    else:
        conn.execute(sa.insert(sync).values(partner_id=partner_id, watermark=value, last_pull_at=now, failures=0))


def apply_state(ctx: Lifecycle, partner: Partner, row: dict, state: CrmLeadState, now: datetime,
                outcome: PartnerOutcome) -> None:
    """Store the CRM's state of one lead and turn what changed into lifecycle events, in one transaction;
    when it cannot be applied, store the state with the reason instead (nothing else changes)."""
    key = sa.and_(ledger.c.lead_id == row["lead_id"], ledger.c.partner_id == partner.id)
    columns = _state_columns(state)
    if row["state"] != "delivered":  # withdrawn: the partner's later edits (or our own mark) are not its to make
        with ctx.store.begin() as conn:
            conn.execute(sa.update(ledger).where(key).values(**columns, apply_error=None))
        return
    try:
        with ctx.store.begin() as conn:
            events, note = _apply(ctx, conn, partner, row, state, now)
            conn.execute(sa.update(ledger).where(key).values(**columns, apply_error=None, apply_note=note))
        outcome.events += events
        if note:
            outcome.notes.append(f"lead {row['lead_id']}: {note}")
    except (ApplyProblem, LifecycleError) as exc:  # the transaction above rolled back whole
        with ctx.store.begin() as conn:
            conn.execute(sa.update(ledger).where(key).values(**columns, apply_error=str(exc)[:2000]))
        outcome.fail("apply", f"lead {row['lead_id']}: {exc}", row["source"])


def _apply(ctx: Lifecycle, conn: sa.Connection, partner: Partner, row: dict, state: CrmLeadState,
           now: datetime) -> tuple[int, str | None]:
    """(events made, a note on what was not taken over)."""
    crm = partner.crm
    kind = kind_of(partner)
    lead_id, actor = row["lead_id"], f"crm:{partner.id}"
    try:
        _, held = held_lead(ctx, conn, lead_id, partner.id)
    except LifecycleError as exc:
        return 0, f"not applied: {exc}"
    events = 0
    owner = state.owner_email
    untouched = owner == (row["owner_email"] or None) and not held["rep_email"]
    if owner and owner != held["rep_email"] and not untouched:
        changed, _ = assign_rep(ctx, conn, lead_id, partner.id, state.owner_name or owner, owner, now, actor,
                                notify=False)
        events += int(changed)
    status_map = {**kind.default_status_map, **crm.status_map}
    target = sales_status_for(state.status, state.converted, status_map)
    if target is None:
        raise ApplyProblem(
            f"the CRM status '{state.status}' is not mapped to a sales status; add it to partners.yaml "
            f"partners[{partner.id}].crm.status_map (one of: {', '.join(SALES_STATUSES)}); mapped now: "
            f"{', '.join(sorted(status_map))}")
    opportunity = _opportunity_values(ctx, partner, state.opportunity)
    note = None
    if target != held["sales_status"]:
        view = lead_view(ctx, conn, lead_id)
        try:
            if set_sales_status(ctx, conn, lead_id, partner.id, target, now, actor, opportunity=opportunity,
                                default_opportunity_name=view.title if view else None):
                events += 1 + int(target == CONVERTED)
        except LifecycleError as exc:
            if exc.status_code != 409:
                raise ApplyProblem(str(exc)) from None
            note = f"CRM status '{state.status}' not taken over: {exc}"
    if opportunity and current_opportunity(conn, lead_id) is not None:
        changed = update_opportunity(ctx, conn, lead_id, partner.id, opportunity, now, actor)
        events += int(bool(changed))
    return events, note


def _opportunity_values(ctx: Lifecycle, partner: Partner, opp: CrmOpportunity | None) -> dict:
    if opp is None:
        return {}
    stages = ctx.settings.opportunities.stages
    stage_map = {**kind_of(partner).default_stage_map, **partner.crm.stage_map}
    stage = stage_for(opp.stage, stage_map, stages)
    if opp.stage and stage is None:
        mapped = {normalise(k) for k in stage_map}
        how = "maps it to" if normalise(opp.stage) in mapped else "has no entry for it, and it is not"
        raise ApplyProblem(
            f"the CRM opportunity stage '{opp.stage}' is not a lifecycle.yaml stage: partners.yaml "
            f"partners[{partner.id}].crm.stage_map {how} one of {', '.join(stages)}; add or fix the entry")
    try:
        return parse_fields(ctx, {"name": opp.name, "stage": stage, "amount": opp.amount,
                                  "close_date": opp.close_date})
    except LifecycleError as exc:
        raise ApplyProblem(f"the CRM opportunity {opp.record_id}: {exc}") from None
