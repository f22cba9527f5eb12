"""EloquaSource writes: contact fields by ContactID or email, rejected rows, custom object upserts."""

from datetime import datetime

import pandas as pd
import pytest

from leadsync.connectors.api_client import ApiConfigError, ApiError
from leadsync.connectors.eloqua.source import EloquaSource
from leadsync.connectors.eloqua.source.sandbox_settings import sandbox_settings
from leadsync.connectors.source_api import OPPORTUNITY_COLUMNS, RESULT_COLUMNS


@pytest.fixture
def source(eloqua):
    src = EloquaSource(sandbox_settings(eloqua))
    yield src
    src.close()


def statuses(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["key", "record_id", "C_LeadSync_Distribution_Status1", "C_LeadSync_Partner1"])


def test_write_records_by_contact_id_lands_on_the_contacts(eloqua, source):
    results = source.write_records(statuses([("lead-1", "12", "Distributed", "Acme Partners"),
                                             ("lead-2", 13, "Rejected", None),
                                             ("lead-3", "999999", "Distributed", "Nobody")]))
    assert list(results.columns) == RESULT_COLUMNS
    assert list(results["ok"]) == [True, True, False]
    assert results["error"].iloc[2].startswith("Contact does not exist.") and results["error"].iloc[0] is None
    assert (eloqua.contact_by_id(12)["C_LeadSync_Distribution_Status1"],
            eloqua.contact_by_id(12)["C_LeadSync_Partner1"]) == ("Distributed", "Acme Partners")
    assert eloqua.contact_by_id(13)["C_LeadSync_Distribution_Status1"] == "Rejected"
    assert eloqua.contact_by_id(13)["C_LeadSync_Partner1"] is None
    definition = [d for d in eloqua.state.definitions.values() if d.kind == "imports"][-1].body
    assert definition["identifierFieldName"] == "ContactID" and definition["fields"]["ContactID"] == "{{Contact.Id}}"


def test_a_rejected_row_is_reported_with_its_reason_and_succeeds_on_retry(eloqua, source):
    email = eloqua.contact_by_id(8)["C_EmailAddress"]
    eloqua.reject_next_import_of(email, "Contact is locked by another process.")
    updates = statuses([("a", "7", "Distributed", "P1"), ("b", "8", "Distributed", "P1"), ("c", "9", "Queued", "P2")])
    first = source.write_records(updates)
    assert list(first["ok"]) == [True, False, True]
    assert first["error"].iloc[1] == ("Contact is locked by another process. (ELQ-00032; invalid fields: "
                                      "ContactID)")
    assert eloqua.contact_by_id(8)["C_LeadSync_Distribution_Status1"] is None
    assert eloqua.contact_by_id(9)["C_LeadSync_Distribution_Status1"] == "Queued"
    retry = source.write_records(updates[~first["ok"].to_numpy()])
    assert list(retry["key"]) == ["b"] and retry["ok"].all()
    assert eloqua.contact_by_id(8)["C_LeadSync_Distribution_Status1"] == "Distributed"


def test_write_records_by_email_address(eloqua):
    source = EloquaSource(sandbox_settings(eloqua, identifier="C_EmailAddress"))
    email = eloqua.contact_by_id(21)["C_EmailAddress"]
    results = source.write_records(pd.DataFrame([
        {"key": "x", "record_id": email.upper(), "C_LeadSync_Sales_Status1": "Contacted"},
        {"key": "y", "record_id": "not-an-email", "C_LeadSync_Sales_Status1": "Contacted"},
        {"key": "z", "record_id": "", "C_LeadSync_Sales_Status1": "Contacted"}]))
    assert list(results["ok"]) == [True, False, False]
    assert "Invalid email" in results["error"].iloc[1] and "no record_id" in results["error"].iloc[2]
    assert eloqua.contact_by_id(21)["C_LeadSync_Sales_Status1"] == "Contacted"


def test_write_records_refuses_unknown_read_only_and_identifier_fields(eloqua, source):
    with pytest.raises(ApiConfigError, match="no contact field 'C_Nope'"):
        source.write_records(pd.DataFrame([{"key": "k", "record_id": "1", "C_Nope": "x"}]))
    with pytest.raises(ApiConfigError, match="read-only"):
        source.write_records(pd.DataFrame([{"key": "k", "record_id": "1", "C_DateModified": "2031-01-01"}]))
    with pytest.raises(ApiConfigError, match="identifier"):
        source.write_records(pd.DataFrame([{"key": "k", "record_id": "1", "ContactID": "2"}]))
    assert source.write_records(statuses([])).empty


def test_a_failing_import_sync_raises_with_its_logs(eloqua, source):
    eloqua.fail_next_sync("Import failed: the database is being maintained.")
    with pytest.raises(ApiError, match="the database is being maintained"):
        source.write_records(statuses([("a", "7", "Distributed", "P1")]))


