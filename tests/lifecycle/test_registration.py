"""Partner auto-registration: rules AND inside a group, groups OR, the partner's groups or the supplier's,
ignored companies never registered; registered leads queued for the supplier's source, once."""

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
    "partner_rules": {"north": [
        {"name": "enterprise", "rules": [{"field": "lead_type", "op": "equals", "value": "Enterprise"}]}]},
}


def decisions(report) -> dict:
    return {d["reference"]: (d["decision"], d["matched_by"]) for d in report.decisions}


def test_rule_groups_and_inside_or_between_partner_or_supplier(make_world):
    w = make_world(auto_registration=RULES)
    leads = [
        {"reference": "n1", "country": "US", "products": "Firewall;Endpoint"},  # supplier group: both rules
        {"reference": "n2", "country": "US", "products": "Endpoint"},  # product rule fails (AND)
        {"reference": "n3", "country": "JP", "products": "Firewall", "lead_type": "Enterprise"},  # partner group
        {"reference": "n4", "country": "GB", "products": "SD-WAN"},  # GB is not north's country
        {"reference": "n5", "country": "US", "products": "Firewall", "company": "SUPPLIER INC"},  # ignored
        {"reference": "n6", "country": "US", "products": "Firewall", "email": "x@supplier.example"},  # ignored
        {"reference": "n7", "country": "US", "employees": "5000"},  # blue-only group does not apply to north
    ]
    report = register_partner_leads(w.ctx, "north", leads, T0)
    assert decisions(report) == {
        "n1": ("registered", "supplier:territory and product"), "n2": ("not_matched", None),
        "n3": ("registered", "partner:enterprise"), "n4": ("not_matched", None),
        "n5": ("ignored", None), "n6": ("ignored", None), "n7": ("not_matched", None)}
    assert (report.registered, report.not_matched, report.ignored) == (2, 3, 2)

    blue = register_partner_leads(w.ctx, "blue", [{"reference": "b1", "country": "DE", "employees": "5000"}], T0)
    assert decisions(blue) == {"b1": ("registered", "supplier:blue only big deals")}

    outbox = w.outbox()
    assert sorted(outbox["lead_id"]) == ["blue:b1", "north:n1", "north:n3"]
    assert set(outbox["kind"]) == {"registration"} and set(outbox["source"]) == {"sftp_demo"}

    again = register_partner_leads(w.ctx, "north", [{"reference": "n1", "country": "US", "products": "Firewall"},
                                                   {"reference": "n2", "country": "US", "products": "SD-WAN"}], T0)
    assert decisions(again)["n2"] == ("registered", "supplier:territory and product")  # decided again, now matches
    assert len(w.outbox()) == 4
    assert len(w.frame(lt.partner_registrations)) == 8


def test_registration_input_errors_name_the_problem(make_world):
    w = make_world(auto_registration=RULES)
    with pytest.raises(LifecycleError, match="no 'reference'"):
        register_partner_leads(w.ctx, "north", [{"country": "US"}], T0)
    with pytest.raises(LifecycleError, match="sent twice"):
        register_partner_leads(w.ctx, "north", [{"reference": "a"}, {"reference": "a"}], T0)
    with pytest.raises(LifecycleError, match="not a partner id"):
        register_partner_leads(w.ctx, "nobody", [{"reference": "a"}], T0)
