"""SalesforceSource campaign data against the sandbox: campaigns by ids, name pattern and type; their members;
the records' Tasks and Events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.source_api import CampaignSelection

CAMPAIGN_COLUMNS = ["campaign_id", "name", "description", "type", "status", "start_date", "end_date",
                    "is_active"]




@pytest.fixture(scope="module")
def campaign_ids(seeded_sf) -> dict[str, str]:
    return {r["Name"]: r["Id"] for r in seeded_sf.query_all("SELECT Id, Name FROM Campaign")["records"]}


def test_campaigns_by_ids_including_their_15_character_form(seeded, source_for, campaign_ids):
    wanted = [campaign_ids["RSA 2026 Booth"], campaign_ids["Partner Roadshow"][:15]]

    frame = source_for(seeded).campaigns(CampaignSelection(ids=wanted))

    assert list(frame.columns) == CAMPAIGN_COLUMNS
    assert sorted(frame["name"]) == ["Partner Roadshow", "RSA 2026 Booth"]
    booth = frame.set_index("name").loc["RSA 2026 Booth"]
    assert (booth["type"], booth["status"], booth["is_active"]) == ("Trade Show", "Completed", "false")
    assert booth["description"] == "RSA 2026 Booth (Trade Show)" and len(booth["start_date"]) == 10


def test_campaigns_by_name_pattern(seeded, source_for):
    frame = source_for(seeded).campaigns(CampaignSelection(name_pattern=r"(?i)webinar|summit"))

    assert sorted(frame["name"]) == ["Cloud Security Summit", "Q4 Webinar Series"]


def test_campaigns_by_type_narrowed_by_pattern_plus_listed_ids(seeded, source_for, campaign_ids):
    source = source_for(seeded)

    by_type = source.campaigns(CampaignSelection(types=["Partners", "email"]))
    narrowed = source.campaigns(CampaignSelection(types=["Partners", "Email"], name_pattern="^EMEA",
                                                  ids=[campaign_ids["RSA 2026 Booth"]]))

    assert sorted(by_type["name"]) == ["EMEA Email Nurture", "Partner Roadshow"]
    assert sorted(narrowed["name"]) == ["EMEA Email Nurture", "RSA 2026 Booth"]


def test_campaigns_with_extra_fields_and_an_empty_selection(seeded, source_for):
    source = source_for(seeded)

    frame = source.campaigns(CampaignSelection(types=["Webinar"]), extra_fields=["BudgetedCost", "OwnerId"])

    assert list(frame.columns) == [*CAMPAIGN_COLUMNS, "BudgetedCost", "OwnerId"]
    assert frame.iloc[0]["BudgetedCost"].isdigit() and frame.iloc[0]["OwnerId"].startswith("005")
    assert source.campaigns(CampaignSelection()).empty
    with pytest.raises(ApiConfigError, match="Campaign has no field 'Budget'"):
        source.campaigns(CampaignSelection(types=["Webinar"]), extra_fields=["Budget"])
    with pytest.raises(ApiConfigError, match="not a regular expression"):
        source.campaigns(CampaignSelection(name_pattern="(unclosed"))


def test_memberships_give_each_lead_its_campaigns_and_status(org, source_for):
    org.clock.freeze("2026-11-23T09:00:00Z")
    webinar, summit = org.insert("Campaign", [{"Name": "Webinar"}, {"Name": "Summit"}])
    ann, bob = org.insert("Lead", [{"LastName": "Ann", "Company": "A", "Email": "ann@a.example"},
                                   {"LastName": "Bob", "Company": "B", "Email": "bob@b.example"}])
    [contact] = org.insert("Contact", [{"LastName": "Cy", "Email": "cy@c.example"}])
    org.insert("CampaignMember", [{"CampaignId": webinar, "LeadId": ann, "Status": "Responded"},
                                  {"CampaignId": summit, "LeadId": ann, "Status": "Sent"},
                                  {"CampaignId": webinar, "ContactId": contact}])
    org.clock.freeze("2026-11-23T12:00:00Z")
    org.insert("CampaignMember", [{"CampaignId": webinar, "LeadId": bob, "Status": "Attended"}])
    source = source_for(org)

    everyone = source.memberships([webinar, summit], None)
    recent = source.memberships([webinar, summit], datetime(2026, 11, 23, 11, 0, tzinfo=UTC))

    assert list(everyone.columns) == ["record_id", "campaign_id", "status", "joined_at", "member_id"]
    pairs = zip(everyone["record_id"], everyone["campaign_id"], everyone["status"], strict=True)
    assert sorted(pairs) == sorted([(ann, webinar, "Responded"), (ann, summit, "Sent"),
                                    (bob, webinar, "Attended")])  # not the contact
    assert recent[["record_id", "joined_at"]].values.tolist() == [[bob, "2026-11-23T12:00:00.000+0000"]]
    assert source_for(org, object="Contact").memberships([webinar], None)["record_id"].tolist() == [contact]
    assert source.memberships([], None).empty


def test_activities_are_the_tasks_and_events_of_the_sources_records(org, source_for):
    [ann] = org.insert("Lead", [{"LastName": "Ann", "Company": "A"}])
    [cy] = org.insert("Contact", [{"LastName": "Cy"}])
    call, email = org.insert("Task", [
        {"WhoId": ann, "Subject": "Intro call", "Type": "Call", "ActivityDate": "2026-11-20",
         "Description": "Keen"},
        {"WhoId": ann, "Subject": "Pricing", "Type": "Email"}])
    org.insert("Task", [{"WhoId": cy, "Subject": "Not a lead's"}])
    [demo] = org.insert("Event", [{"WhoId": ann, "Subject": "Demo", "Type": "Meeting",
                                   "DurationInMinutes": 30, "ActivityDateTime": "2026-11-24T15:00:00Z"}])
    source = source_for(org)

    everything = source.activities(None)
    calls_and_events = source.activities(None, types=["Call", "Event"])

    assert list(everything.columns)[:5] == ["record_id", "activity_id", "activity_type", "occurred_at",
                                            "detail"]
    rows = everything.set_index("activity_id")
    assert sorted(rows.index) == sorted([call, email, demo]) and set(rows["record_id"]) == {ann}
    assert rows.loc[call, ["activity_type", "occurred_at", "detail"]].tolist() == ["Call", "2026-11-20",
                                                                                   "Intro call\nKeen"]
    assert rows.loc[email, "occurred_at"] == org.get("Task", email)["CreatedDate"]
    assert rows.loc[demo, ["activity_type", "occurred_at", "object"]].tolist() == [
        "Meeting", "2026-11-24T15:00:00.000+0000", "Event"]
    assert sorted(calls_and_events["activity_id"]) == sorted([call, demo])
