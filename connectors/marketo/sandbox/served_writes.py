"""What each write endpoint applied, read off its request and its per-record results, into the instance's
served-write counts (connectors/sandbox_writes.py). Only records the answer reports as written count: a
skipped record wrote nothing. The objects and record ids are listed in MarketoSandbox.write_counts()."""

from __future__ import annotations

from typing import Any

from leadsync.connectors.marketo.sandbox.fields import LeadSchema
from leadsync.connectors.sandbox_writes import WriteCounts

WRITTEN = ("created", "updated", "deleted", "added", "removed")


def _items(body: Any) -> list:
    items = body.get("input") if isinstance(body, dict) else None
    return items if isinstance(items, list) else []


def lead_sync(writes: WriteCounts, schema: LeadSchema, body: Any, results: list[dict]) -> None:
    """Sync Leads: each field the input record gave (by its API name), on the lead the result names."""
    for item, result in zip(_items(body), results, strict=False):
        if result.get("status") not in WRITTEN or not isinstance(item, dict):
            continue
        fields = [spec.name for spec in map(schema.get, map(str, item)) if spec is not None and spec.name != "id"]
        writes.add("lead", result["id"], fields)


def by_status(writes: WriteCounts, object_name: str, field: str, results: list[dict], record_key: str = "id",
              prefix: object = None) -> None:
    """One field per written result (deleted leads, list adds and removes, program member changes)."""
    for result in results:
        if result.get("status") in WRITTEN and result.get(record_key) is not None:
            record = result[record_key] if prefix is None else f"{prefix}:{result[record_key]}"
            writes.add(object_name, record, [field])


def object_sync(writes: WriteCounts, object_name: str, body: Any, results: list[dict]) -> None:
    """Sync of a Lead Database object (opportunity, custom object): each field given, on its marketoGUID."""
    items = _items(body)
    for result in results:
        seq = result.get("seq")
        if result.get("status") in WRITTEN and isinstance(seq, int) and seq < len(items):
            item = items[seq]
            fields = ["deleted"] if result["status"] == "deleted" else [str(k) for k in item if k != "marketoGUID"]
            writes.add(object_name, result["marketoGUID"], fields)


def custom_activities(writes: WriteCounts, items: list, results: list[dict]) -> None:
    """Add Custom Activities: an activity on a lead, its primary attribute and each attribute it carries."""
    for item, result in zip(items, results, strict=False):
        if result.get("status") != "added" or not isinstance(item, dict):
            continue
        names = [str(a.get("apiName") or a.get("name")) for a in item.get("attributes") or [] if isinstance(a, dict)]
        writes.add("activity", item.get("leadId"), [f"{item.get('activityTypeId')}.primaryAttributeValue",
                                                    *(f"{item.get('activityTypeId')}.{n}" for n in names)])
