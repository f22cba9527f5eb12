"""Writeback events as outbox rows: the fields with a column of their own (store/tables.py OUTBOX_FIELDS) in
their columns, anything else the event carries as a JSON payload."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa

from leadsync.store import tables
from leadsync.store.tables import OUTBOX_FIELDS
from leadsync.writeback.lead_context import context_of
from leadsync.writeback.outbox import hold_outbox_order

# The fields every writeback event carries (those of a distribution-status event; see lifecycle/events.py).
CONTEXT_FIELDS = ("distribution_status", "partner_id", "partner_name", "rep_name", "rep_email", "reason", "decided_at")


def outbox_row(event_id: str, source: str, lead_id: str, kind: str, fields: dict, now: datetime) -> dict:
    row = {"event_id": event_id, "source": source, "lead_id": lead_id, "kind": kind, "created_at": now}
    extra = {}
    for key, value in fields.items():
        if key in OUTBOX_FIELDS:
            row[key] = value.isoformat() if isinstance(value, datetime) else value
        else:
            extra[key] = value
    row["payload"] = json.dumps(extra, default=str, sort_keys=True) if extra else None
    return row


def queue_event(conn: sa.Connection, event_id: str, source: str, lead_id: str, kind: str, fields: dict,
                now: datetime) -> None:
    """Queue one event (callers make its id deterministic and check it is new), with its lead's context."""
    hold_outbox_order(conn, [source])
    conn.execute(sa.insert(tables.writeback_outbox).values(**outbox_row(event_id, source, lead_id, kind, fields, now),
                                                           **context_of(conn, lead_id)))


def fields_of(row: Mapping) -> dict:
    """An outbox row's fields as one dict, as the event was queued: the distribution context (null or not),
    the other columns it set, and its payload's extra fields."""
    def present(value) -> bool:
        return value is not None and not (isinstance(value, float) and math.isnan(value))

    fields = {k: (row.get(k) if present(row.get(k)) else None) for k in CONTEXT_FIELDS}
    fields.update({k: row[k] for k in OUTBOX_FIELDS if k not in CONTEXT_FIELDS and present(row.get(k))})
    if row.get("payload"):
        fields.update(json.loads(row["payload"]))
    return fields
