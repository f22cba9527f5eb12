"""Pulling records from sources into the raw store, with a ledger that makes every re-pull harmless."""
