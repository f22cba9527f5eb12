"""The campaign fields a source's YAML chooses (`pull.campaigns.fields`), pulled with the campaigns and kept
one row per campaign and field: its value as text, the label partners see and whether they may see it.

Other rooms read them through `campaign_fields` (a selectable) or `shared_campaign_fields` (per campaign, the
shared fields as (label, value) in the YAML's order): partner emails, the portal's lead page and reports show
a lead's campaign with them. The table is registered on the store's metadata and created on first use.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from leadsync.config import ConfigError
from leadsync.config.schema import ApiSource
from leadsync.store import LeadStore
from leadsync.store.tables import TS, metadata

campaign_field_values = sa.Table(
    "campaign_field_values",
    metadata,
    sa.Column("source", sa.String, primary_key=True),
    sa.Column("campaign_id", sa.String, primary_key=True),
    sa.Column("field", sa.String, primary_key=True),  # as the YAML names it
    sa.Column("position", sa.Integer, nullable=False),  # its place in the YAML's list
    sa.Column("label", sa.String, nullable=False),
    sa.Column("value", sa.Text),
    sa.Column("shared", sa.Boolean, nullable=False),
    sa.Column("updated_at", TS, nullable=False),
)


def _key(name: str) -> str:
    return name.lower().replace("_", "")


def chosen_values(cfg: ApiSource, campaigns: pd.DataFrame, file: Path, now: datetime) -> pd.DataFrame:
    """One row per campaign and chosen field. A chosen field the source's campaigns do not carry fails the
    pull with the field, the columns that exist and the file."""
    chosen = cfg.pull.campaigns.fields
    columns = {_key(c): c for c in campaigns.columns}
    missing = [f.field for f in chosen if _key(f.field) not in columns]
    if missing:
        raise ConfigError(file, [(f"pull.campaigns.fields: the {cfg.type} campaigns have no field {missing}; "
                                  f"the fields they carry: {sorted(campaigns.columns)}")])
    parts = []
    for position, f in enumerate(chosen):
        values = campaigns[columns[_key(f.field)]]
        parts.append(pd.DataFrame({
            "source": cfg.name, "campaign_id": campaigns["campaign_id"].astype(str), "field": f.field,
            "position": position, "label": f.label or f.field,
            "value": values.where(values.notna(), None).map(lambda v: None if v is None else str(v)),
            "shared": f.shared, "updated_at": now}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def ensure_table(store: LeadStore) -> None:
    with store.begin() as conn:
        campaign_field_values.create(conn, checkfirst=True)


def store_values(store: LeadStore, conn: sa.Connection, rows: pd.DataFrame) -> None:
    """Upsert the values in the caller's transaction (ensure_table first, in a transaction of its own)."""
    if rows.empty:
        return
    store.insert_frame(conn, campaign_field_values, rows, conflict="update",
                       update=["position", "label", "value", "shared", "updated_at"])


def campaign_fields(source: str | None = None, shared_only: bool = True) -> sa.Select:
    """source, campaign_id, field, label, value, shared of the chosen campaign fields, in the YAML's order."""
    t = campaign_field_values
    query = sa.select(t.c.source, t.c.campaign_id, t.c.field, t.c.label, t.c.value, t.c.shared)
    if source is not None:
        query = query.where(t.c.source == source)
    if shared_only:
        query = query.where(t.c.shared)
    return query.order_by(t.c.source, t.c.campaign_id, t.c.position)


def shared_campaign_fields(store: LeadStore, source: str, campaign_ids: Iterable[str]) -> dict[str, list[tuple]]:
    """campaign id → [(label, value), ...] of the fields partners may see, in the YAML's order."""
    ids = sorted({str(i) for i in campaign_ids if i is not None})
    if not ids:
        return {}
    ensure_table(store)
    with store.begin() as conn:
        frame = store.read_frame(conn, campaign_fields(source).where(campaign_field_values.c.campaign_id.in_(ids)))
    out: dict[str, list[tuple]] = {}
    for row in frame.itertuples(index=False):
        out.setdefault(row.campaign_id, []).append((row.label, row.value))
    return out
