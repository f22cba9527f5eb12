"""The lead store: SQLAlchemy over a DuckDB file by default, Postgres for scale-out."""

# The lifecycle's tables live with the lifecycle; importing them registers them on the same metadata,
# so every store (DuckDB or Postgres) has them from the start.
from leadsync.lifecycle import tables as lifecycle_tables  # noqa: F401
from leadsync.store import (
    raw,  # noqa: F401  (registers raw_columns)
    tables,
)
from leadsync.store.engine import LeadStore, default_store_url

__all__ = ["LeadStore", "default_store_url", "tables"]

# Tables kept by the write-back and the API pull (records created in a source, campaign field values) register
# themselves on the same metadata when imported; imported here, after LeadStore, since they import it.
from leadsync.pull import campaign_fields as _campaign_fields  # noqa: F401
from leadsync.writeback import records_created as _records_created  # noqa: F401
