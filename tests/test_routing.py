"""Foundation routing: upload partner, partner named on the lead, first matching rule group, default."""

from pathlib import Path

import pandas as pd
import pytest

from leadsync.config import load_partners, load_source
from leadsync.config.schema import PartnersConfig
from leadsync.routing.engine import route

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def source():
    return load_source(REPO / "mappings/sources/sftp_demo.yaml")


@pytest.fixture
def partners():
    return load_partners(REPO / "mappings/partners.yaml")


def leads(*records: dict) -> pd.DataFrame:
    frame = pd.DataFrame(records)
    frame["lead_id"] = [f"L{i}" for i in range(len(frame))]
    for col in ("country", "state", "postal_code", "products", "lead_type", "partner_name"):
        if col not in frame:
            frame[col] = None
    return frame


def decision(frame: pd.DataFrame, i: int) -> dict:
    return frame.iloc[i].to_dict()


def test_partner_named_on_the_lead_wins_over_rules(partners, source):
    out = route(leads({"country": "US", "state": "CA", "products": "Firewall", "partner_name": "blue peak security"}),
                partners, source)
    d = decision(out, 0)
    assert (d["partner_id"], d["status"], d["method"]) == ("bluepeak", "assigned", "named_partner")


def test_unknown_partner_name_is_an_error_for_that_lead_not_a_fallback(partners, source):
    out = route(leads({"country": "US", "state": "CA", "products": "Firewall", "partner_name": "Acme Ltd"}),
                partners, source)
    d = decision(out, 0)
    assert d["status"] == "needs_review" and d["partner_id"] is None
    assert "'Acme Ltd'" in d["reason"] and "not a known partner" in d["reason"]


def test_rule_groups_compare_lead_fields_with_partner_attributes(partners, source):
    out = route(leads(
        {"country": "US", "state": "WA", "products": "Endpoint;SD-WAN", "lead_type": "SMB"},
        {"country": "US", "state": "NY", "products": "Email Security", "lead_type": "SMB"},
        {"country": "US", "state": "NY", "products": "SD-WAN", "lead_type": "SMB"},
        {"country": "CA", "lead_type": "SMB"},
    ), partners, source)
    assert list(out["partner_id"]) == ["northwind", "bluepeak", None, "maple"]
    assert "rule group 'territory and products' matched Northwind Networks" in out.iloc[0]["reason"]
    assert out.iloc[2]["status"] == "unassigned"


def test_the_first_matching_group_wins(partners, source):
    out = route(leads({"country": "US", "state": "CA", "products": "Firewall", "lead_type": "Enterprise"}),
                partners, source)
    assert decision(out, 0)["partner_id"] == "summit"


def test_postal_code_prefixes_and_ranges():
    cfg = PartnersConfig.model_validate({
        "partners": [{"id": "london", "name": "London", "postal_codes": ["EC", "SW1-SW3"]}],
        "routing": {"rule_groups": [{"name": "postcodes", "rules": [
            {"field": "postal_code", "op": "range", "partner_attribute": "postal_codes"}]}]},
    })
    src = load_source(REPO / "mappings/sources/sftp_demo.yaml")
    out = route(leads({"postal_code": "EC1A 1BB"}, {"postal_code": "SW2 4AA"}, {"postal_code": "SW9 1AA"},
                      {"postal_code": None}), cfg, src)
    assert list(out["status"]) == ["assigned", "assigned", "unassigned", "unassigned"]


def test_default_partner_takes_what_no_rule_matches(partners, source):
    with_default = partners.model_copy(update={"routing": partners.routing.model_copy(update={"default_partner": "rhein"})})
    d = decision(route(leads({"country": "BR"}), with_default, source), 0)
    assert (d["partner_id"], d["method"]) == ("rhein", "default_partner")


def test_inactive_partners_are_skipped_by_rules(partners, source):
    changed = [p.model_copy(update={"active": False}) if p.id == "northwind" else p for p in partners.partners]
    cfg = partners.model_copy(update={"partners": changed})
    d = decision(route(leads({"country": "US", "state": "CA", "products": "Firewall"}), cfg, source), 0)
    assert d["partner_id"] is None and d["status"] == "unassigned"


def test_upload_partner_routes_every_lead(partners, source):
    src = source.model_copy(update={"upload_partner": "albion"})
    out = route(leads({"country": "US"}, {"country": "CA", "partner_name": "Maple Systems"}), partners, src)
    assert list(out["partner_id"]) == ["albion", "albion"]
    assert set(out["method"]) == {"upload_partner"}
