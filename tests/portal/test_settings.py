"""A partner admin's lead settings: stored with who and when, laid over partners.yaml for that partner only,
in force from the next lead delivered; auto-accept only with a CRM connection; a setting the supplier locks
stays partners.yaml's; only admins reach the page."""

import pandas as pd

from leadsync.lifecycle.closed_loop import eligible_partners
from leadsync.lifecycle.delivery import deliver
from leadsync.portal import overrides
from leadsync.portal.tables import partner_settings


def now():
    return pd.Timestamp.now(tz="UTC").to_pydatetime()


def last_new_lead_email(served):
    return [m for m in served.inbox.messages if m.message["Subject"].startswith("New lead")][-1]


def save(client, **fields):
    items = [(k, v) for k, vs in fields.items() for v in (vs if isinstance(vs, list) else [vs])]
    return client.post("/portal/settings", items)


def test_changed_notification_settings_take_effect_on_the_next_delivered_lead(served, browser_session):
    served.add_leads([{"first_name": "Before", "company": "One", "country": "US"}])
    deliver(served.ctx, now())
    assert sorted(last_new_lead_email(served).rcpt_tos) == ["leads@northwind.example", "nora@northwind.example"]

    admin = browser_session().sign_in("leads@northwind.example")
    done = save(admin, notification_users="ops@northwind.example", closed_loop="on", time_zone="Europe/Paris")
    assert done.status_code == 303
    page = admin.http.get("/portal/settings").text
    assert "Saved: notification_users, notified_reps, time_zone." in page
    assert "portal, by leads@northwind.example on" in page

    served.add_leads([{"first_name": "After", "company": "Two", "country": "US"}])
    deliver(served.ctx, now())
    assert last_new_lead_email(served).rcpt_tos == ["ops@northwind.example"]  # no rep ticked, ops only
    changes = served.frame(partner_settings)
    assert set(changes["setting"]) == {"notification_users", "notified_reps", "time_zone"}
    assert set(changes["changed_by"]) == {"leads@northwind.example"} and set(changes["partner_id"]) == {"north"}
    blue = served.ctx.partner("blue")
    assert [u.email for u in blue.default_users()] == ["dana@bluepeak.example"]  # other partners untouched


def test_closed_loop_opt_out_and_auto_accept_needs_a_crm(served, browser_session):
    admin = browser_session().sign_in("leads@northwind.example")
    save(admin, notification_users="leads@northwind.example", notified_reps="nora@northwind.example")
    assert "north" in eligible_partners(served.ctx)
    refused = save(admin, notification_users="leads@northwind.example", notified_reps="nora@northwind.example",
                   closed_loop="on", auto_accept="on")
    assert refused.status_code == 400 and "Auto-accept needs a connection to your CRM" in refused.text
    served.ctx.refresh_partner_settings()
    assert "north" not in eligible_partners(served.ctx)  # the first save left closed_loop unticked


def test_a_setting_the_supplier_locks_stays_as_partners_yaml_says(make_served, browser_session):
    served = make_served(portal={"locked": {"north": ["closed_loop"]}})
    admin = browser_session(served).sign_in("leads@northwind.example")
    page = admin.http.get("/portal/settings").text
    assert "locked by the supplier" in page and 'id="closed_loop" name="closed_loop" checked disabled' in page
    save(admin, notification_users="leads@northwind.example", notified_reps="nora@northwind.example")
    served.ctx.refresh_partner_settings()
    assert served.ctx.partner("north").closed_loop is True


def test_only_partner_admins_reach_the_settings(served, browser_session):
    user = browser_session().sign_in("ops@northwind.example")
    assert user.http.get("/portal/settings").status_code == 403
    assert save(user, notification_users="ops@northwind.example").status_code == 403
    assert served.frame(partner_settings).empty


def test_check_and_explain_lines_name_who_changed_what(served, browser_session):
    admin = browser_session().sign_in("leads@northwind.example")
    save(admin, notification_users="ops@northwind.example", notified_reps="nora@northwind.example",
         closed_loop="on")
    with served.store.begin() as conn:
        lines = overrides.describe(served.ctx.yaml_partners, overrides.latest_changes(conn),
                                   served.ctx.settings.portal)
    assert len(lines) == 1 and lines[0].startswith('north.notification_users = ["ops@northwind.example"] (portal, by '
                                                   "leads@northwind.example on")


def test_leadsync_check_and_explain_show_the_portal_changes(served, browser_session, project, capsys):
    import yaml
    from lifecycle_fixtures import PARTNERS

    from leadsync.cli import main

    (project / "mappings/partners.yaml").write_text(yaml.safe_dump(PARTNERS))
    (lead,) = served.add_leads([{"first_name": "Ada", "company": "Engines", "country": "US"}])
    admin = browser_session().sign_in("leads@northwind.example")
    save(admin, notification_users="ops@northwind.example", notified_reps="nora@northwind.example",
         closed_loop="on")
    mappings = str(project / "mappings")

    main(["--mappings", mappings, "check", "--store", served.store.url])
    out = capsys.readouterr().out
    assert "partner settings changed in the portal (over partners.yaml):" in out
    assert '  north.notification_users = ["ops@northwind.example"] (portal, by leads@northwind.example on' in out

    main(["--mappings", mappings, "explain", lead, "--store", served.store.url])
    assert "north.notification_users" in capsys.readouterr().out
