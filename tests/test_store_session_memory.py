"""A store session can cap DuckDB's memory for the connection it keeps open (routing walks a whole store on one
connection; DuckDB caches what it touched up to its cap)."""

import pytest

from leadsync.store import LeadStore


def test_a_session_caps_duckdb_memory_while_it_is_open(duckdb_url):
    store = LeadStore(duckdb_url)
    with store.session(duckdb_memory_limit="200MB") as session, session.begin() as conn:
        capped = conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar_one()
    with store.begin() as conn:  # a later connection has the store's own cap again
        default = conn.exec_driver_sql("SELECT current_setting('memory_limit')").scalar_one()
    store.dispose()
    assert capped in ("190.7 MiB", "200.0 MB") and capped != default


def test_a_memory_cap_that_is_not_a_size_is_refused(duckdb_url):
    store = LeadStore(duckdb_url)
    with pytest.raises(ValueError, match="not a memory size"), store.session(duckdb_memory_limit="1GB; DROP") as s:
        with s.begin():
            pass
    store.dispose()
