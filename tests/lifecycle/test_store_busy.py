"""The partner web app while the store is locked by another (real) process: a click gets 503 with Retry-After and
a short page saying the service is busy (no traceback, no path or PID for the partner; those go to the log),
the API a JSON error; once the lock is gone the same link works."""

import logging

import httpx
import pandas as pd
import pytest
from store_holder import duckdb_path, held

from leadsync.lifecycle.delivery import deliver
from leadsync.lifecycle.links import issue_api_key


@pytest.fixture
def http():
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


def test_a_locked_store_gets_a_busy_page_with_retry_after_then_the_link_works(served, http, monkeypatch, caplog):
    monkeypatch.setenv("LEADSYNC_STORE_WAIT", "0.3")
    (lead,) = served.add_leads([{"first_name": "Ada", "last_name": "Lovelace", "company": "Engines", "country": "US"}])
    now = pd.Timestamp.now(tz="UTC").to_pydatetime()
    deliver(served.ctx, now)
    url = served.inbox.messages[-1].link("accept")
    key = issue_api_key(served.ctx, "north", now)

    with held(duckdb_path(served.store.url)) as holder, caplog.at_level(logging.WARNING, "leadsync.lifecycle.web"):
        page = http.get(url)
        assert page.status_code == 503 and page.headers["Retry-After"] == "30"
        assert page.headers["content-type"].startswith("text/html")
        assert "The lead service is busy right now. Please try again in a minute: your link still works." in page.text
        assert "Traceback" not in page.text and str(holder.pid) not in page.text and "duckdb" not in page.text
        api = http.post(f"{served.base_url}/api/v1/updates", headers={"Authorization": f"Bearer {key}"},
                        json={"updates": [{"lead_id": lead, "sales_status": "Contacted"}]})
        assert api.status_code == 503 and api.headers["Retry-After"] == "30"
        assert api.json() == {"error": "The lead store is busy; try again in 30 seconds. Nothing was applied."}
    logged = [r.getMessage() for r in caplog.records]
    assert any(f"is locked by process {holder.pid}" in m and "GET /lead/accept" in m for m in logged)

    again = http.get(url)
    assert again.status_code == 200 and "Accept this lead" in again.text
