"""MarketoSource's describe, programs (leadsync's campaigns), program members and lead activities, read
from the seeded Marketo sandbox."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.marketo.sandbox.clock import SandboxClock, naive_utc
from leadsync.connectors.marketo.source import MarketoSource
from leadsync.connectors.marketo.source.settings import sandbox_settings
from leadsync.connectors.source_api import CampaignSelection

START = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def seeded():
    """Read-only tests share one sandbox: 400 leads, 12 programs, their members and history."""
    with MarketoSandbox(seed_leads=400, clock=SandboxClock(start=START)) as server:
        yield server


@pytest.fixture
def source(seeded):
    with MarketoSource(sandbox_settings(seeded), clock=seeded.clock.now) as marketo:
        yield marketo


def test_available_fields_are_the_rest_names_with_their_types(source):
    fields = source.available_fields()
    assert fields["id"] == "integer" and fields["email"] == "email" and fields["updatedAt"] == "datetime"
    assert fields["annualRevenue"] == "currency" and fields["leadsyncPartner"] == "string"
    assert source.record_id_field == "id" and source.modified_field == "updatedAt"


def test_campaigns_are_programs_selected_by_id_name_pattern_and_type(source):
    everything = source.campaigns(CampaignSelection())
    assert len(everything) == 12 and everything["campaign_id"].is_unique
    assert {"campaign_id", "name", "description", "type", "channel", "status", "start_date", "end_date",
            "created_at", "updated_at"} <= set(everything.columns)

    by_id = source.campaigns(CampaignSelection(ids=["1002", "1005"]))
    assert list(by_id["campaign_id"]) == ["1002", "1005"]
    booth = by_id.iloc[0]
    assert booth["name"] == "RSA Conference 2026 Booth" and booth["channel"] == "Tradeshow"
    assert booth["type"] == "Event" and booth["created_at"].endswith("Z") and "+0000" not in booth["created_at"]
    assert booth["start_date"] == booth["created_at"][:10]  # the first period cost starts with the program
    assert json.loads(booth["tags"]) == {"Region": "EMEA"}

    webinars = source.campaigns(CampaignSelection(name_pattern=r"(?i)\bwebinar\b"))
    assert sorted(webinars["name"]) == ["2026 Cloud Security Webinar Series", "Backup Modernisation Webinar"]
    nurture = source.campaigns(CampaignSelection(types=["engagement"]))
    assert set(nurture["type"]) == {"Engagement"} and len(nurture) == 2
    by_channel = source.campaigns(CampaignSelection(types=["Tradeshow"], name_pattern="EMEA"))
    assert list(by_channel["name"]) == ["Partner Roadshow EMEA"]


def test_memberships_list_every_member_of_the_programs(source, seeded):
    members = source.memberships(["1003", "1004"], None)
    expected = seeded.db.rows("SELECT programId, leadId, progressionStatus FROM program_members "
                              "WHERE programId IN (1003, 1004)")
    assert len(members) == len(expected) > 0
    assert set(zip(members["campaign_id"], members["record_id"], members["status"], strict=True)) == {
        (str(r["programId"]), str(r["leadId"]), r["progressionStatus"]) for r in expected}
    assert members["joined_at"].str.endswith("Z").all()


def test_memberships_since_keep_only_newer_memberships(sandbox):
    with MarketoSource(sandbox_settings(sandbox), clock=sandbox.clock.now) as source:
        since = START + timedelta(days=1)
        sandbox.programs.add_members(1001, [395, 396], status="Attended", when=since + timedelta(minutes=5))
        members = source.memberships(["1001"], since)
    assert list(members["record_id"]) == ["395", "396"] and set(members["status"]) == {"Attended"}
    assert set(members["reached_success"]) == {"true"}


def test_unknown_program_is_a_configuration_error(source):
    with pytest.raises(ApiConfigError, match="1013"):
        source.memberships(["4242"], None)


def test_activities_since_a_date_by_type_name(source, seeded):
    since = START - timedelta(days=10)
    visits = source.activities(since, ["Visit Webpage"])
    expected = seeded.db.scalar("SELECT count(*) FROM activities WHERE activityTypeId = 1 AND activityDate >= ?",
                                [naive_utc(since)])
    assert len(visits) == expected > 0 and set(visits["activity_type"]) == {"Visit Webpage"}
    assert list(visits["occurred_at"]) == sorted(visits["occurred_at"])
    detail = json.loads(visits["detail"].iloc[0])
    assert detail["primaryAttributeValue"].startswith("www.example.com/") and "Webpage URL" in detail["attributes"]

    default = source.activities(since)
    assert {"Visit Webpage", "New Lead", "Change Data Value"} <= set(default["activity_type"])
    assert default["activity_id"].is_unique and len(default) > len(visits)


def test_activities_of_an_unknown_type_name_the_known_ones(source):
    with pytest.raises(ApiConfigError, match="no activity type 'Shoe Size'.*visit webpage"):
        source.activities(None, ["Shoe Size"])
