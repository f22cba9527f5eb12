"""Lead search over every mapped field of every source, internal-only fields (`shared: false`) included:
the supplier's own view, never shown to partners.

A field is a standard lead column (searched in SQL) or a custom one kept in the lead's `attributes` (narrowed
in SQL by a text match on the JSON, then matched exactly on the parsed value). Matching is a
case-insensitive substring."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import sqlalchemy as sa

from leadsync.config.schema import SourceConfig
from leadsync.intake import leads_frame
from leadsync.store import LeadStore, tables
from leadsync.store.tables import STANDARD_LEAD_FIELDS

ANY_FIELD = ""


def searchable_fields(sources: Mapping[str, SourceConfig]) -> list[tuple[str, bool]]:
    """(field, shared) of every mapped field across the sources, sorted; a field internal in any source is
    marked internal."""
    fields: dict[str, bool] = {}
    for cfg in sources.values():
        for f in cfg.fields:
            fields[f.field] = fields.get(f.field, True) and f.shared
    return sorted(fields.items())


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_leads(store: LeadStore, sources: Mapping[str, SourceConfig], text: str, field: str = ANY_FIELD,
                 limit: int = 200) -> pd.DataFrame:
    """Leads whose `field` (or, with ANY_FIELD, any mapped field) contains `text`, with their current status
    and partner; at most `limit`. ValueError for a field no source maps."""
    text = text.strip()
    known = {name for name, _ in searchable_fields(sources)}
    if field and field not in known:
        raise ValueError(f"no source maps a field '{field}'; fields: {', '.join(sorted(known))}")
    if not text:
        return pd.DataFrame()
    t, a = tables.leads, tables.assignments
    found: list[pd.DataFrame] = []
    with store.begin() as conn:
        for cfg in sources.values():
            names = [f.field for f in cfg.fields if not field or f.field == field]
            if not names:
                continue
            pattern = _like(text.lower())
            clauses = [sa.func.lower(sa.cast(t.c[n], sa.String)).like(pattern, escape="\\")
                       for n in names if n in STANDARD_LEAD_FIELDS]
            if any(n not in STANDARD_LEAD_FIELDS for n in names):
                clauses.append(sa.func.lower(t.c.attributes).like(pattern, escape="\\"))
            frame = leads_frame(store, conn, cfg, sa.or_(*clauses))
            if frame.empty:
                continue
            hit = pd.Series(False, index=frame.index)
            for n in names:
                if n in frame:
                    hit |= frame[n].astype("string").str.lower().str.contains(text.lower(), regex=False).fillna(False)
            found.append(frame[hit])
        result = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
        if result.empty:
            return result
        result = result.sort_values("received_at", ascending=False).head(limit)
        status = store.read_frame(conn, sa.select(a.c.lead_id, a.c.status, a.c.partner_id)
                                  .where(a.c.lead_id.in_(result["lead_id"].tolist())))
    return result.merge(status, on="lead_id", how="left").reset_index(drop=True)
