"""MarketoSource's write-back, checked in the sandbox afterwards: lead fields by lead id with per-record
reasons, opportunities with lead roles (or a custom object) upserted by external id, partner events as
custom activities that a retry does not duplicate."""

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.marketo.sandbox.activities import PARTNER_EVENT, CustomActivityType
from leadsync.connectors.marketo.sandbox.fields import FieldDef
from leadsync.connectors.marketo.sandbox.objects import ObjectType
from leadsync.connectors.marketo.source import MarketoSource
from leadsync.connectors.marketo.source.settings import sandbox_settings
from leadsync.connectors.source_api import EVENT_COLUMNS, OPPORTUNITY_COLUMNS, RESULT_COLUMNS


@pytest.fixture
def source(sandbox):
    with MarketoSource(sandbox_settings(sandbox), clock=sandbox.clock.now) as marketo:
        yield marketo


def outcome(results: pd.DataFrame) -> dict:
    assert list(results.columns) == RESULT_COLUMNS
    return {row.key: (bool(row.ok), row.error) for row in results.itertuples()}


def opportunities(*rows) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(OPPORTUNITY_COLUMNS, row, strict=True)) for row in rows], columns=OPPORTUNITY_COLUMNS)


def events(*rows) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rows], columns=EVENT_COLUMNS)


def partner_events(sandbox) -> list[dict]:
    return sandbox.db.rows("SELECT leadId, primaryAttributeValue, attributes FROM activities "
                           "WHERE activityTypeId = ? ORDER BY id", [PARTNER_EVENT.id])


def test_lead_updates_by_id_report_skipped_records_with_their_reasons_and_succeed_on_retry(source, sandbox):
    sandbox.faults.bad_record(2, "1003", "Invalid value for leadsyncPartner")
    updates = pd.DataFrame({
        "key": ["a", "b", "c", "d", "e"], "record_id": ["1", "2", 10**6, "not-an-id", 5],
        "leadsyncPartner": ["Northwind", "Contoso", "Northwind", "Northwind", None],
        "leadsyncDistributionStatus": ["Assigned", "Assigned", "Assigned", "Assigned", "Rejected"]})
    first = outcome(source.write_records(updates))

    assert first["a"] == (True, None) and first["e"] == (True, None)
    assert first["b"] == (False, "1003: Invalid value for leadsyncPartner")
    assert first["c"] == (False, "1004: Lead not found")
    assert first["d"][0] is False and "not a Marketo lead id" in first["d"][1]
    lead = sandbox.leads.row(1)
    assert lead["leadsyncPartner"] == "Northwind" and lead["leadsyncDistributionStatus"] == "Assigned"
    assert sandbox.leads.row(5)["leadsyncDistributionStatus"] == "Rejected"
    assert sandbox.leads.row(5)["leadsyncPartner"] is None  # an empty cell leaves the field alone

    retry = outcome(source.write_records(updates[updates["key"] == "b"]))
    assert retry == {"b": (True, None)} and sandbox.leads.row(2)["leadsyncPartner"] == "Contoso"


def test_lead_updates_go_in_batches_of_300(source, sandbox):
    updates = pd.DataFrame({"key": [f"k{i}" for i in range(1, 351)], "record_id": list(range(1, 351)),
                            "leadsyncSalesStatus": "Working"})
    before = source.calls
    results = source.write_records(updates)
    assert results["ok"].all() and source.calls - before == 2
    assert sandbox.db.scalar("SELECT count(*) FROM leads WHERE leadsyncSalesStatus = 'Working'") == 350


def test_opportunities_upsert_by_external_id_and_link_the_lead_through_a_role(source, sandbox):
    first = outcome(source.write_opportunities(opportunities(
        ("o1", "OPP-1", "3", "Firewall refresh", "Qualification", 12000, "2026-12-20", "Northwind"),
        ("o2", "OPP-2", 4, "SD-WAN rollout", "Proposal", "5000", None, "Contoso"),
        ("o3", "OPP-3", "5", None, "Proposal", 1, None, "Contoso"),  # no name: Marketo requires one
        ("o4", "OPP-4", 10**6, "Ghost", "Proposal", 1, None, "Contoso"))))
    assert first["o1"] == (True, None) and first["o2"] == (True, None)
    assert first["o3"] == (False, "1002: Missing value for required parameter 'name'")
    assert first["o4"][0] is False and first["o4"][1].startswith("1004: Lead not found")
    assert "its lead role was not" in first["o4"][1]

    second = outcome(source.write_opportunities(opportunities(
        ("o1", "OPP-1", "3", "Firewall refresh", "Closed Won", 15000, "2026-12-20", "Northwind"),
        ("o1b", "OPP-1", "3", "Firewall refresh", "Closed Won", 16000, "2026-12-20", "Northwind"))))
    assert second == {"o1": (True, None), "o1b": (True, None)}  # the same opportunity twice: the later wins

    stored = {o["externalOpportunityId"]: o for o in sandbox.objects.records["opportunity"].values()}
    assert sorted(stored) == ["OPP-1", "OPP-2", "OPP-4"]  # updated, not duplicated
    assert stored["OPP-1"]["stage"] == "Closed Won" and stored["OPP-1"]["amount"] == 16000
    assert stored["OPP-1"]["leadsyncPartner"] == "Northwind" and stored["OPP-1"]["closeDate"] == "2026-12-20"
    roles = sorted((r["externalOpportunityId"], r["leadId"], r["role"])
                   for r in sandbox.objects.records["opportunityRole"].values())
    assert roles == [("OPP-1", 3, "Partner Lead"), ("OPP-2", 4, "Partner Lead")]


