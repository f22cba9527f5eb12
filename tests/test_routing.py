"""The routing engine, step by step, with hand-computed expectations."""

from pathlib import Path

import pandas as pd
import pytest

from leadsync.config import ConfigError, load_partners, load_source
from leadsync.config.schema import PartnersConfig
from leadsync.routing.engine import RoutingState, route
from leadsync.routing.round_robin import allocate, sequence

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ("email", "company", "account_id", "country", "state", "postal_code", "products", "lead_type",
           "partner_name")


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


def config(partners: list[dict], **routing) -> PartnersConfig:
    return PartnersConfig.model_validate({"partners": partners, "routing": routing})


def run(cfg: PartnersConfig, frame: pd.DataFrame, source, state: RoutingState | None = None) -> pd.DataFrame:
    return route(frame, cfg, source, state or RoutingState()).decisions


def group(name: str, *rules: dict, partners: list[str] | None = None) -> dict:
    return {"name": name, "rules": list(rules), **({"partners": partners} if partners else {})}


US_PARTNERS = [
    {"id": "a", "name": "Alpha", "countries": ["US"], "states": ["CA", "WA"], "products": ["Firewall"]},
    {"id": "b", "name": "Bravo", "countries": ["US"], "states": ["NY"], "products": ["Endpoint", "Firewall"]},
    {"id": "c", "name": "Charlie", "countries": ["CA"], "reps": [{"name": "Cleo", "email": "cleo@charlie.example"}]},
]
TERRITORY = group("territory",
                  {"field": "country", "op": "in", "partner_attribute": "countries"},
                  {"field": "state", "op": "in", "partner_attribute": "states"})


# ------------------------------------------------------------------------------ precedence


def test_protected_account_beats_a_named_partner_and_the_rules(source):
    cfg = config(US_PARTNERS, rule_groups=[TERRITORY], protected_accounts=[
        {"account_id": "ACC-1", "partner": "c", "rep": "cleo@charlie.example"},
        {"company": "Initech  Corp", "partner": "b"},
        {"email_domain": "hooli.example", "partner": "c"},
    ])
    out = run(cfg, leads(
        {"account_id": "acc-1", "country": "US", "state": "CA", "partner_name": "Alpha"},
        {"company": "initech corp", "country": "US", "state": "CA"},
        {"email": "gavin@Hooli.example", "country": "US", "state": "CA"},
        {"company": "Other", "country": "US", "state": "CA"},
    ), source)
    assert out[["partner_id", "step"]].values.tolist() == [
        ["c", "protected_account"], ["b", "protected_account"], ["c", "protected_account"], ["a", "rule_group"]]
    assert out.loc[0, "rep_email"] == "cleo@charlie.example" and out.loc[0, "rep_name"] == "Cleo"
    assert "protected for Charlie, rep Cleo" in out.loc[0, "reason"]


def test_an_open_account_competes_as_normal(source):
    cfg = config(US_PARTNERS, rule_groups=[TERRITORY],
                 protected_accounts=[{"company": "Initech", "partner": "c", "open": True}])
    out = run(cfg, leads({"company": "Initech", "country": "US", "state": "NY"}), source)
    assert (out.loc[0, "partner_id"], out.loc[0, "step"]) == ("b", "rule_group")


def test_account_protected_for_an_inactive_partner_goes_to_review(source):
    partners = [*US_PARTNERS[:2], {**US_PARTNERS[2], "active": False}]
    cfg = config(partners, protected_accounts=[{"account_id": "X", "partner": "c"}])
    out = run(cfg, leads({"account_id": "X"}), source)
    assert out.loc[0, "status"] == "needs_review" and "inactive" in out.loc[0, "reason"]


def test_partner_named_on_the_lead_wins_over_rules(source):
    cfg = config(US_PARTNERS, rule_groups=[TERRITORY])
    out = run(cfg, leads({"country": "US", "state": "CA", "partner_name": " bravo "}), source)
    assert out.loc[0, ["partner_id", "status", "step"]].tolist() == ["b", "routed", "named_partner"]


