"""Source-system connectors: clients and sandbox servers. No Dagster here."""