def opportunity(key: str, external_id: str, record_id: str, stage: str) -> dict:
    return {"key": key, "external_id": external_id, "record_id": record_id, "name": "Firewall refresh",
            "stage": stage, "amount": 25000.0, "close_date": datetime(2031, 3, 31), "partner": "Acme Partners"}


def test_opportunities_upsert_by_external_id_and_link_to_the_contact(eloqua, source):
    frame = pd.DataFrame([opportunity("o1", "006A", "11", "Qualification"),
                          opportunity("o2", "006B", "12", "Proposal")], columns=OPPORTUNITY_COLUMNS)
    assert source.write_opportunities(frame)["ok"].all()
    again = source.write_opportunities(pd.DataFrame([opportunity("o1b", "006A", "11", "Closed Won"),
                                                     opportunity("o3", "006C", "999999", "Proposal")]))
    assert list(again["ok"]) == [True, False] and "no contact 999999" in again["error"].iloc[1]
    records = {r["External Id"]: r for r in eloqua.custom_object_records(1)}
    assert set(records) == {"006A", "006B"}  # re-written, not duplicated
    assert records["006A"]["Stage"] == "Closed Won" and records["006A"]["Amount"] == 25000.0
    assert records["006A"]["Close Date"] == datetime(2031, 3, 31)
    assert records["006A"]["contact_id"] == 11 and records["006B"]["contact_id"] == 12
    assert records["006A"]["Contact Email"] == eloqua.contact_by_id(11)["C_EmailAddress"]


def test_partner_events_upsert_by_key(eloqua, source):
    event = {"key": "ev-1", "record_id": "14", "event_type": "Webinar", "occurred_at": "2031-02-03T10:00:00+00:00",
             "description": "Attended the SD-WAN webinar", "partner": "Acme Partners"}
    assert source.write_events(pd.DataFrame([event]))["ok"].all()
    assert source.write_events(pd.DataFrame([{**event, "description": "Attended and asked for a demo"}]))["ok"].all()
    bad = source.write_events(pd.DataFrame([{**event, "key": "ev-2", "occurred_at": "someday"}]))
    assert not bad["ok"].iloc[0] and "not a valid date" in bad["error"].iloc[0]
    (record,) = eloqua.custom_object_records(2)
    assert record["Event Id"] == "ev-1" and record["Details"] == "Attended and asked for a demo"
    assert record["Event Date"] == datetime(2031, 2, 3, 10, 0) and record["contact_id"] == 14


def test_statuses_into_a_custom_object_keyed_by_record(eloqua):
    status = eloqua.add_custom_object("LeadSync Status", [("Contact Key", "text", True), ("Distribution Status", "text"),
                                                          ("Partner", "text")])
    source = EloquaSource(sandbox_settings(eloqua, status_mode="custom_object", status_object="LeadSync Status"))
    updates = pd.DataFrame([{"key": "a", "record_id": "5", "Distribution Status": "Distributed", "Partner": "P1"}])
    assert source.write_records(updates)["ok"].all()
    assert source.write_records(updates.assign(key="b", Partner="P2"))["ok"].all()
    (record,) = eloqua.custom_object_records(status.id)
    assert (record["Contact Key"], record["Distribution Status"], record["Partner"]) == ("5", "Distributed", "P2")


def test_custom_object_settings_that_cannot_work(eloqua):
    missing = EloquaSource(sandbox_settings(eloqua, opportunity_object="No Such Object"))
    with pytest.raises(ApiConfigError, match="no custom object named 'No Such Object'"):
        missing.write_opportunities(pd.DataFrame([opportunity("o1", "006A", "11", "Open")]))
    not_unique = EloquaSource(sandbox_settings(eloqua, opportunity_fields={"external_id": "Name"}))
    with pytest.raises(ApiConfigError, match="no uniqueness constraint"):
        not_unique.write_opportunities(pd.DataFrame([opportunity("o1", "006A", "11", "Open")]))
    unknown = EloquaSource(sandbox_settings(eloqua, event_fields={"key": "Event Id", "partner": "Partner Name"}))
    with pytest.raises(ApiConfigError, match="has no field 'Partner Name'"):
        unknown.write_events(pd.DataFrame([{"key": "e", "record_id": "1", "partner": "P"}]))


def test_many_opportunities_are_linked_through_one_contact_lookup(eloqua, source):
    frame = pd.DataFrame([opportunity(f"o{i}", f"006-{i}", str(i), "Open") for i in range(1, 121)])
    exports = len([d for d in eloqua.state.definitions.values() if d.kind == "exports"])
    assert source.write_opportunities(frame)["ok"].all()
    lookups = [d.body for d in eloqua.state.definitions.values() if d.kind == "exports"][exports:]
    assert len(lookups) == 1 and " AND " in lookups[0]["filter"]  # an id range, not 120 OR terms
    linked = {r["External Id"]: r["contact_id"] for r in eloqua.custom_object_records(1)}
    assert linked == {f"006-{i}": i for i in range(1, 121)}