def test_unknown_partner_name_is_an_error_for_that_lead_not_a_fallback(source):
    cfg = config(US_PARTNERS, rule_groups=[TERRITORY], default_partner="a")
    out = run(cfg, leads({"country": "US", "state": "CA", "partner_name": "Acme Ltd"},
                         {"country": "US", "state": "CA"}), source)
    assert out.loc[0, "status"] == "needs_review" and out.loc[0, "partner_id"] is None
    assert "'Acme Ltd'" in out.loc[0, "reason"] and "not a known partner" in out.loc[0, "reason"]
    assert out.loc[1, "partner_id"] == "a"


def test_upload_partner_routes_every_lead(source):
    src = source.model_copy(update={"upload_partner": "b"})
    out = run(config(US_PARTNERS, rule_groups=[TERRITORY]), leads({"country": "US", "state": "CA"}, {}), src)
    assert out["partner_id"].tolist() == ["b", "b"] and set(out["step"]) == {"upload_partner"}


def test_the_first_matching_group_wins_and_groups_are_or(source):
    cfg = config(US_PARTNERS, rule_groups=[
        group("enterprise", {"field": "lead_type", "op": "equals", "value": "Enterprise"}, partners=["b"]),
        TERRITORY,
    ])
    out = run(cfg, leads({"country": "US", "state": "CA", "lead_type": "Enterprise"},
                         {"country": "US", "state": "CA", "lead_type": "SMB"}), source)
    assert out["partner_id"].tolist() == ["b", "a"]
    assert out["rule_group"].tolist() == ["enterprise", "territory"]


def test_default_partner_then_unassigned(source):
    out = run(config(US_PARTNERS, rule_groups=[TERRITORY], default_partner="c"), leads({"country": "FR"}), source)
    assert out.loc[0, ["partner_id", "step"]].tolist() == ["c", "default_partner"]
    out = run(config(US_PARTNERS, rule_groups=[TERRITORY]), leads({"country": "FR"}), source)
    assert out.loc[0, ["partner_id", "status", "step"]].tolist() == [None, "unassigned", "none"]


def test_an_empty_rules_file_sends_everything_to_the_default_or_the_queue(source):
    assert run(config(US_PARTNERS), leads({"country": "US"}), source)["status"].tolist() == ["unassigned"]
    assert run(config(US_PARTNERS, default_partner="a"), leads({"country": "US"}), source)["partner_id"].tolist() == ["a"]


# ------------------------------------------------------------------------------ operators


def one_rule_partner(rule: dict) -> PartnersConfig:
    return config([{"id": "p", "name": "P"}], rule_groups=[group("g", rule)])


@pytest.mark.parametrize(("rule", "values", "expected"), [
    ({"field": "country", "op": "equals", "value": "us"}, ["US", " us ", "CA", None], [1, 1, 0, 0]),
    ({"field": "country", "op": "in", "value": ["US", "CA"]}, ["US", "CA", "GB", None], [1, 1, 0, 0]),
    ({"field": "country", "op": "not_in", "value": ["US", "CA"]}, ["US", "GB", "DE", None], [0, 1, 1, 0]),
    ({"field": "postal_code", "op": "prefix", "value": ["941", "SW"]}, ["94105", "94205", "SW1A 1AA", None], [1, 0, 1, 0]),
    ({"field": "postal_code", "op": "range", "value": ["94000", "94999"]}, ["94105", "95001", "93999", "abc"], [1, 0, 0, 0]),
    ({"field": "postal_code", "op": "range", "value": ["SW1", "SW3"]}, ["SW1A 1AA", "SW3 4AA", "SW9 1AA", "EC1"], [1, 1, 0, 0]),
    ({"field": "products", "op": "contains_any", "value": ["SD-WAN", "Endpoint"]},
     ["Firewall;SD-WAN", "Firewall", "endpoint", None], [1, 0, 1, 0]),
    ({"field": "state", "op": "is_empty"}, [None, "", "  ", "CA"], [1, 1, 1, 0]),
])
def test_literal_operators(source, rule, values, expected):
    frame = leads(*[{rule["field"]: v} for v in values])
    out = run(one_rule_partner(rule), frame, source)
    assert (out["partner_id"] == "p").astype(int).tolist() == expected