def test_opportunities_can_be_a_custom_object_linked_to_the_lead():
    kind = ObjectType("leadsyncOpportunity_c", "Leadsync Opportunity", "A partner's opportunity", (
        FieldDef("externalOpportunityId", "External Opportunity Id"), FieldDef("leadId", "Lead Id", "integer"),
        FieldDef("name", "Name"), FieldDef("stage", "Stage"), FieldDef("amount", "Amount", "currency"),
        FieldDef("closeDate", "Close Date", "date"), FieldDef("leadsyncPartner", "Partner")),
        ("externalOpportunityId",), lead_link="leadId", custom=True)
    with MarketoSandbox(seed_leads=20, custom_objects=[kind]) as sandbox, MarketoSource(
            sandbox_settings(sandbox, opportunity_mode="custom_object"), clock=sandbox.clock.now) as source:
        rows = opportunities(("o1", "OPP-9", "3", "Renewal", "Proposal", 900, "2027-01-31", "Northwind"),
                             ("o2", "OPP-10", "999", "Ghost", "Proposal", 1, None, "Northwind"))
        first = outcome(source.write_opportunities(rows))
        again = outcome(source.write_opportunities(rows.assign(stage="Closed Won").iloc[:1]))
        stored = list(sandbox.objects.records["leadsyncOpportunity_c"].values())

    assert first == {"o1": (True, None), "o2": (False, "1004: Lead not found")} and again == {"o1": (True, None)}
    assert len(stored) == 1 and stored[0]["leadId"] == 3 and stored[0]["stage"] == "Closed Won"


def test_partner_events_become_custom_activities_and_a_retry_does_not_duplicate_them(source, sandbox):
    rows = events(("e1", "3", "Webinar", "2026-11-01T15:00:00Z", "Northwind Security Breakfast", "Northwind"),
                  ("e2", 4, "Trade show", datetime(2026, 10, 30, 9, 30, tzinfo=UTC), None, "Contoso"),
                  ("e3", "999999", "Webinar", "2026-11-01T15:00:00Z", "Ghost", "Northwind"),
                  ("e4", "3", None, None, "No date", "Northwind"),
                  ("e1", "3", "Webinar", "2026-11-01T15:00:00Z", "Northwind Security Breakfast", "Northwind"))
    results = source.write_events(rows)
    assert list(results["ok"]) == [True, True, False, False, True]
    assert results["error"].iloc[2] == "1004: Lead not found" and "occurred_at" in results["error"].iloc[3]

    written = partner_events(sandbox)
    assert [(e["leadId"], e["primaryAttributeValue"]) for e in written] == [
        (3, "Northwind Security Breakfast"), (4, "Trade show")]  # no description: the event type
    attributes = json.loads(written[0]["attributes"])
    assert attributes == {"Partner Name": "Northwind", "Event Type": "Webinar", "Event Date": "2026-11-01T15:00:00Z"}

    retry = source.write_events(rows.iloc[:2])
    assert retry["ok"].all() and len(partner_events(sandbox)) == 2


def test_events_carry_our_key_when_the_activity_type_has_an_attribute_for_it():
    keyed = CustomActivityType(100002, "partnerEventKeyed", "Partner Event (keyed)", "Partner event with a key",
                               FieldDef("eventName", "Event Name"),
                               (FieldDef("partnerName", "Partner Name"), FieldDef("eventType", "Event Type"),
                                FieldDef("eventDate", "Event Date", "datetime"),
                                FieldDef("leadsyncKey", "Leadsync Key")))
    with MarketoSandbox(seed_leads=10, custom_activity_types=[keyed]) as sandbox, MarketoSource(
            sandbox_settings(sandbox, custom_activity_type="100002", event_key_attribute="leadsyncKey"),
            clock=sandbox.clock.now) as source:
        rows = events(("ev-1", 2, "Webinar", "2026-11-01T15:00:00Z", "Breakfast", "Northwind"))
        assert source.write_events(rows)["ok"].all()
        assert source.write_events(rows.assign(description="Breakfast (renamed)"))["ok"].all()  # same key
        stored = sandbox.db.rows("SELECT attributes FROM activities WHERE activityTypeId = 100002")
    assert len(stored) == 1 and json.loads(stored[0]["attributes"])["Leadsync Key"] == "ev-1"


def test_an_unknown_custom_activity_type_is_a_configuration_error(sandbox):
    settings = sandbox_settings(sandbox, custom_activity_type="partnerWebinar")
    with MarketoSource(settings, clock=sandbox.clock.now) as source, pytest.raises(
            ApiConfigError, match="no custom activity type 'partnerWebinar'.*leadsyncPartnerEvent"):
        source.write_events(events(("e1", 1, "Webinar", "2026-11-01T15:00:00Z", "x", "y")))
