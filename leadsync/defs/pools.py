"""Where a step runs and what it writes: the concurrency pools of leadsync's steps and the store's kind."""

from __future__ import annotations

from leadsync.scale.profile import current_profile

STORE_POOL = "lead_store"


def source_pool(source: str) -> str:
    """The concurrency pool of a source's steps. Embedded: `lead_store`, shared by every store writer (the
    DuckDB file has one writer). Scale: one pool per source, which the scale instance limits to one step at
    a time (dagster_home/scale/dagster.yaml): two runs that both touch a source (its sync and the all-sources
    job, say) never work on it at once, while different sources run side by side on the workers. The partner
    steps take `lead_store` under both profiles."""
    return f"leadsync_source_{source}" if current_profile() == "scale" else STORE_POOL


def store_kind() -> str:
    """The kind shown on every asset for the lead store it writes."""
    return "postgres" if current_profile() == "scale" else "duckdb"
