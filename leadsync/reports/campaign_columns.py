"""The shared campaign fields a source's YAML chooses (`pull.campaigns.fields`, leadsync/pull/campaign_fields.py)
as columns of a lead-by-lead report: one column per partner-facing label, `campaign: <label>`, holding the
value of the lead's campaign. A lead's campaign field holds the campaign's id or its name; either is matched
within the lead's source.

Only `shared` fields become columns: report files travel (a supplier forwards them to partners), and an
internal field must never reach a partner. Values are text; the export makes them inert (csv_safe)."""

from __future__ import annotations

import duckdb
import pandas as pd
import sqlalchemy as sa

from leadsync.pull.campaign_fields import campaign_field_values
from leadsync.reports.data import query
from leadsync.store import tables

PREFIX = "campaign: "
READS: dict[sa.Table, list[str]] = {
    campaign_field_values: ["source", "campaign_id", "label", "value", "shared", "position"],
    tables.campaigns: ["source", "campaign_id", "name"],
}

# (source, the text a lead's campaign field may hold: the campaign's id or name) → label, value, position
_SHARED = """
WITH shared AS (SELECT source, campaign_id, label, value, position FROM campaign_field_values WHERE shared),
known AS (SELECT DISTINCT source, campaign_id, campaign_id AS campaign FROM shared
          UNION SELECT source, campaign_id, trim(name) FROM campaigns WHERE nullif(trim(name), '') IS NOT NULL)
SELECT k.source, k.campaign, s.label, s.value, s.position
FROM shared s JOIN known k ON k.source = s.source AND k.campaign_id = s.campaign_id
ORDER BY s.position, s.label, k.source, k.campaign, s.campaign_id
"""


def with_campaign_columns(db: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (one row per lead, with `source` and `campaign`) with a `campaign: <label>` column per shared
    campaign field any of its leads' campaigns carries, in the YAML's order; empty where a lead's campaign
    has no such field. A frame whose campaigns carry none comes back as it is."""
    fields = query(db, _SHARED)
    if frame.empty or fields.empty:
        return frame
    fields["campaign"] = fields["campaign"].str.strip()
    # a campaign id equal to another campaign's name: the first of them (by the order above) wins
    fields = fields.drop_duplicates(["source", "campaign", "label"])
    labels = list(dict.fromkeys(fields["label"]))
    wide = fields.pivot(index=["source", "campaign"], columns="label", values="value")
    wide = wide.reindex(columns=labels).rename(columns=lambda label: f"{PREFIX}{label}").reset_index()
    keys = frame[["source"]].assign(campaign=frame["campaign"].astype("string").str.strip())
    joined = keys.merge(wide, on=["source", "campaign"], how="left")
    added = [c for c in joined.columns if c.startswith(PREFIX) and joined[c].notna().any()]
    if not added:
        return frame
    out = frame.copy()
    for col in added:
        out[col] = joined[col].astype(object).where(joined[col].notna(), None).to_numpy()
    return out
