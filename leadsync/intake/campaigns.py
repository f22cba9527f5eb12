"""An SFTP source's `campaign_columns` (leadsync/config/sftp_campaigns.py): the campaign each stored lead of a
batch names (its lead field `campaign`, as stored) kept with the columns that describe it, as the API sources
keep the campaigns they pull. `description`, `start_date` and `end_date` go to the campaign's own columns
(`campaigns`); custom fields to `campaign_field_values` with their label and `shared` flag. Emails, the
portal and reports then show an SFTP lead's campaign exactly as an API lead's.

A campaign named on several rows takes each field's value from the last row that has one; a column a file
lacks changes nothing (campaign columns are optional). Quarantined rows describe no campaign."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from leadsync.config.schema import SourceConfig
from leadsync.config.sftp_campaigns import STANDARD_CAMPAIGN_FIELDS, CampaignColumn
from leadsync.pull.campaign_fields import store_values
from leadsync.store import LeadStore, raw, tables


def store_batch_campaigns(store: LeadStore, conn: sa.Connection, cfg: SourceConfig, batch_id: str,
                          columns: dict[str, str], now: datetime) -> int:
    """Upsert the campaigns the batch's stored leads name, in the caller's transaction (after the leads);
    `columns` is the batch's header name → raw column. Returns the number of campaigns."""
    chosen: list[CampaignColumn] = list(getattr(cfg, "campaign_columns", None) or [])
    by_key = {name.strip().lower(): physical for name, physical in columns.items()}
    present = [(position, c, by_key[c.column.strip().lower()]) for position, c in enumerate(chosen)
               if c.column.strip().lower() in by_key]
    if not present:
        return 0
    rows = _campaign_cells(store, conn, cfg, batch_id, columns, [physical for _, _, physical in present])
    limit = cfg.cells.max_length
    described: dict[str, dict[int, str]] = {}
    for campaign, *cells in rows:
        name = (campaign or "").strip()
        if not name:
            continue
        held = described.setdefault(name, {})
        for i, cell in enumerate(cells):
            text = (cell or "").strip()[:limit]
            if text:
                held[i] = text  # the last row with a value wins
    if not described:
        return 0
    own = [(i, c) for i, (_, c, _) in enumerate(present) if c.field in STANDARD_CAMPAIGN_FIELDS and c.shared]
    campaigns = pd.DataFrame([{"source": cfg.name, "campaign_id": name, "name": name, "updated_at": now,
                               **{c.field: held.get(i) for i, c in own}} for name, held in described.items()])
    store.insert_frame(conn, tables.campaigns, campaigns, conflict="update",
                       update=["name", *(c.field for _, c in own), "updated_at"])
    custom = [(i, position, c) for i, (position, c, _) in enumerate(present)
              if not (c.field in STANDARD_CAMPAIGN_FIELDS and c.shared)]
    store_values(store, conn, pd.DataFrame([
        {"source": cfg.name, "campaign_id": name, "field": c.field, "position": position,
         "label": c.display_label, "value": held[i], "shared": c.shared, "updated_at": now}
        for name, held in described.items() for i, position, c in custom if i in held]))
    return len(described)


def _campaign_cells(store: LeadStore, conn: sa.Connection, cfg: SourceConfig, batch_id: str,
                    columns: dict[str, str], physical: list[str]) -> Iterator[tuple]:
    """(campaign, cell of each `physical` raw column) per stored lead of the batch naming a campaign, in row
    order: the leads' campaigns joined to their raw rows by row number, in Arrow (raw rows are read through
    raw.py, which knows where a batch lies). Only the campaign columns are read; tuples are made a slice at a
    time."""
    l = tables.leads
    query = (sa.select(l.c.row_number, l.c.campaign)
             .where(l.c.source == cfg.name, l.c.batch_id == batch_id, l.c.campaign.is_not(None)))
    named = list(store.read_batches(conn, query))
    if not named or not sum(b.num_rows for b in named):
        return
    leads = pa.Table.from_batches(named).cast(pa.schema([("row_number", pa.int64()), ("campaign", pa.string())]))
    names = {p: n for n, p in columns.items()}
    wanted = list(dict.fromkeys(names[p] for p in physical))
    read = list(raw.read_batch(store, conn, cfg.name, batch_id, wanted, 100_000))
    if not read:
        return
    cells = pa.Table.from_batches(read)
    cells = cells.set_column(0, "row_number", pc.cast(cells.column(0), pa.int64()))
    joined = leads.join(cells, "row_number", join_type="inner").sort_by("row_number")
    for part in joined.select(["campaign", *physical]).to_batches(max_chunksize=50_000):
        yield from zip(*(column.to_pylist() for column in part.columns), strict=True)
