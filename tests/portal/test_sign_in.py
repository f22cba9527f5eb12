"""Signing in to the partner portal from the link in a received email: the link works once, expires, is
only sent to a partner's users and reps, requests are rate limited, the session cookie is HttpOnly and
SameSite, and signing out ends the session even for a copy of the cookie."""

from datetime import timedelta

import pandas as pd

from leadsync.portal import auth


def test_a_partner_user_signs_in_from_the_emailed_link_and_sees_their_leads(served, browser_session):
    served.add_leads([{"first_name": "Ada", "last_name": "Lovelace", "company": "Engines", "country": "US"}])
    client = browser_session()
    sent = client.request_link("Leads@Northwind.example")
    assert sent.status_code == 200 and "sign-in link is on its way" in sent.text
    link = client.latest_link("leads@northwind.example")
    (mail,) = served.inbox.to("leads@northwind.example")
    assert mail.message["Subject"] == "Your sign-in link for the Northwind Networks partner portal"

    page = client.http.get(link)
    assert page.status_code == 200 and 'id="sign-in"' in page.text  # opening the link alone signs no one in
    assert client.http.get("/portal/leads").status_code == 303

    done = client.use_link(link)
    assert done.status_code == 303
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/portal" in cookie
    leads = client.http.get("/portal/leads")
    assert leads.status_code == 200 and "Ada Lovelace, Engines" in leads.text and "Lead Desk (admin)" in leads.text


def test_a_sign_in_link_works_once(served, browser_session):
    client = browser_session().sign_in("nora@northwind.example")  # a rep may sign in too
    again = browser_session().use_link(client.latest_link("nora@northwind.example"))
    assert again.status_code == 410 and "each link works once" in again.text


def test_an_expired_or_changed_sign_in_link_is_refused(make_served, browser_session):
    clock = {"now": pd.Timestamp.now(tz="UTC").to_pydatetime()}
    served = make_served(clock=lambda: clock["now"])
    client = browser_session(served)
    client.request_link("ops@northwind.example")
    link = client.latest_link("ops@northwind.example")
    clock["now"] += timedelta(minutes=16)  # portal.sign_in_link_ttl_minutes: 15
    expired = client.http.get(link)
    assert expired.status_code == 410 and "expired" in expired.text
    forged = client.http.get(link[:-3] + "abc")
    assert forged.status_code == 403 and "was changed" in forged.text


def test_only_a_partners_users_and_reps_are_sent_a_link(served, browser_session):
    client = browser_session()
    page = client.request_link("stranger@example.com")
    assert page.status_code == 200 and "sign-in link is on its way" in page.text  # tells nobody who is a member
    assert served.inbox.to("stranger@example.com") == []


def test_sign_in_requests_are_rate_limited_per_address(served, browser_session):
    client = browser_session()
    for _ in range(5):  # portal.sign_in_requests_per_hour: 5
        assert client.request_link("ops@northwind.example").status_code == 200
    refused = client.request_link("ops@northwind.example")
    assert refused.status_code == 429 and "requested 5 times in the last hour" in refused.text
    served.wait_for_mail(5)
    assert len(served.inbox.to("ops@northwind.example")) == 5


def test_signing_out_ends_the_session_even_for_a_copy_of_the_cookie(served, browser_session):
    client = browser_session().sign_in("leads@northwind.example")
    stolen = dict(client.http.cookies)
    out = client.post("/portal/sign-out", {})
    assert out.status_code == 200 and "You are signed out" in out.text
    assert client.http.get("/portal/leads").status_code == 303

    replay = browser_session()
    replay.http.cookies.update(stolen)
    assert replay.http.get("/portal/leads").status_code == 303


def test_admins_are_the_listed_emails_else_the_first_user(served):
    north = auth.member(served.ctx, "north", "leads@northwind.example")
    assert (north.role, auth.member(served.ctx, "north", "ops@northwind.example").role) == ("admin", "user")
    assert auth.member(served.ctx, "north", "nora@northwind.example").role == "user"
    assert auth.member(served.ctx, "blue", "leads@northwind.example") is None


def test_admins_listed_in_lifecycle_yaml_replace_the_first_user_rule(make_served):
    served = make_served(portal={"admins": {"north": ["Ops@Northwind.example"]}})
    assert auth.member(served.ctx, "north", "ops@northwind.example").role == "admin"
    assert auth.member(served.ctx, "north", "leads@northwind.example").role == "user"


def test_the_session_cookie_is_secure_when_the_portal_is_served_over_tls(served):
    from starlette.testclient import TestClient

    from leadsync.lifecycle.web import create_app

    ctx = served.ctx
    tls = ctx.settings.model_copy(update={"web": ctx.settings.web.model_copy(
        update={"base_url": "https://leads.supplier.example"})})
    app = create_app(ctx.store, ctx.partners, tls, ctx.sources, mailer=served.mailer)
    with TestClient(app, base_url="https://leads.supplier.example") as client:
        page = client.get("/portal/sign-in")
    cookie = page.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
