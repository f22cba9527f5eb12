"""Leads leadsync creates in Marketo (a partner's registration, a lead entered by hand): Sync Leads with
action `createOnly` and the lead key field (`settings.lead_key_field`) as lookupField, so a key sent again,
after a lost answer or a crash, is skipped by Marketo ("1005 Lead already exists") instead of making a second
lead. The created (or already existing) lead's id is then read by the key (Get Leads by Filter Type)."""

from __future__ import annotations

import pandas as pd

from leadsync.connectors.marketo.source.client import MarketoClient
from leadsync.connectors.marketo.source.values import MISSING, json_value
from leadsync.connectors.marketo.source.writes import BATCH, sync
from leadsync.connectors.source_api import CREATE_RESULT_COLUMNS

ALREADY_EXISTS = "1005"


def create_records(client: MarketoClient, records: pd.DataFrame) -> pd.DataFrame:
    """`records`: `key` and one column per lead field (REST names). CREATE_RESULT_COLUMNS, in input order."""
    if "key" not in records.columns:
        raise ValueError("create_records: missing column 'key'")
    key_field = client.settings.lead_key_field
    columns = [c for c in records.columns if c != "key"]
    keys = [str(k).strip() if json_value(k) is not MISSING else "" for k in records["key"]]
    outcomes: list[tuple[bool, str | None]] = [(False, "no key to create the lead by")] * len(keys)
    items, slots, seen = [], [], set()
    for position, row in enumerate(records[columns].itertuples(index=False, name=None)):
        key = keys[position]
        if not key or key.lower() in seen:  # one call may not name a key twice; the later row shares the result
            continue
        seen.add(key.lower())
        item = {key_field: key}
        for name, value in zip(columns, row, strict=True):
            value = json_value(value)
            if value is not MISSING:
                item[name] = value
        items.append(item)
        slots.append(position)
    sent = sync(client, "/rest/v1/leads.json", {"action": "createOnly", "lookupField": key_field}, items)
    by_key = {}
    for position, (ok, error) in zip(slots, sent, strict=True):
        # a key that exists already was created by an earlier send of the same request: that lead is the one
        done = ok or str(error or "").startswith(ALREADY_EXISTS)
        by_key[keys[position].lower()] = (True, None) if done else (False, error)
    ids = _ids_by_key(client, key_field, [keys[p] for p in slots if by_key[keys[p].lower()][0]])
    record_ids: list[str | None] = []
    for position, key in enumerate(keys):
        if key:
            outcomes[position] = by_key[key.lower()]
        found = ids.get(key.lower()) if outcomes[position][0] else None
        if outcomes[position][0] and found is None:
            outcomes[position] = (False, f"created, but no lead holds {key_field} {key!r} when read back")
        record_ids.append(found)
    return pd.DataFrame({"key": list(records["key"]), "ok": [o for o, _ in outcomes],
                         "error": [e for _, e in outcomes], "record_id": record_ids}, columns=CREATE_RESULT_COLUMNS)


def _ids_by_key(client: MarketoClient, key_field: str, keys: list[str]) -> dict[str, str]:
    """lower-cased key → lead id (the lowest id when Marketo holds several: the first one created)."""
    found: dict[str, str] = {}
    for start in range(0, len(keys), BATCH):
        params = {"filterType": key_field, "filterValues": ",".join(keys[start:start + BATCH]),
                  "fields": f"id,{key_field}", "batchSize": BATCH}
        for page in client.pages("/rest/v1/leads.json", params, form=True):
            for lead in sorted(page.get("result") or [], key=lambda r: int(r["id"])):
                found.setdefault(str(lead.get(key_field) or "").lower(), str(lead["id"]))
    return found
