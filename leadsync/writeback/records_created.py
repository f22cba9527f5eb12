"""Records leadsync created in an API source (a partner's registration, a lead entered by hand), one row
each: what it stands for, who it is for, and the id the vendor gave it. Append-only, keyed by (source, key):
a batch sent again after a crash records nothing twice.

The table is registered on the store's metadata (so `LeadStore` creates it with the others once this module
is imported) and created on first use otherwise (`ensure_table`)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from leadsync.store import LeadStore
from leadsync.store.tables import TS, metadata

source_records_created = sa.Table(
    "source_records_created",
    metadata,
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("key", sa.String, primary_key=True),  # leadsync's key, in the vendor's lead key field
    sa.Column("kind", sa.String, nullable=False),  # registration | new_record (outbox kinds)
    sa.Column("lead_id", sa.String, nullable=False),  # the registration id, or the lead's id
    sa.Column("partner_id", sa.String),
    sa.Column("record_id", sa.String, nullable=False),  # the vendor's id of the record
    sa.Column("event_id", sa.String, nullable=False),  # the outbox event that created it
    sa.Column("created_at", TS, nullable=False),
)

COLUMNS = [c.name for c in source_records_created.c]


def ensure_table(store: LeadStore) -> None:
    with store.begin() as conn:
        source_records_created.create(conn, checkfirst=True)


def record_created(store: LeadStore, rows: pd.DataFrame, now: datetime) -> None:
    """`rows`: source, key, kind, lead_id, partner_id, record_id, event_id (one per record created)."""
    if rows.empty:
        return
    with store.begin() as conn:
        store.insert_frame(conn, source_records_created, rows.assign(created_at=now)[COLUMNS], conflict="nothing")


def created_records(source: str | None = None) -> sa.Select:
    """source, key, kind, lead_id, partner_id, record_id, created_at of the records leadsync created."""
    t = source_records_created
    query = sa.select(t.c.source, t.c.key, t.c.kind, t.c.lead_id, t.c.partner_id, t.c.record_id, t.c.created_at)
    return query.where(t.c.source == source) if source is not None else query
