"""Pulling records from sources into raw_rows, with a ledger that makes every re-pull harmless."""
