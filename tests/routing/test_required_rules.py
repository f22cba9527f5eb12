"""A required rule on an empty lead field: review only when the missing value is what stands between the
lead and a partner that could take it. Hand-computed cases over partner with / without the attribute, lead
with / without the value, rule required / optional / plain."""

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from leadsync.assign import route_new_leads
from leadsync.config import load_source
from leadsync.config.schema import PartnersConfig
from leadsync.routing.engine import RoutingState, route
from leadsync.routing.explain import explain
from leadsync.store import LeadStore, tables

REPO = Path(__file__).resolve().parents[2]
COLUMNS = ("email", "company", "account_id", "country", "state", "postal_code", "products", "lead_type",
           "partner_name")

# Two German partners without states, one US partner with states; group A needs a state, group B a country.
PARTNERS = [
    {"id": "berlin", "name": "Berlin GmbH", "countries": ["DE"]},
    {"id": "munich", "name": "Munich AG", "countries": ["DE"]},
    {"id": "west", "name": "West Coast Inc", "countries": ["US"], "states": ["CA", "WA"]},
]


@pytest.fixture
def source():
    return load_source(REPO / "mappings/sources/sftp_demo.yaml")


def leads(*records: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(records))
    frame["lead_id"] = [f"L{i}" for i in range(len(frame))]
    for col in COLUMNS:
        if col not in frame:
            frame[col] = None
    return frame


def config(state_rule: dict, with_group_b: bool = True, **routing) -> PartnersConfig:
    groups = [{"name": "A", "rules": [{"field": "country", "op": "in", "partner_attribute": "countries"},
                                      {"field": "state", "op": "in", "partner_attribute": "states", **state_rule}]}]
    if with_group_b:
        groups.append({"name": "B", "rules": [{"field": "country", "op": "in", "partner_attribute": "countries"}]})
    return PartnersConfig.model_validate({"partners": PARTNERS, "routing": {"rule_groups": groups, **routing}})


def outcome(cfg: PartnersConfig, frame: pd.DataFrame, source) -> list[list]:
    out = route(frame, cfg, source, RoutingState()).decisions
    return out[["status", "partner_id", "rule_group"]].values.tolist()


def test_lead_without_the_value_whose_candidates_lack_the_attribute_fails_the_group_and_goes_on(source):
    # a German lead with no state; the German partners have no states at all: group A cannot match, so
    # group B decides (round robin: berlin first)
    assert outcome(config({"required": True}), leads({"country": "DE"}), source) == [["routed", "berlin", "B"]]


def test_without_a_later_group_the_same_lead_goes_to_the_unassigned_queue(source):
    assert outcome(config({"required": True}, with_group_b=False), leads({"country": "DE"}), source) == \
        [["unassigned", None, None]]


def test_default_partner_takes_it_when_no_group_matches(source):
    cfg = config({"required": True}, with_group_b=False, default_partner="munich")
    assert outcome(cfg, leads({"country": "DE"}), source) == [["routed", "munich", None]]


def test_lead_without_the_value_and_a_candidate_with_the_attribute_goes_to_review(source):
    # a US lead with no state: West Coast has states, so the missing state is what stands between them
    out = route(leads({"country": "US"}), config({"required": True}), source, RoutingState()).decisions
    assert out[["status", "partner_id", "rule_group", "candidates"]].values.tolist() == \
        [["needs_review", None, "A", "west"]]
    reason = out.loc[0, "reason"]
    assert "rule group 'A' requires state" in reason
    assert "state in partner.states (required)" in reason and "West Coast Inc" in reason


def test_lead_with_the_value_matches_only_partners_having_it(source):
    frame = leads({"country": "US", "state": "wa"}, {"country": "US", "state": "NY"}, {"country": "DE", "state": "BE"})
    # WA: West Coast; NY: no US partner serves it, group B gives it to West Coast by country; BE (a German
    # state): the German partners list no states, group A fails, group B shares by round robin
    assert outcome(config({"required": True}), frame, source) == [
        ["routed", "west", "A"], ["routed", "west", "B"], ["routed", "berlin", "B"]]


def test_optional_rule_skips_the_empty_field_for_every_candidate(source):
    frame = leads({"country": "DE"}, {"country": "US"})
    assert outcome(config({"optional": True}), frame, source) == [["routed", "berlin", "A"], ["routed", "west", "A"]]


def test_plain_rule_on_an_empty_field_does_not_hold(source):
    frame = leads({"country": "DE"}, {"country": "US"})
    assert outcome(config({}), frame, source) == [["routed", "berlin", "B"], ["routed", "west", "B"]]


def test_review_lists_only_the_partners_with_the_attribute_among_several(source):
    partners = [*PARTNERS, {"id": "east", "name": "East Coast LLC", "countries": ["US"], "states": ["NY"]},
                {"id": "anywhere", "name": "Anywhere US", "countries": ["US"]}]
    cfg = PartnersConfig.model_validate({"partners": partners, "routing": {"rule_groups": [
        {"name": "A", "rules": [{"field": "country", "op": "in", "partner_attribute": "countries"},
                                {"field": "state", "op": "in", "partner_attribute": "states", "required": True}]}]}})
    out = route(leads({"country": "US"}), cfg, source, RoutingState()).decisions
    assert out.loc[0, "status"] == "needs_review"
    assert out.loc[0, "candidates"] == "west,east"  # not 'anywhere', which has no states


def test_required_literal_rule_still_reviews_a_lead_without_the_value(source):
    cfg = PartnersConfig.model_validate({"partners": PARTNERS, "routing": {"rule_groups": [
        {"name": "enterprise", "rules": [{"field": "country", "op": "in", "partner_attribute": "countries"},
                                         {"field": "lead_type", "op": "in", "value": ["Enterprise"],
                                          "required": True}]}]}})
    out = route(leads({"country": "DE"}, {"country": "DE", "lead_type": "SMB"}), cfg, source, RoutingState()).decisions
    assert out[["status", "candidates"]].values.tolist() == [["needs_review", "berlin,munich"], ["unassigned", None]]


def test_explain_names_the_rule_and_the_partners_that_left_the_lead_in_review(duckdb_url, source):
    store = LeadStore(duckdb_url)
    frame = pd.DataFrame([{"country": "US"}])
    frame["lead_id"] = ["sftp_demo-r-0000001"]
    frame["source"], frame["batch_id"], frame["row_number"] = "sftp_demo", "r" * 12, 1
    frame["lead_key"], frame["email"] = frame["lead_id"], "x@example.com"
    frame["received_at"] = frame["updated_at"] = datetime(2026, 11, 2, 9, tzinfo=UTC)
    with store.begin() as conn:
        store.insert_frame(conn, tables.leads, frame)
    route_new_leads(source, config({"required": True}), store, datetime(2026, 11, 2, 9, tzinfo=UTC))
    text = explain(store, "sftp_demo-r-0000001")
    assert "now: needs_review" in text
    assert "partners that could take it with the missing value (1): west" in text
    assert "state in partner.states (required)" in text
