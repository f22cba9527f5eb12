"""Creating a record in an API source from leadsync: a partner's registration (lifecycle/registration.py
queues it) or any lead that exists in leadsync only, e.g. one entered by hand (`queue_new_record`).

The request is an outbox event like every other writeback (kind `registration` or `new_record`), so it is
sent by the source's sink (api_sink.py) with the same guarantees: bound to a batch, sent, its result
recorded, a refusal retried next run. Its payload holds `fields` (lead field → value, named as leadsync names
them) and the partner; `creation_rows` turns those into the vendor's columns through the source's field
mapping (`fields:` column ↔ field) and the writeback mapping (`writeback.fields`: distribution status,
partner name/id, ...). The record is keyed by `record_key` (the registration id; a new lead's id): the
connector stores it in the vendor's lead key field and never makes a second record for it.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from leadsync.config.schema import ApiSource
from leadsync.store import tables
from leadsync.store.engine import hold_section
from leadsync.writeback.events import outbox_row, queue_event
from leadsync.writeback.outbox import pending_events, source_top

CREATE_KINDS = ("registration", "new_record")
# What a created record is told of leadsync's side, through `writeback.fields` (a registration's `reason` is
# why it was registered, not a rejection reason, so it is not among them)
CREATE_WRITEBACK = ("distribution_status", "partner_name", "partner_id", "decided_at")


def queue_new_record(conn: sa.Connection, source: str, lead_id: str, fields: dict, now: datetime,
                     partner_id: str | None = None, partner_name: str | None = None,
                     distribution_status: str | None = None, actor: str | None = None) -> str:
    """Ask the sink of `source` to create a record for lead `lead_id` (a lead leadsync holds but the source
    does not). `fields`: lead field → value (leadsync's names: email, first_name, company...). The record is
    keyed by the lead id; its id lands in `source_records_created` and later writebacks of the lead go to
    it. Returns the event id (deterministic: queuing the same lead again is refused by the outbox key)."""
    event_id = new_record_event_id(source, lead_id)
    payload = _new_record_payload(lead_id, fields, partner_id, partner_name, distribution_status, actor)
    queue_event(conn, event_id, source, lead_id, "new_record", payload, now)
    return event_id


def new_record_event_id(source: str, lead_id: str) -> str:
    return f"new_record:{source}:{lead_id}"


def _new_record_payload(lead_id: str, fields: dict, partner_id: str | None, partner_name: str | None,
                        distribution_status: str | None, actor: str | None) -> dict:
    return {"record_key": lead_id, "fields": {k: v for k, v in fields.items() if v is not None},
            "partner_id": partner_id, "partner_name": partner_name,
            "distribution_status": distribution_status, "actor": actor}


def refresh_new_record(conn: sa.Connection, source: str, lead_id: str, fields: dict, now: datetime,
                       actor: str | None = None) -> bool:
    """The lead's queued creation (queue_new_record, without partner or status) carries `fields` from now on,
    e.g. a lead entered again before its record was made, after the source refused the first values. Only an
    event still pending is changed (not one bound to a batch being sent, whose resend must be the same);
    True when it was."""
    o = tables.writeback_outbox
    event_id = new_record_event_id(source, lead_id)
    row = outbox_row(event_id, source, lead_id, "new_record",
                     _new_record_payload(lead_id, fields, None, None, None, actor), now)
    hold_section(conn, f"outbox:{source}")  # no batch is bound between reading the top and the update
    pending = sa.select(pending_events(source, source_top(conn, source)).subquery().c.event_id)
    done = conn.execute(sa.update(o).where(o.c.event_id == event_id, o.c.event_id.in_(pending))
                        .values(payload=row["payload"]))
    return bool(done.rowcount)


def record_key(kind: str, lead_id: str, payload: dict) -> str:
    """The key a creation is made idempotent by: the registration id, the lead id."""
    return str(payload.get("record_key") or payload.get("registration_id") or lead_id)


def creation_rows(cfg: ApiSource, events: pd.DataFrame, payloads: list[dict]) -> pd.DataFrame:
    """One row per creation event: `key` and the vendor's columns. Lead fields go through the source's field
    mapping (a field it does not map is not sent); partner, status and reason through `writeback.fields`."""
    to_column = {m.field: m.column for m in cfg.fields}
    writeback = cfg.writeback
    rows = []
    for (_, event), payload in zip(events.iterrows(), payloads, strict=True):
        row = {"key": record_key(event["kind"], event["lead_id"], payload)}
        for name, value in (payload.get("fields") or {}).items():
            if name in to_column and value not in (None, ""):
                row[to_column[name]] = value
        for name, column in writeback.fields.items():
            value = payload.get(name) if name in CREATE_WRITEBACK else None
            if name == "distribution_status" and isinstance(value, str):
                value = writeback.distribution_status_values.get(value, value)
            if value not in (None, ""):
                row[column] = value
        rows.append(row)
    return pd.DataFrame(rows).astype(object)