def test_postal_code_ranges_and_prefixes_as_partner_attributes(source):
    cfg = config([{"id": "london", "name": "London", "postal_codes": ["EC", "SW1-SW3"]},
                  {"id": "bay", "name": "Bay", "postal_codes": ["94000-94199", "950"]}],
                 rule_groups=[group("postcodes", {"field": "postal_code", "op": "range",
                                                  "partner_attribute": "postal_codes"})])
    out = run(cfg, leads(*[{"postal_code": v} for v in
                           ["EC1A 1BB", "SW2 4AA", "SW9 1AA", "94105", "94200", "95014", None]]), source)
    assert out["partner_id"].tolist() == ["london", "london", None, "bay", None, "bay", None]


def test_multi_picklist_products_against_partner_products(source):
    cfg = config(US_PARTNERS[:2], rule_groups=[group("products", {"field": "products", "op": "contains_any",
                                                                  "partner_attribute": "products"})])
    out = run(cfg, leads({"products": "Endpoint;Email Security"}, {"products": "Cloud"}), source)
    assert out["partner_id"].tolist() == ["b", None]


# ------------------------------------------------------------------------------ required / optional


def test_required_optional_and_plain_rules_on_an_empty_field(source):
    def outcome(flag: dict) -> list:
        rule = {"field": "state", "op": "in", "partner_attribute": "states", **flag}
        cfg = config(US_PARTNERS, rule_groups=[group("g", {"field": "country", "op": "in",
                                                           "partner_attribute": "countries"}, rule)],
                     default_partner="c")
        out = run(cfg, leads({"country": "US", "state": None}, {"country": "US", "state": "NY"}), source)
        return out[["status", "partner_id"]].values.tolist()

    # plain: the rule fails, the group does not match, the default partner takes it
    assert outcome({}) == [["routed", "c"], ["routed", "b"]]
    # required: manual review, naming the group and the field
    assert outcome({"required": True}) == [["needs_review", None], ["routed", "b"]]
    # optional: the rule is skipped; both US partners (a, b) remain and round robin picks the first
    assert outcome({"optional": True}) == [["routed", "a"], ["routed", "b"]]


def test_review_reason_names_group_and_field(source):
    cfg = config(US_PARTNERS, rule_groups=[group("territory", {"field": "state", "op": "in",
                                                               "partner_attribute": "states", "required": True})])
    out = run(cfg, leads({"country": "US"}), source)
    assert "rule group 'territory' requires state" in out.loc[0, "reason"]


# ------------------------------------------------------------------------------ round robin


def test_weighted_sequence_is_smooth_and_exact():
    assert sequence([2, 1, 1]).tolist() == [0, 1, 2, 0]
    assert sequence([3, 1]).tolist() == [0, 0, 1, 0]
    assert sequence([1, 1, 1]).tolist() == [0, 1, 2]


def test_round_robin_shares_by_weight_and_continues_from_the_stored_pointer(source):
    partners = [{"id": "a", "name": "A", "countries": ["US"], "weight": 2},
                {"id": "b", "name": "B", "countries": ["US"]},
                {"id": "c", "name": "C", "countries": ["US"]}]
    cfg = config(partners, rule_groups=[group("us", {"field": "country", "op": "in", "partner_attribute": "countries"})])
    state = RoutingState()
    first = route(leads(*[{"country": "US"}] * 6), cfg, source, state)
    assert first.decisions["partner_id"].tolist() == ["a", "b", "c", "a", "a", "b"]
    assert first.decisions["rr_slot"].tolist() == [0, 1, 2, 3, 0, 1]
    ((_key, (next_slot, members)),) = first.positions.items()
    assert (next_slot, members) == (2, "a:2,b:1,c:1")
    second = route(leads(*[{"country": "US"}] * 3), cfg, source, state)
    assert second.decisions["partner_id"].tolist() == ["c", "a", "a"]


