"""Write-back of lead fields (Sync Leads, updateOnly by lead id) and of opportunities (opportunities plus
roles linking the lead, or one custom object). One result per input row: Marketo's per-record `skipped`
reasons come back as `code: message`; a whole request that fails (configuration, quota, retries spent)
raises, and every write is an upsert, so sending the rows again is harmless."""

from __future__ import annotations

from typing import Any

import pandas as pd

from leadsync.connectors.api_client import ApiError
from leadsync.connectors.marketo.source.client import MarketoClient
from leadsync.connectors.marketo.source.errors import record_error
from leadsync.connectors.marketo.source.values import MISSING, json_value, lead_id, results, rounds

BATCH = 300  # records per Marketo write call
Outcome = tuple[bool, str | None]
OK: Outcome = (True, None)


def sync(client: MarketoClient, path: str, body: dict[str, Any], items: list[dict]) -> list[Outcome]:
    """POST `items` in batches; the per-record outcome of each, in order."""
    outcomes: list[Outcome] = []
    for start in range(0, len(items), BATCH):
        chunk = items[start:start + BATCH]
        answer = client.post(path, {**body, "input": chunk}).get("result") or []
        if len(answer) != len(chunk):
            raise ApiError(f"Marketo POST {path}: {len(answer)} results for {len(chunk)} records")
        outcomes += [OK if item.get("status") in ("created", "updated", "added") else (False, record_error(item))
                     for item in answer]
    return outcomes


def write_records(client: MarketoClient, updates: pd.DataFrame) -> pd.DataFrame:
    """`key`, `record_id` (the Marketo lead id) and one column per lead field to set; an empty cell leaves
    the field alone."""
    fields = [c for c in updates.columns if c not in ("key", "record_id")]
    outcomes: list[Outcome | None] = [None] * len(updates)
    items, slots = [], []
    for position, row in enumerate(updates.itertuples(index=False)):
        values = dict(zip(updates.columns, row, strict=True))
        lead = lead_id(values.get("record_id"))
        if lead is None:
            outcomes[position] = (False, f"1003: record_id {values.get('record_id')!r} is not a Marketo lead id")
            continue
        item = {"id": lead}
        for name in fields:
            value = json_value(values[name])
            if value is not MISSING:
                item[name] = value
        if len(item) == 1:
            outcomes[position] = OK  # nothing to set
            continue
        items.append(item)
        slots.append(position)
    sent = sync(client, "/rest/v1/leads.json", {"action": "updateOnly", "lookupField": "id"}, items)
    for position, outcome in zip(slots, sent, strict=True):
        outcomes[position] = outcome
    return results(list(updates["key"]), outcomes)  # type: ignore[arg-type]


def write_opportunities(client: MarketoClient, opportunities: pd.DataFrame) -> pd.DataFrame:
    """OPPORTUNITY_COLUMNS upserted by external_id: Marketo opportunities plus a role linking the lead
    (opportunity mode), or one custom object record linked to the lead (custom_object mode)."""
    settings = client.settings
    mapping = settings.opportunity_fields
    rows = [dict(zip(opportunities.columns, r, strict=True)) for r in opportunities.itertuples(index=False)]
    outcomes: list[Outcome] = [OK] * len(rows)
    items: dict[int, dict] = {}
    for position, row in enumerate(rows):
        item = {field: json_value(row.get(column)) for column, field in mapping.items()}
        item = {k: v for k, v in item.items() if v is not MISSING}
        if mapping["external_id"] not in item:
            outcomes[position] = (False, "1003: external_id is empty")
            continue
        if settings.opportunity_mode == "custom_object":
            lead = lead_id(row.get("record_id"))
            if lead is None:
                outcomes[position] = (False, f"1003: record_id {row.get('record_id')!r} is not a Marketo lead id")
                continue
            item[settings.custom_object_lead_field] = lead
        items[position] = item
    path = ("/rest/v1/opportunities.json" if settings.opportunity_mode == "opportunity"
            else f"/rest/v1/customobjects/{settings.custom_object_name}.json")
    upsert = {"action": "createOrUpdate", "dedupeBy": "dedupeFields"}
    positions = list(items)
    for group in rounds([str(items[p][mapping["external_id"]]).lower() for p in positions]):
        chosen = [positions[i] for i in group]
        for position, outcome in zip(chosen, sync(client, path, upsert, [items[p] for p in chosen]), strict=True):
            outcomes[position] = outcome
    if settings.opportunity_mode == "opportunity":
        _link_leads(client, rows, items, outcomes)
    return results([row.get("key") for row in rows], outcomes)


def _link_leads(client: MarketoClient, rows: list[dict], items: dict[int, dict], outcomes: list[Outcome]) -> None:
    """A role (externalOpportunityId, leadId, role) for each opportunity written with a record_id; the
    role's dedupe fields are all three, so writing it again updates it."""
    external = client.settings.opportunity_fields["external_id"]
    roles: dict[tuple, list[int]] = {}
    for position, item in items.items():
        if not outcomes[position][0] or json_value(rows[position].get("record_id")) is MISSING:
            continue
        lead = lead_id(rows[position].get("record_id"))
        if lead is None:
            reason = (f"1003: record_id {rows[position].get('record_id')!r} is not a Marketo lead id (the "
                      f"opportunity was written, its role was not)")
            outcomes[position] = (False, reason)
            continue
        roles.setdefault((str(item[external]), lead), []).append(position)
    if not roles:
        return
    role = client.settings.opportunity_role
    inputs = [{"externalOpportunityId": ext, "leadId": lead, "role": role} for ext, lead in roles]
    sent = sync(client, "/rest/v1/opportunities/roles.json", {"action": "createOrUpdate", "dedupeBy": "dedupeFields"},
                inputs)
    for positions, (ok, error) in zip(roles.values(), sent, strict=True):
        for position in positions:
            if not ok:
                outcomes[position] = (False, f"{error} (the opportunity was written, its lead role was not)")
