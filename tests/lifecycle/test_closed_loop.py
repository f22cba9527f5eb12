"""Closed-loop update requests over a real SMTP server: only accepted, open leads; only partners that did
not opt out and do not update through their CRM; to the rep when there is one; once per period."""

from datetime import timedelta

import pandas as pd

from leadsync.lifecycle.acceptance import accept_lead
from leadsync.lifecycle.closed_loop import send_closed_loop
from leadsync.lifecycle.delivery import auto_accept_routed
from leadsync.lifecycle.mail_queue import send_pending
from leadsync.lifecycle.updates import apply_update

T0 = pd.Timestamp("2026-11-02 09:00", tz="UTC").to_pydatetime()


def test_closed_loop_asks_only_the_right_owners_once_per_period(world):
    us_open, us_rep, us_closed, _routed = world.add_leads([{"country": "US", "company": c}
                                                             for c in ("Open Co", "Rep Co", "Closed Co", "New Co")])
    (gb,) = world.add_leads([{"country": "GB", "company": "Blue Co"}])
    (de,) = world.add_leads([{"country": "DE", "company": "Opted Out Co"}])  # cascade: closed_loop false
    world.add_leads([{"country": "CA", "company": "Maple Co"}])  # auto-accept: updates through its CRM
    for lead, partner in ((us_open, "north"), (us_rep, "north"), (us_closed, "north"), (gb, "blue"),
                          (de, "cascade")):
        accept_lead(world.ctx, lead, partner, T0)
    auto_accept_routed(world.ctx, T0)
    apply_update(world.ctx, "north", {"lead_id": us_rep, "rep_name": "Rita Rep", "rep_email": "rita@northwind.example"},
                 T0, "web")
    apply_update(world.ctx, "north", {"lead_id": us_closed, "sales_status": "Unqualified/Invalid"}, T0, "web")
    assert send_pending(world.ctx, T0).sent == 1  # the rep's notification
    world.inbox.messages.clear()

    report = send_closed_loop(world.ctx, T0 + timedelta(days=7))
    assert report.skipped_partners == {"maple": "auto-accept partner updating through its CRM",
                                       "cascade": "opted out (closed_loop: false)"}
    assert (report.emails_queued, report.leads_asked, report.sent) == (3, 3, 3)
    by_rcpt = {tuple(sorted(m.rcpt_tos)): m for m in world.inbox.messages}
    assert set(by_rcpt) == {("leads@northwind.example",), ("rita@northwind.example",), ("dana@bluepeak.example",)}
    desk = by_rcpt[("leads@northwind.example",)].text
    assert "Open Co" in desk and "Rep Co" not in desk and "Closed Co" not in desk and "New Co" not in desk
    assert "/lead/status?t=" in desk and "/import?t=" in desk
    assert "Rep Co" in by_rcpt[("rita@northwind.example",)].text
    assert not world.inbox.to("inbound@cascade.example") and not world.inbox.to("desk@maple.example")

    again = send_closed_loop(world.ctx, T0 + timedelta(days=7, hours=3))  # same period: nothing new
    assert again.emails_queued == 0 and len(world.inbox.messages) == 3


def test_closed_loop_can_ask_only_about_stale_leads(make_world):
    w = make_world(closed_loop={"stale_after_days": 10})
    fresh, stale = w.add_leads([{"country": "US", "company": "Fresh Co"}, {"country": "US", "company": "Stale Co"}])
    accept_lead(w.ctx, fresh, "north", T0)
    accept_lead(w.ctx, stale, "north", T0)
    apply_update(w.ctx, "north", {"lead_id": fresh, "sales_status": "Contacted"}, T0 + timedelta(days=8), "web")
    w.inbox.messages.clear()
    send_closed_loop(w.ctx, T0 + timedelta(days=12))
    (mail,) = w.inbox.messages
    assert "Stale Co" in mail.text and "Fresh Co" not in mail.text


def test_closed_loop_off_sends_nothing(make_world):
    w = make_world(closed_loop={"enabled": False})
    (lead,) = w.add_leads([{"country": "US"}])
    accept_lead(w.ctx, lead, "north", T0)
    assert send_closed_loop(w.ctx, T0 + timedelta(days=30)).emails_queued == 0
    assert w.inbox.messages == []