def test_capacity_is_respected_and_full_partners_are_skipped(source):
    partners = [{"id": "a", "name": "A", "countries": ["US"], "capacity": 3},
                {"id": "b", "name": "B", "countries": ["US"], "capacity": 1},
                {"id": "c", "name": "C", "countries": ["US"], "active": False}]
    cfg = config(partners, rule_groups=[group("us", {"field": "country", "op": "in", "partner_attribute": "countries"})])
    state = RoutingState(open_leads={"a": 1})  # a holds one open lead already: room for 2 more
    out = route(leads(*[{"country": "US"}] * 5), cfg, source, state).decisions
    assert out["partner_id"].tolist() == ["a", "b", "a", None, None]
    assert out["status"].tolist()[3:] == ["unassigned", "unassigned"]


def test_allocation_skips_full_partners_and_advances_the_pointer():
    alloc = allocate(5, [1, 1, 1], start=1, room=[10, 0, 10])
    assert alloc.partner_pos.tolist() == [2, 0, 2, 0, 2]
    assert alloc.next_slot == 0  # after slot 2 comes slot 0


def test_rerouting_never_returns_to_a_partner_that_had_the_lead(source):
    cfg = config(US_PARTNERS, rule_groups=[group("us", {"field": "country", "op": "in",
                                                        "partner_attribute": "countries"})], default_partner="a")
    frame = leads({"country": "US"}, {"country": "US"})
    state = RoutingState(excluded={"L0": {"a"}, "L1": {"a", "b"}})
    out = run(cfg, frame, source, state)
    assert out["partner_id"].tolist() == ["b", None]
    assert out.loc[1, "status"] == "unassigned"


def test_same_input_routes_the_same_way(source):
    cfg = config(US_PARTNERS, rule_groups=[group("us", {"field": "country", "op": "in",
                                                        "partner_attribute": "countries"})])
    frame = leads(*[{"country": c} for c in ["US", "CA", "US", "US", "CA", "US"]])
    assert run(cfg, frame, source).equals(run(cfg, frame, source))


# ------------------------------------------------------------------------------ configuration


def test_config_errors_name_the_account_and_the_fix(tmp_path):
    bad = tmp_path / "partners.yaml"
    bad.write_text("partners:\n  - {id: a, name: A, reps: [{name: R, email: r@a.example}]}\n"
                   "routing:\n  protected_accounts:\n    - {company: Initech, partner: zz}\n")
    with pytest.raises(ConfigError, match="protected account company='initech' names unknown partner 'zz'"):
        load_partners(bad)
    bad.write_text("partners:\n  - {id: a, name: A}\nrouting:\n  rule_groups:\n"
                   "    - name: g\n      rules: [{field: state, op: in, value: [CA], required: true, optional: true}]\n")
    with pytest.raises(ConfigError, match="cannot be both required and optional"):
        load_partners(bad)


def test_protected_accounts_can_live_in_a_csv(tmp_path, source):
    (tmp_path / "accounts.csv").write_text("account_id,company,email_domain,partner,rep,open\n"
                                           "A-1,,,a,r@a.example,\n,Initech,,a,,yes\n")
    (tmp_path / "partners.yaml").write_text(
        "partners:\n  - {id: a, name: A, reps: [{name: R, email: r@a.example}]}\n"
        "routing:\n  protected_accounts_file: accounts.csv\n")
    cfg = load_partners(tmp_path / "partners.yaml")
    assert [(a.key, a.open) for a in cfg.routing.protected_accounts] == [
        (("account_id", "a-1"), False), (("company", "initech"), True)]
    (tmp_path / "accounts.csv").write_text("account_id,partner\nA-1,nobody\n")
    with pytest.raises(ConfigError, match="unknown partner 'nobody'"):
        load_partners(tmp_path / "partners.yaml")
    (tmp_path / "accounts.csv").write_text("account,partner\nA-1,a\n")
    with pytest.raises(ConfigError, match=r"unknown columns \['account'\]"):
        load_partners(tmp_path / "partners.yaml")
