"""Emails in the recipient's language and the partner's time zone: rep notifications in the rep's own
portal language (else the partner's), closed-loop requests in the partner's language with times in its
zone; portal errors and bulk outcomes in the member's language."""

from datetime import timedelta

import pandas as pd

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.closed_loop import send_closed_loop
from leadsync.lifecycle.delivery import deliver


def now():
    return pd.Timestamp.now(tz="UTC").floor("s").to_pydatetime()


def subjects_to(world, address: str) -> list[str]:
    return [m.message["Subject"] for m in world.inbox.to(address)]


def test_rep_and_closed_loop_emails_follow_the_recipients_language_and_the_partners_zone(served, browser_session):
    start = now()  # the portal's clock is the real one: leads, delivery and the accept happen from here on
    admin = browser_session().sign_in("leads@northwind.example")
    admin.post("/portal/settings", [("notification_users", "leads@northwind.example"), ("closed_loop", "on"),
                                    ("notified_reps", "nora@northwind.example"), ("language_default", "de"),
                                    ("time_zone", "Asia/Tokyo")])
    first, second = served.add_leads([{"first_name": "Ada", "company": "Engines", "country": "US"},
                                      {"first_name": "Bo", "company": "Gears", "country": "US"}], at=start)
    deliver(served.ctx, start)
    admin.post("/portal/leads/bulk", [("action", "accept"), ("lead_id", first), ("lead_id", second)])

    admin.post("/portal/leads/bulk", [("action", "rep"), ("rep", "nora@northwind.example"), ("lead_id", first)])
    assert subjects_to(served, "nora@northwind.example")[-1] == "Ihnen zugewiesener Lead: Ada, Engines"  # partner's

    rep = browser_session().sign_in("nora@northwind.example")  # the rep chooses Spanish for herself
    rep.post("/portal/language", {"language": "es", "next": "/portal/leads"})
    admin.post("/portal/leads/bulk", [("action", "rep"), ("rep", "nora@northwind.example"), ("lead_id", second)])
    assert subjects_to(served, "nora@northwind.example")[-1] == "Lead asignado a usted: Bo, Gears"

    send_closed_loop(served.ctx, now() + timedelta(days=8))
    (request,) = [m for m in served.inbox.to("nora@northwind.example") if "lead(s)" in m.message["Subject"]]
    assert request.message["Subject"] == "Actualice sus 2 lead(s) abierto(s)"  # the rep's language
    accepted_at = served.frame(lt.lead_progress, lt.lead_progress.c.lead_id == first)["accepted_at"].iloc[0]
    tokyo = pd.Timestamp(accepted_at).tz_localize("UTC") if pd.Timestamp(accepted_at).tzinfo is None \
        else pd.Timestamp(accepted_at)
    assert f"{tokyo.tz_convert('Asia/Tokyo'):%d %b %Y %H:%M} JST" in request.text  # in the partner's zone


def test_portal_errors_and_bulk_outcomes_are_in_the_members_language(served, browser_session):
    (lead,) = served.add_leads([{"first_name": "Ada", "company": "Engines", "country": "US"}], at=now())
    user = browser_session().sign_in("ops@northwind.example")
    user.post("/portal/language", {"language": "fr", "next": "/portal/leads"})
    user.post("/portal/leads/bulk", [("action", "accept")])
    assert "Sélectionnez au moins un lead." in user.http.get("/portal/leads").text
    user.post("/portal/leads/bulk", [("action", "accept"), ("lead_id", lead), ("lead_id", "sftp_demo-nope")])
    page = user.http.get("/portal/leads").text
    assert "Vous avez accepté ce lead pour Northwind Networks." in page
    assert "pas l’un de vos leads (ou il ne vous est plus attribué)" in page
    user.post("/portal/leads/bulk", [("action", "status"), ("sales_status", "Unqualified/Invalid"), ("lead_id", lead)])
    user.post("/portal/leads/bulk", [("action", "status"), ("sales_status", "Contacted"), ("lead_id", lead)])
    page = user.http.get("/portal/leads?status=all").text
    assert "le lead est clos (Unqualified/Invalid) : son statut commercial ne peut plus changer" in page

    admin = browser_session().sign_in("leads@northwind.example")
    admin.post("/portal/language", {"language": "de", "next": "/portal/settings"})
    refused = admin.post("/portal/settings", [("notification_users", "leads@northwind.example"),
                                              ("time_zone", "Mars/Olympus")])
    assert refused.status_code == 400 and "„Mars/Olympus“ ist keine Zeitzone" in refused.text
