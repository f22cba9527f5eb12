"""Postal rules scoped by country: `postal_codes: {DE: ["10000-19999"], AT: ["1000-1999"]}` holds a range
only for leads of that country; a flat list holds for every country, as before."""

from pathlib import Path

import pandas as pd
import pytest

from leadsync.config import ConfigError, load_partners, load_source
from leadsync.config.schema import PartnersConfig
from leadsync.routing.engine import RoutingState, route

REPO = Path(__file__).resolve().parents[2]
POSTAL = {"name": "postal", "rules": [{"field": "postal_code", "op": "range", "partner_attribute": "postal_codes"}]}


@pytest.fixture
def source():
    return load_source(REPO / "mappings/sources/sftp_demo.yaml")


def leads(*records: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(records))
    frame["lead_id"] = [f"L{i}" for i in range(len(frame))]
    for col in ("email", "country", "state", "postal_code"):
        if col not in frame:
            frame[col] = None
    return frame


def partners_of(rule_group: dict, *partners: dict) -> PartnersConfig:
    return PartnersConfig.model_validate({"partners": list(partners), "routing": {"rule_groups": [rule_group]}})


def test_a_range_scoped_to_germany_does_not_take_an_austrian_postal_code(source):
    cfg = partners_of(POSTAL,
                      {"id": "dach", "name": "DACH Partner", "postal_codes": {"DE": ["10000-19999"]}},
                      {"id": "wien", "name": "Wien Partner", "postal_codes": {"AT": ["1000-1999"]}})
    frame = leads({"country": "DE", "postal_code": "10115"},  # Berlin
                  {"country": "AT", "postal_code": "1010"},  # Vienna: '1010' is not in DE's 10000-19999
                  {"country": "at", "postal_code": "5020"},  # Salzburg: outside AT's 1000-1999 (case ignored)
                  {"country": None, "postal_code": "10115"})  # no country: scoped entries never hold
    out = route(frame, cfg, source, RoutingState()).decisions
    assert out["partner_id"].tolist() == ["dach", "wien", None, None]


def test_one_partner_serving_two_countries_with_their_own_ranges(source):
    cfg = partners_of(POSTAL, {"id": "dach", "name": "DACH Partner",
                               "postal_codes": {"DE": ["10000-19999"], "AT": ["1000-1999"]}},
                      {"id": "rest", "name": "Everyone Else", "postal_codes": ["0-9"]})
    frame = leads({"country": "DE", "postal_code": "10115"}, {"country": "AT", "postal_code": "1010"},
                  {"country": "DE", "postal_code": "80331"}, {"country": "AT", "postal_code": "5020"})
    out = route(frame, cfg, source, RoutingState()).decisions
    # Berlin and Vienna: both partners match (the flat 0-9 holds everywhere), round robin dach then rest;
    # Munich and Salzburg: only the flat list matches
    assert out["partner_id"].tolist() == ["dach", "rest", "rest", "rest"]
    assert out["candidates"].tolist() == ["dach,rest", "dach,rest", "rest", "rest"]


def test_the_flat_list_still_matches_any_country_as_before(source):
    cfg = partners_of(POSTAL, {"id": "dach", "name": "DACH Partner", "postal_codes": ["10000-19999"]})
    frame = leads({"country": "DE", "postal_code": "10115"}, {"country": "AT", "postal_code": "1010"})
    out = route(frame, cfg, source, RoutingState()).decisions
    # a range compares the leading characters: Vienna's '1010' falls inside '10000'-'19999' — which is why
    # a partner serving two countries scopes its ranges
    assert out["partner_id"].tolist() == ["dach", "dach"]


def test_prefixes_and_in_scoped_by_country(source):
    prefix = {"name": "p", "rules": [{"field": "postal_code", "op": "prefix", "partner_attribute": "postal_codes"}]}
    cfg = partners_of(prefix, {"id": "uk", "name": "London Ltd", "postal_codes": {"GB": ["EC", "SW1"]}},
                      {"id": "us", "name": "Bay Inc", "postal_codes": {"US": ["941"]}})
    frame = leads({"country": "GB", "postal_code": "EC1A 1BB"}, {"country": "US", "postal_code": "94105"},
                  {"country": "GB", "postal_code": "94105"})
    assert route(frame, cfg, source, RoutingState()).decisions["partner_id"].tolist() == ["uk", "us", None]
    equals = {"name": "e", "rules": [{"field": "postal_code", "op": "in", "partner_attribute": "postal_codes"}]}
    cfg = partners_of(equals, {"id": "uk", "name": "London Ltd", "postal_codes": {"GB": ["EC1A 1BB"]}})
    frame = leads({"country": "GB", "postal_code": "ec1a 1bb"}, {"country": "US", "postal_code": "EC1A 1BB"})
    assert route(frame, cfg, source, RoutingState()).decisions["partner_id"].tolist() == ["uk", None]


def test_a_country_named_twice_is_refused_with_the_fix(tmp_path):
    (tmp_path / "partners.yaml").write_text(
        "partners:\n  - id: dach\n    name: DACH\n    postal_codes: {DE: ['10000-19999'], de: ['20000-29999']}\n")
    with pytest.raises(ConfigError, match="names country 'de' twice"):
        load_partners(tmp_path / "partners.yaml")
