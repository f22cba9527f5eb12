"""A vendor outage that outlasts the retries ends the pull (or the writeback) with a message naming the
vendor and its endpoint, saying nothing was lost and where the next run resumes, with the same facts as
metadata; the watermark does not move, and once the vendor answers again the next run carries on."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from api_vendors import VENDORS, Vendor, api_source_yaml, started_vendor

from leadsync.connectors.api_client import SourceOutage
from leadsync import pipeline
from leadsync.config.loader import project_paths
from leadsync.store import LeadStore, tables
from leadsync.writeback.record_creation import queue_new_record
from leadsync.writeback.records_created import created_records

vendor = pytest.fixture(params=VENDORS, name="vendor")(started_vendor)
NAMES = {"salesforce": "Salesforce", "marketo": "Marketo", "eloqua": "Eloqua"}
FAST = {"attempts": 2, "initial_s": 0.01, "max_s": 0.02}


@pytest.fixture
def project(project: Path, vendor: Vendor, monkeypatch) -> Path:
    source = api_source_yaml(project, vendor, monkeypatch)
    source["connection"]["retries"] = FAST
    api_source_yaml(project, vendor, monkeypatch, connection=source["connection"])
    return project


def watermark(store: LeadStore):
    w = tables.source_watermarks
    with store.begin() as conn:
        return conn.execute(sa.select(w.c.watermark).where(w.c.source == "crm", w.c.stream == "records")).scalar()


def test_an_outage_says_who_failed_and_that_the_next_run_resumes(project, vendor, duckdb_url):
    paths, store = project_paths(project / "mappings"), LeadStore(duckdb_url)
    first = pipeline.pull(paths, store, "crm")
    assert first.stored > 0
    before = watermark(store)

    vendor.http_faults.fail_next(times=100, status=503)
    with pytest.raises(SourceOutage) as raised:
        pipeline.pull(paths, store, "crm")
    message, facts = str(raised.value), raised.value.metadata
    assert message.startswith(f"{NAMES[vendor.kind]} ({vendor.server.url}) kept failing for source 'crm' after 2 tries")
    assert "503" in message and "Nothing was lost" in message and "the next run resumes from the watermark" in message
    assert facts["vendor"] == NAMES[vendor.kind] and facts["endpoint"] == vendor.server.url
    assert facts["nothing_lost"] is True and facts["http_status"] == 503
    assert watermark(store) == before

    vendor.http_faults.clear()
    assert pipeline.pull(paths, store, "crm").stopped is None
    assert watermark(store) >= before


def test_a_writeback_outage_keeps_the_batch_and_the_next_run_sends_it_once(project, vendor, duckdb_url):
    """Through the entry point for leads that exist in leadsync only (issue 22's hand-entered leads)."""
    paths, store = project_paths(project / "mappings"), LeadStore(duckdb_url)
    with store.begin() as conn:
        queue_new_record(conn, "crm", "manual-1", {"email": "grace@hopper.example", "first_name": "Grace",
                                                   "last_name": "Hopper", "company": "Navy"}, datetime.now(UTC))
    vendor.http_faults.fail_next(times=100, status=503)
    with pytest.raises(SourceOutage, match="Nothing was lost: the 1 events of the batch being sent stay queued"):
        pipeline.write_back(paths, store, "crm")
    vendor.http_faults.clear()
    report = pipeline.write_back(paths, store, "crm")
    assert (report.resumed, report.records_created, report.events_failed) == (1, 1, 0), report.failures
    assert len(vendor.records_keyed("manual-1")) == 1
    with store.begin() as conn:
        made = store.read_frame(conn, created_records("crm"))
    assert made[["key", "kind", "lead_id"]].to_dict("records") == [
        {"key": "manual-1", "kind": "new_record", "lead_id": "manual-1"}]


def test_every_numeric_setting_has_an_upper_bound_named_in_the_error():
    from pydantic import ValidationError

    from leadsync.connectors.api_client import ApiConfigError, HttpSettings, RetryPolicy
    from leadsync.connectors.eloqua.source import EloquaSettings
    from leadsync.connectors.marketo.source import MarketoSettings
    from leadsync.connectors.salesforce.source import SalesforceSettings
    from leadsync.config.schema import MarketoSource

    source = {"name": "mkto", "type": "marketo", "fields": [{"column": "email", "field": "email"}],
              "connection": {"base_url": "https://123-ABC-456.mktorest.com", "client_id_env": "K",
                             "client_secret_env": "S"}}
    for key, value in (("timeout_s", 99999999999), ("daily_quota", 10**12), ("export_poll_s", 10**9),
                       ("retries", {"attempts": 1000})):
        with pytest.raises(ValidationError, match="less than or equal"):
            MarketoSource.model_validate({**source, "connection": {**source["connection"], key: value}})
    with pytest.raises(ApiConfigError, match=r"retry.attempts must be within 1..20, not 99"):
        HttpSettings(retry=RetryPolicy(attempts=99))
    with pytest.raises(ValueError, match=r"history_days must be within 1..3,650, not 99999"):
        MarketoSettings("https://123-ABC-456.mktorest.com", "id", "secret", history_days=99999)
    with pytest.raises(ApiConfigError, match=r"bulk_timeout_s must be within 0.001..172,800"):
        SalesforceSettings(consumer_key="k", consumer_secret="s", bulk_timeout_s=10**12)
    with pytest.raises(ApiConfigError, match=r"sync_timeout_s must be within 0.001..172,800"):
        EloquaSettings(site="Acme", username="u", password="p", sync_timeout_s=10**12)
