"""What makes a lead unique within a source: its lead_id.

every_record: the lead is the record: <source>-<batch>-<row>, so re-mapping a batch finds the same ids.
key: the lead is the key (e.g. email, or email + campaign): records with the same normalised key
share one lead_id and a later record updates the lead.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from leadsync.config.schema import SourceConfig


def lead_identity(cfg: SourceConfig, batch_id: str, leads: pd.DataFrame,
                  record_ids: pd.Series | None = None) -> pd.DataFrame:
    """Return `leads` with lead_key and lead_id columns; within-batch duplicates of a key collapse to
    the last record (the newest information). The index (row numbers) is kept.

    For an API source, every_record means every source record (by its id) is one lead: a newer version
    of the record updates it."""
    out = leads.copy()
    if cfg.uniqueness.mode == "every_record" and record_ids is not None:
        key = record_ids.reindex(out.index).astype(str)
        out["lead_key"] = key.astype(object)
        out["lead_id"] = [f"{cfg.name}-{hashlib.sha1(k.encode()).hexdigest()[:20]}" for k in out["lead_key"]]
        return out[~out["lead_id"].duplicated(keep="last")]
    if cfg.uniqueness.mode == "every_record":
        rows = pd.Series(out.index, index=out.index).astype("int64").map("{:07d}".format)
        out["lead_key"] = batch_id + ":" + rows
        out["lead_id"] = f"{cfg.name}-{batch_id}-" + rows
        return out
    key = pd.Series("", index=out.index, dtype=object)
    for i, name in enumerate(cfg.uniqueness.key):
        part = out[name].astype("string").str.strip().str.lower().fillna("")
        key = part if i == 0 else key + "\x1f" + part
    out["lead_key"] = key.astype(object)
    out["lead_id"] = [f"{cfg.name}-{hashlib.sha1(k.encode()).hexdigest()[:20]}" for k in out["lead_key"]]
    return out[~out["lead_id"].duplicated(keep="last")]
