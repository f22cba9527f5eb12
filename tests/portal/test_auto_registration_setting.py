"""Auto-registration as a partner setting: off by default, supplier-managed or the partner's own rule groups
(AND inside a group, OR between groups) and its own ignored companies, chosen in the portal and in force
for the next lead the partner creates through the API; a lock keeps lifecycle.yaml's; `leadsync check`
shows a mode chosen in the portal, `leadsync explain` the lead's partner's mode in force and where it came
from."""

import httpx
import pandas as pd
import pytest

from leadsync.lifecycle.links import issue_api_key
from leadsync.portal import overrides
from leadsync.portal.tables import partner_settings

REGISTRATION = {"target_source": "sftp_demo", "ignored_companies": ["Supplier Inc"],
                "supplier_rules": [{"name": "territory", "rules": [
                    {"field": "country", "op": "in", "partner_attribute": "countries"}]}]}
LEADS = [{"reference": "E-1", "company": "Acme", "country": "JP", "lead_type": "Enterprise"},
         {"reference": "E-2", "company": "Rival Corp", "country": "JP", "lead_type": "Enterprise"},
         {"reference": "E-3", "company": "Smallco", "country": "US", "lead_type": "SMB"},
         {"reference": "E-4", "company": "Supplier Inc", "country": "US", "lead_type": "Enterprise"}]
OWN_RULES = {"auto_registration": "own_rules", "rg-present": "1", "rg-0-name": "big in asia",
             "rg-0-0-field": "lead_type", "rg-0-0-op": "equals", "rg-0-0-value": "Enterprise",
             "rg-0-1-field": "country", "rg-0-1-op": "in", "rg-0-1-value": "JP, KR",
             "rg-1-name": "us", "rg-1-0-field": "country", "rg-1-0-op": "equals", "rg-1-0-value": "CA",
             "ignored_companies": "Rival Corp\n\n", "ignored_email_domains": "@rival.example"}


def now():
    return pd.Timestamp.now(tz="UTC").to_pydatetime()


def create_leads(world, leads) -> dict:
    key = issue_api_key(world.ctx, "north", now())
    answer = httpx.post(f"{world.base_url}/api/v1/leads", headers={"Authorization": f"Bearer {key}"},
                        json={"leads": leads}, trust_env=False, timeout=10)
    assert answer.status_code == 200, answer.text
    return {d["reference"]: (d["decision"], d["matched_by"]) for d in answer.json()["decisions"]}


def save(client, fields: dict):
    base = {"notification_users": "leads@northwind.example", "notified_reps": "nora@northwind.example",
            "closed_loop": "on"}
    return client.post("/portal/settings", {**base, **fields})


@pytest.fixture
def world(make_served):
    return make_served(auto_registration=REGISTRATION)


def test_off_by_default_then_the_partners_own_rules_decide_its_next_leads(world, browser_session):
    before = create_leads(world, LEADS[:1])
    assert before == {"E-1": ("not_matched", None)}  # off: nothing registered, whatever the rules

    admin = browser_session(world).sign_in("leads@northwind.example")
    page = admin.http.get("/portal/settings").text
    assert 'id="mode-off" value="off" checked' in page and '<strong>territory</strong>: country' in page
    assert save(admin, OWN_RULES).status_code == 303

    assert create_leads(world, LEADS) == {
        "E-1": ("registered", "partner:big in asia"),  # both rules of the group hold
        "E-2": ("ignored", None),  # the partner's own ignored company
        "E-3": ("not_matched", None),  # US matches the supplier's territory, but the partner chose its own
        "E-4": ("ignored", None)}  # the supplier's list holds whatever the partner chose
    assert world.outbox()["lead_id"].tolist() == ["north:E-1"]

    page = admin.http.get("/portal/settings").text
    assert 'id="mode-own_rules" value="own_rules" checked' in page
    assert 'id="rg-0-1-value" name="rg-0-1-value" type="text" value="JP, KR"' in page  # saved rules shown again
    assert ">Rival Corp</textarea>" in page and ">rival.example</textarea>" in page
    changes = world.frame(partner_settings)
    assert set(changes["setting"]) >= {"auto_registration", "registration_rules", "ignored_companies",
                                       "ignored_email_domains"}

    assert save(admin, {"auto_registration": "supplier_managed"}).status_code == 303
    assert create_leads(world, [{**LEADS[2], "reference": "E-5"}]) == {"E-5": ("registered", "supplier:territory")}


def test_a_rule_group_that_cannot_work_is_refused_with_the_reason(world, browser_session):
    admin = browser_session(world).sign_in("leads@northwind.example")
    refused = save(admin, {"auto_registration": "own_rules", "rg-present": "1", "rg-0-name": "sizes",
                           "rg-0-0-field": "employees", "rg-0-0-op": "range", "rg-0-0-value": "100"})
    assert refused.status_code == 400
    assert "Rule group 1 (sizes)" in refused.text and "range" in refused.text
    assert world.frame(partner_settings).empty  # nothing of the form saved


def test_a_locked_mode_stays_lifecycle_yamls(make_served, browser_session):
    world = make_served(auto_registration={**REGISTRATION, "modes": {"north": "supplier_managed"}},
                        portal={"locked": {"north": ["auto_registration"]}})
    admin = browser_session(world).sign_in("leads@northwind.example")
    page = admin.http.get("/portal/settings").text
    assert 'id="mode-supplier_managed" value="supplier_managed" checked disabled' in page
    assert "locked by the supplier (lifecycle.yaml)" in page
    save(admin, OWN_RULES)  # the disabled radio is not sent; own rules and lists are saved
    assert create_leads(world, LEADS[2:3]) == {"E-3": ("registered", "supplier:territory")}


def test_check_lines_show_the_mode_in_force_and_where_it_came_from(world, browser_session):
    lines = overrides.stored_lines(world.store.url, world.ctx.yaml_partners, world.ctx.settings.portal)
    assert not any(".auto_registration" in line for line in lines)  # every partner off (lifecycle.yaml)
    admin = browser_session(world).sign_in("leads@northwind.example")
    save(admin, OWN_RULES)
    lines = overrides.stored_lines(world.store.url, world.ctx.yaml_partners, world.ctx.settings.portal, "north")
    assert any(line.startswith('north.auto_registration = "own_rules" (portal, by leads@northwind.example on')
               for line in lines)
    assert any(line.startswith('north.ignored_companies = ["Rival Corp"] (portal') for line in lines)


def test_leadsync_explain_shows_a_mode_set_in_lifecycle_yaml(served, project, capsys):
    import yaml
    from lifecycle_fixtures import PARTNERS

    from leadsync.cli import main

    (project / "mappings/partners.yaml").write_text(yaml.safe_dump(PARTNERS))
    path = project / "mappings/lifecycle.yaml"
    data = yaml.safe_load(path.read_text())
    data["auto_registration"].update(modes={"cascade": "supplier_managed"}, partner_rules={})
    path.write_text(yaml.safe_dump(data))
    (lead,) = served.add_leads([{"first_name": "Ada", "company": "Engines", "country": "DE"}])  # to cascade
    main(["--mappings", str(project / "mappings"), "explain", lead, "--store", served.store.url])
    assert '  cascade.auto_registration = "supplier_managed" (lifecycle.yaml)' in capsys.readouterr().out
