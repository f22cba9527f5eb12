"""Reading stored leads back: one column per mapped field, the non-standard ones expanded from `attributes`."""

from __future__ import annotations

import io

import pandas as pd
import sqlalchemy as sa

from leadsync.config.schema import SourceConfig
from leadsync.store import LeadStore, tables
from leadsync.store.tables import STANDARD_LEAD_FIELDS


def parse_payloads(payloads: pd.Series) -> pd.DataFrame:
    """JSON objects (one per row) into a table of values (pyarrow's reader: C++, multi-threaded)."""
    import pyarrow as pa
    import pyarrow.json as pajson

    if len(payloads) == 0:
        return pd.DataFrame(index=payloads.index)
    table = pajson.read_json(io.BytesIO("\n".join(payloads).encode("utf-8")),
                             read_options=pajson.ReadOptions(block_size=1 << 24))
    frame = table.to_pandas(types_mapper={pa.string(): pd.ArrowDtype(pa.string())}.get)
    return frame.astype(object).where(frame.notna(), None)


def leads_frame(store: LeadStore, conn: sa.Connection, cfg: SourceConfig, where,
                fields: list[str] | None = None) -> pd.DataFrame:
    """Stored leads of a source with attributes expanded back into columns, one per mapped field.
    `fields` limits the lead fields read (the bookkeeping columns always come)."""
    t = tables.leads
    if fields is None:
        cols, extra = list(t.c), [f.field for f in cfg.fields if f.field not in STANDARD_LEAD_FIELDS]
    else:
        wanted = set(fields)
        extra = [f.field for f in cfg.fields if f.field not in STANDARD_LEAD_FIELDS and f.field in wanted]
        # only what routing needs: a million leads' unused text columns would cost hundreds of MB
        keep = {"lead_id", "batch_id", "row_number", "received_at", "segregated", "attributes"}
        cols = [c for c in t.c if c.name in keep or (c.name in STANDARD_LEAD_FIELDS and c.name in wanted)]
        if not extra:
            cols = [c for c in cols if c.name != "attributes"]
    df = store.read_frame(conn, sa.select(*cols).where(t.c.source == cfg.name, where))
    if extra:
        present = df["attributes"].notna() & (df["attributes"] != "")
        attrs = parse_payloads(df.loc[present, "attributes"]) if present.any() else pd.DataFrame()
        attrs.index = df.index[present]
        for name in extra:
            df[name] = attrs[name].reindex(df.index) if name in attrs else None
    return df
