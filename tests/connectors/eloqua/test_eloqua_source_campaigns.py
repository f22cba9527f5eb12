"""EloquaSource campaigns, memberships and activities, checked against what the sandbox holds."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.eloqua.source import EloquaSource
from leadsync.connectors.eloqua.source.sandbox_settings import sandbox_settings
from leadsync.connectors.source_api import CampaignSelection

MEMBERSHIP_TYPES = {"EmailSend", "EmailOpen", "EmailClickthrough", "FormSubmit"}


@pytest.fixture
def source(eloqua):
    src = EloquaSource(sandbox_settings(eloqua))
    yield src
    src.close()


def activity_rows(eloqua) -> list[dict]:
    table = eloqua.state.activities
    return [dict(r, type=str(r["type"])) for r in table.to_pylist()]


def test_campaigns_by_ids_come_with_iso_dates_and_custom_fields(eloqua, source):
    frame = source.campaigns(CampaignSelection(ids=["1003", "1001", "999"]))
    assert list(frame["campaign_id"]) == ["1001", "1003"]
    seeded = {c["id"]: c for c in eloqua.state.campaigns}
    first = frame.iloc[0]
    assert first["name"] == seeded[1001]["name"] and first["description"] == seeded[1001]["description"]
    assert first["start_date"] == seeded[1001]["startAt"].replace(tzinfo=UTC).isoformat()
    assert first["end_date"] == seeded[1001]["endAt"].replace(tzinfo=UTC).isoformat()
    assert datetime.fromisoformat(first["updated_at"]) == seeded[1001]["updatedAt"].replace(tzinfo=UTC)
    assert first["type"] == "emailMarketing" and first["status"] == seeded[1001]["currentStatus"]
    # Custom campaign fields (Partner Program, Region, Routing Key) by the names assets/campaign/fields lists
    assert (first["Partner Program"], first["LeadSync Routing Key"]) == (seeded[1001]["fieldValues"]["1"], "route-0")


def test_campaigns_by_name_pattern_type_and_all(source):
    assert list(source.campaigns(CampaignSelection(name_pattern=r"^Q4 "))["name"]) == ["Q4 Webinar Series"]
    everything = source.campaigns(CampaignSelection())
    assert len(everything) == 12 and everything["campaign_id"].is_unique
    assert len(source.campaigns(CampaignSelection(types=["emailMarketing"]))) == 12
    assert source.campaigns(CampaignSelection(types=["webinar"])).empty
    both = source.campaigns(CampaignSelection(ids=["1001", "1002"], name_pattern="Webinar"))  # every criterion
    assert list(both["name"]) == ["Q4 Webinar Series"]
    with pytest.raises(ApiConfigError, match="not a regular expression"):
        source.campaigns(CampaignSelection(name_pattern="(unclosed"))


def test_memberships_join_campaign_responses_and_campaign_activities(eloqua, source):
    wanted = {1001, 1004}
    expected = {(str(r["contact_id"]), str(r["campaign_id"])) for r in eloqua.state.campaign_responses.to_pylist()
                if r["campaign_id"] in wanted}
    expected |= {(str(a["contact_id"]), str(a["campaign_id"])) for a in activity_rows(eloqua)
                 if a["campaign_id"] in wanted and a["type"] in MEMBERSHIP_TYPES}
    frame = source.memberships(["1001", "1004"], None)
    assert list(frame.columns) == ["record_id", "campaign_id", "status", "joined_at"]
    assert set(zip(frame["record_id"], frame["campaign_id"], strict=True)) == expected and expected
    responded = {(str(r["contact_id"]), str(r["campaign_id"])) for r in eloqua.state.campaign_responses.to_pylist()}
    for row in frame.itertuples():
        assert (row.status == "Responded") == ((row.record_id, row.campaign_id) in responded)
        firsts = [a["created_at"] for a in activity_rows(eloqua) if str(a["contact_id"]) == row.record_id
                  and str(a["campaign_id"]) == row.campaign_id and a["type"] in MEMBERSHIP_TYPES]
        assert datetime.fromisoformat(row.joined_at) == min(firsts).replace(tzinfo=UTC)
    assert source.memberships([], None).empty


def test_memberships_since_a_date(eloqua, source):
    since = datetime.now(UTC) - timedelta(days=90)
    frame = source.memberships(["1001", "1002", "1003"], since)
    bound = (since - timedelta(minutes=5)).replace(tzinfo=None, microsecond=0)
    recent = {(str(a["contact_id"]), str(a["campaign_id"])) for a in activity_rows(eloqua)
              if a["campaign_id"] in (1001, 1002, 1003) and a["type"] in MEMBERSHIP_TYPES and a["created_at"] >= bound}
    assert set(zip(frame["record_id"], frame["campaign_id"], strict=True)) == recent


def test_activities_by_type_and_since(eloqua, source):
    since = datetime.now(UTC) - timedelta(days=200)
    frame = source.activities(since, ["FormSubmit", "WebVisit"])
    bound = (since - timedelta(minutes=5)).replace(tzinfo=None, microsecond=0)
    expected = [a for a in activity_rows(eloqua) if a["type"] in ("FormSubmit", "WebVisit") and a["created_at"] >= bound]
    assert sorted(frame["activity_id"]) == sorted(f"{a['type']}:{a['id']}" for a in expected) and expected
    assert list(frame.columns) == ["record_id", "activity_id", "activity_type", "occurred_at", "detail"]
    form = frame[frame["activity_type"] == "FormSubmit"].iloc[0]
    source_row = next(a for a in expected if f"FormSubmit:{a['id']}" == form["activity_id"])
    assert form["record_id"] == str(source_row["contact_id"])
    assert datetime.fromisoformat(form["occurred_at"]) == source_row["created_at"].replace(tzinfo=UTC)
    detail = json.loads(form["detail"])
    assert detail["raw_data"].startswith("emailAddress=") and detail["campaign_id"] == str(source_row["campaign_id"])
    visit = json.loads(frame[frame["activity_type"] == "WebVisit"].iloc[0]["detail"])
    assert int(visit["pages"]) >= 1 and visit["first_page"].startswith("https://")


def test_activities_of_every_type_and_unknown_types(eloqua, source):
    frame = source.activities(None)
    assert len(frame) == sum(1 for a in activity_rows(eloqua) if a["contact_id"] is not None)
    assert set(frame["activity_type"]) == {a["type"] for a in activity_rows(eloqua)}
    assert frame["activity_id"].is_unique
    with pytest.raises(ApiConfigError, match="LinkedInLike"):
        source.activities(None, ["LinkedInLike"])
