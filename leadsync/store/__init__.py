"""The lead store: SQLAlchemy over a DuckDB file by default, Postgres for scale-out."""

from leadsync.store.engine import LeadStore, default_store_url
from leadsync.store import tables

__all__ = ["LeadStore", "default_store_url", "tables"]
