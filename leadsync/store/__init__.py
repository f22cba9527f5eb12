"""The lead store: SQLAlchemy over a DuckDB file by default, Postgres for scale-out."""

from leadsync.store import tables
from leadsync.store.engine import LeadStore, default_store_url

__all__ = ["LeadStore", "default_store_url", "tables"]
