"""Lead activities (the history leadsync shows with a lead): Get Lead Activities after a paging token."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.marketo.source.changes import MAX_TYPES_PER_CALL, paging_token
from leadsync.connectors.marketo.source.client import MarketoClient
from leadsync.connectors.marketo.source.records import parse_time, text

ACTIVITY_COLUMNS = ["record_id", "activity_id", "activity_type", "occurred_at", "detail", "campaign_id"]


def activity_types(client: MarketoClient) -> dict[int, str]:
    return {int(t["id"]): t["name"] for t in client.get("/rest/v1/activities/types.json").get("result") or []}


def activities(client: MarketoClient, since: datetime | None, types: list[str] | None) -> pd.DataFrame:
    """Activities at or after `since` (default: `history_days` ago) of `types` (names or ids; default
    `activity_type_ids`). `detail` is a JSON object: the primary attribute value and the attributes."""
    names = activity_types(client)
    ids = _resolve(types, names, client) if types else list(client.settings.activity_type_ids)
    start = parse_time(since) if since is not None else client.clock() - timedelta(
        days=client.settings.history_days)
    rows = []
    for first in range(0, len(ids), MAX_TYPES_PER_CALL):
        chunk = ",".join(str(i) for i in ids[first:first + MAX_TYPES_PER_CALL])
        token = paging_token(client, start)
        for body in client.pages("/rest/v1/activities.json",
                                 {"nextPageToken": token, "activityTypeIds": chunk, "batchSize": 300}):
            for item in body.get("result") or []:
                rows.append(_row(item, names))
    out = pd.DataFrame(rows, columns=ACTIVITY_COLUMNS, dtype=object)
    return out.sort_values("occurred_at", kind="stable", ignore_index=True)


def _resolve(types: list[str], names: dict[int, str], client: MarketoClient) -> list[int]:
    by_name = {name.lower(): type_id for type_id, name in names.items()}
    ids, unknown = [], []
    for wanted in types:
        raw = str(wanted).strip()
        type_id = int(raw) if raw.isdigit() else by_name.get(raw.lower())
        if type_id is None or type_id not in names:
            unknown.append(raw)
        else:
            ids.append(type_id)
    if unknown:
        raise ApiConfigError(f"Marketo at {client.settings.base_url} has no activity type "
                             f"{', '.join(map(repr, unknown))}; known types: {', '.join(sorted(by_name))}")
    return list(dict.fromkeys(ids))


def _row(item: dict, names: dict[int, str]) -> list[str | None]:
    attributes = {a.get("name") or a.get("apiName"): a.get("value") for a in item.get("attributes") or []}
    detail = {"primaryAttributeValue": item.get("primaryAttributeValue"), "attributes": attributes}
    type_id = int(item["activityTypeId"])
    return [text(item.get("leadId")), text(item.get("marketoGUID") or item.get("id")), names.get(type_id,
            str(type_id)), text(item.get("activityDate")), json.dumps(detail, sort_keys=True),
            text(item.get("campaignId"))]
