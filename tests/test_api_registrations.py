"""A partner's registration becomes a record in the supplier's own system (Salesforce Lead, Marketo lead,
Eloqua contact) keyed by the registration, with the partner on it and its id back in the store; an answer
lost after the vendor made the record, and the retry that follows, still leave exactly one record."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from api_vendors import (
    CREATE_PATH,
    LEAD,
    VENDORS,
    WRITEBACK,
    Vendor,
    api_source_yaml,
    registrations_into,
    started_vendor,
)

from leadsync import pipeline
from leadsync.config.loader import project_paths
from leadsync.lifecycle.context import load_lifecycle
from leadsync.lifecycle.registration import register_partner_leads
from leadsync.store import LeadStore
from leadsync.writeback import outbox
from leadsync.writeback.records_created import created_records

vendor = pytest.fixture(params=VENDORS, name="vendor")(started_vendor)


@pytest.fixture
def project(project: Path, vendor: Vendor, monkeypatch) -> Path:
    api_source_yaml(project, vendor, monkeypatch)
    registrations_into(project, "crm")
    return project


def test_a_registration_makes_one_record_across_a_lost_answer(project, vendor, store_url):
    paths = project_paths(project / "mappings")
    store = LeadStore(store_url)
    ctx = load_lifecycle(paths, store)
    report = register_partner_leads(ctx, "northwind", [LEAD], datetime.now(UTC))
    assert report.registered == 1, report.decisions
    key = "northwind:NW-7"

    # the vendor makes the record, then the answer never arrives (connection dropped mid-response)
    vendor.http_faults.drop_response_next(CREATE_PATH[vendor.kind], "POST" if vendor.kind != "salesforce"
                                            else "PATCH")
    first = pipeline.write_back(paths, store, "crm")  # the client retries the lost call itself
    assert vendor.http_faults.answers_to_lose == 0  # the answer was indeed lost
    assert first.events_failed == 0, first.failures
    assert len(vendor.records_keyed(key)) == 1  # the vendor did make it

    again = pipeline.write_back(paths, store, "crm")
    assert again.events_failed == 0, again.failures
    assert len(vendor.records_keyed(key)) == 1, "a retry made a second record"
    record_id = vendor.records_keyed(key)[0]

    with store.begin() as conn:
        made = store.read_frame(conn, created_records("crm"))
        pending = store.read_frame(conn, outbox.pending_events("crm"))
    assert made[["key", "kind", "partner_id", "record_id"]].to_dict("records") == [
        {"key": key, "kind": "registration", "partner_id": "northwind", "record_id": record_id}]
    assert pending.empty

    record = vendor.record(record_id, LEAD["email"])
    names = WRITEBACK[vendor.kind]
    assert record[names["partner_name"]] == "Northwind Networks"
    email = {"salesforce": "Email", "marketo": "email", "eloqua": "C_EmailAddress"}[vendor.kind]
    assert record[email] == LEAD["email"]

    # nothing left to send: a third writeback makes nothing
    assert pipeline.write_back(paths, store, "crm").events_sent == 0
    assert len(vendor.records_keyed(key)) == 1
