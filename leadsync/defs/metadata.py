"""Helpers that turn reports into asset metadata shown in the Dagster UI."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import pandas as pd


def md_table(frame: pd.DataFrame, limit: int = 10) -> dg.MetadataValue:
    if frame is None or frame.empty:
        return dg.MetadataValue.md("_none_")
    shown = frame.head(limit).astype(object).where(frame.head(limit).notna(), "")
    return dg.MetadataValue.md(shown.to_markdown(index=False))


def md_counts(counts: Mapping[str, int], key: str, value: str = "count") -> dg.MetadataValue:
    if not counts:
        return dg.MetadataValue.md("_none_")
    frame = pd.DataFrame(sorted(counts.items(), key=lambda kv: -kv[1]), columns=[key, value])
    return dg.MetadataValue.md(frame.to_markdown(index=False))
