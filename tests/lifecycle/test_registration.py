"""Partner auto-registration: per partner mode off (default), supplier-managed or own rules; rules AND inside
a group, groups OR; ignored companies never registered; registered leads queued for the supplier's source,
once."""

import pandas as pd
import pytest

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.events import LifecycleError
from leadsync.lifecycle.registration import register_partner_leads

T0 = pd.Timestamp("2026-11-02 09:00", tz="UTC").to_pydatetime()

RULES = {
    "target_source": "sftp_demo",
    "ignored_companies": ["Supplier Inc."],
    "ignored_email_domains": ["supplier.example"],
    "supplier_rules": [
        {"name": "territory and product", "rules": [
            {"field": "country", "op": "in", "partner_attribute": "countries"},
            {"field": "products", "op": "contains_any", "value": ["Firewall", "SD-WAN"]}]},
        {"name": "blue only big deals", "partners": ["blue"], "rules": [
            {"field": "employees", "op": "range", "value": ["1000", "1000000"]}]},
    ],
    "modes": {"north": "own_rules", "blue": "supplier_managed"},
    "partner_rules": {"north": [
        {"name": "enterprise", "rules": [{"field": "lead_type", "op": "equals", "value": "Enterprise"}]}]},
}


def decisions(report) -> dict:
    return {d["reference"]: (d["decision"], d["matched_by"]) for d in report.decisions}


def test_each_partner_registers_by_the_one_set_of_rules_its_mode_names(make_world):
    w = make_world(auto_registration=RULES)
    leads = [
        {"reference": "n1", "country": "US", "products": "Firewall;Endpoint"},  # supplier group only: not north's
        {"reference": "n3", "country": "JP", "products": "Firewall", "lead_type": "Enterprise"},  # own group
        {"reference": "n4", "country": "GB", "lead_type": "SMB"},
        {"reference": "n5", "lead_type": "Enterprise", "company": "SUPPLIER INC"},  # supplier's ignored list
        {"reference": "n6", "lead_type": "Enterprise", "email": "x@supplier.example"},  # ignored domain
    ]
    report = register_partner_leads(w.ctx, "north", leads, T0)  # own_rules
    assert decisions(report) == {
        "n1": ("not_matched", None), "n3": ("registered", "partner:enterprise"), "n4": ("not_matched", None),
        "n5": ("ignored", None), "n6": ("ignored", None)}
    assert (report.registered, report.not_matched, report.ignored) == (1, 2, 2)

    blue = register_partner_leads(w.ctx, "blue", [  # supplier_managed: AND inside a group, OR between groups
        {"reference": "b1", "country": "GB", "products": "Firewall;Endpoint"},
        {"reference": "b2", "country": "GB", "products": "Endpoint"},  # product rule fails (AND)
        {"reference": "b3", "country": "DE", "employees": "5000"},  # the blue-only group
        {"reference": "b4", "country": "US", "lead_type": "Enterprise"}], T0)  # north's own group: not blue's
    assert decisions(blue) == {"b1": ("registered", "supplier:territory and product"), "b2": ("not_matched", None),
                               "b3": ("registered", "supplier:blue only big deals"), "b4": ("not_matched", None)}

    off = register_partner_leads(w.ctx, "cascade", [{"reference": "c1", "country": "DE", "products": "Firewall"}], T0)
    assert decisions(off) == {"c1": ("not_matched", None)}  # no mode chosen: off
    assert off.decisions[0]["reason"] == "auto-registration is off for Cascade Secure (lifecycle.yaml)"

    outbox = w.outbox()
    assert sorted(outbox["lead_id"]) == ["blue:b1", "blue:b3", "north:n3"]
    assert set(outbox["kind"]) == {"registration"} and set(outbox["source"]) == {"sftp_demo"}

    again = register_partner_leads(w.ctx, "blue", [{"reference": "b1", "country": "GB", "products": "Firewall"},
                                                  {"reference": "b2", "country": "GB", "products": "SD-WAN"}], T0)
    assert decisions(again)["b2"] == ("registered", "supplier:territory and product")  # decided again, now matches
    assert len(w.outbox()) == 4
    assert len(w.frame(lt.partner_registrations)) == 10


def test_a_star_mode_applies_to_every_partner_not_listed(make_world):
    w = make_world(auto_registration={**RULES, "modes": {"*": "supplier_managed", "blue": "off"}})
    lead = [{"reference": "x", "country": "FR", "products": "SD-WAN"}]
    assert decisions(register_partner_leads(w.ctx, "north", lead, T0)) == {
        "x": ("registered", "supplier:territory and product")}
    assert decisions(register_partner_leads(w.ctx, "blue", lead, T0)) == {"x": ("not_matched", None)}


def test_registration_input_errors_name_the_problem(make_world):
    w = make_world(auto_registration=RULES)
    with pytest.raises(LifecycleError, match="no 'reference'"):
        register_partner_leads(w.ctx, "north", [{"country": "US"}], T0)
    with pytest.raises(LifecycleError, match="sent twice"):
        register_partner_leads(w.ctx, "north", [{"reference": "a"}, {"reference": "a"}], T0)
    with pytest.raises(LifecycleError, match="not a partner id"):
        register_partner_leads(w.ctx, "nobody", [{"reference": "a"}], T0)
