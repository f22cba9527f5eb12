"""Delivery over a real SMTP server on loopback: auto-accept partners get no email and the lead is
accepted; other partners' default recipients and reps get one email per assignment with only the
partner-visible fields, the campaign, the activity history and accept/reject links."""

from datetime import timedelta

import pandas as pd
import pytest
from leadsync.connectors.loopback_ports import free_port

from leadsync.config.partners import Partner
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.acceptance import accept_lead
from leadsync.lifecycle.delivery import deliver, queue_new_lead_emails, recipients
from leadsync.lifecycle.smtp import Mailer, SmtpUnavailable
from leadsync.pull.campaign_fields import campaign_field_values
from leadsync.store import tables

T0 = pd.Timestamp("2026-11-02 09:00", tz="UTC").to_pydatetime()

US_LEAD = {"first_name": "Ada", "last_name": "Lovelace", "company": "Analytical Engines", "country": "US",
           "title": "CTO", "campaign": "Q4 Firewall Webinar", "created_at": T0 - timedelta(days=3),
           "internal_note": "SECRET-NOTE", "lead_score": "31337.75", "industry": "Manufacturing"}


def test_auto_accept_partner_gets_no_email_and_the_lead_is_accepted(world):
    (lead,) = world.add_leads([{"country": "CA", "company": "Maple Leaf Co"}])
    report = deliver(world.ctx, T0)

    assert report.auto_accepted == 1 and report.queued == 0
    assert world.inbox.messages == []
    current = world.assignment(lead)
    assert (current["status"], current["partner_id"], current["decided_by"]) == ("accepted", "maple", "auto_accept")
    statuses = world.outbox(lead)["data"].map(lambda d: d["distribution_status"]).tolist()
    assert statuses == ["Routed", "Accepted"]
    progress = world.frame(lt.lead_progress)
    assert progress.loc[0, "sales_status"] == "Not Contacted"
    assert world.events(lead)["kind"].tolist() == ["accepted"]
    # a rerun accepts nothing twice
    assert deliver(world.ctx, T0 + timedelta(minutes=5)).auto_accepted == 0


def test_partner_email_reaches_default_users_and_reps_with_only_partner_visible_fields(world):
    (lead,) = world.add_leads([US_LEAD])
    report = deliver(world.ctx, T0)

    assert (report.queued, report.sent) == (1, 1)
    (mail,) = world.inbox.messages
    assert sorted(mail.rcpt_tos) == ["leads@northwind.example", "nora@northwind.example"]  # not ops@ (not default)
    assert "Ada Lovelace, Analytical Engines" in mail.message["Subject"]
    for body in (mail.text, mail.html):
        assert "First name" in body and "Ada" in body and "Title" in body and "CTO" in body
        assert "Industry" in body and "Manufacturing" in body
        assert "Q4 Firewall Webinar" in body
        # internal-only fields never leave: neither their values nor their labels
        assert "SECRET-NOTE" not in body and "31337" not in body
        assert "Lead Score" not in body and "Internal Note" not in body and "Created Date" not in body and (T0 - timedelta(days=3)).strftime(
            "%Y-%m-%d") not in body
    assert mail.link("accept").startswith(world.base_url + "/lead/accept?t=")
    assert mail.link("reject").startswith(world.base_url + "/lead/reject?t=")
    assert "within 5 days" in mail.text
    delivered = world.frame(lt.deliveries)
    assert delivered[["kind", "lead_id", "state"]].values.tolist() == [["new_lead", lead, "sent"]]


def test_a_rerun_never_emails_the_same_assignment_twice(world):
    world.add_leads([US_LEAD, {**US_LEAD, "country": "GB"}])
    assert deliver(world.ctx, T0).sent == 2
    again = deliver(world.ctx, T0 + timedelta(hours=1))
    assert (again.queued, again.sent) == (0, 0)
    assert len(world.inbox.messages) == 2
    assert world.inbox.to("dana@bluepeak.example")  # default passed from Sales Desk (false) to Dana
    assert not world.inbox.to("sales@bluepeak.example")


def test_email_shows_the_source_campaign_its_shared_fields_and_activity_history(world):
    (lead,) = world.add_leads([{**US_LEAD, "campaign": "701X"}], route=False)
    shared = {"source": "sftp_demo", "campaign_id": "701X", "shared": True, "updated_at": T0}
    with world.store.begin() as conn:
        conn.execute(campaign_field_values.insert(), [  # pull.campaigns.fields: two shared, one internal
            {**shared, "field": "Type", "position": 0, "label": "Campaign type", "value": "Webinar"},
            {**shared, "field": "BudgetedCost", "position": 1, "label": "Budget", "value": "98765",
             "shared": False},
            {**shared, "field": "Offer__c", "position": 2, "label": "Partner offer", "value": "<b>2 for 1</b>"}])
        conn.execute(tables.leads.update().where(tables.leads.c.lead_id == lead).values(source_record_id="00Q1"))
        conn.execute(tables.campaigns.insert().values(
            source="sftp_demo", campaign_id="701X", name="Q4 Firewall Webinar", description="Live demo of the X1",
            start_date="2026-10-01", end_date="2026-10-31", updated_at=T0))
        conn.execute(tables.lead_activities.insert().values(
            source="sftp_demo", activity_id="a1", record_id="00Q1", activity_type="Visit Webpage",
            occurred_at="2026-10-20T10:00:00Z", detail="/pricing"))
    world.route()
    deliver(world.ctx, T0)
    (mail,) = world.inbox.messages
    assert "Q4 Firewall Webinar" in mail.text and "Live demo of the X1" in mail.text
    assert "Visit Webpage" in mail.text and "/pricing" in mail.text
    assert "  Campaign type: Webinar\r\n  Partner offer: <b>2 for 1</b>\r\n" in mail.text  # the YAML's order
    assert "<th align=\"left\" style=\"color:#555\">Campaign type</th><td>Webinar</td>" in mail.html
    assert "&lt;b&gt;2 for 1&lt;/b&gt;" in mail.html and "<b>2 for 1</b>" not in mail.html  # escaped
    for body in (mail.text, mail.html):  # the internal field: neither its label nor its value
        assert "Budget" not in body and "98765" not in body


def test_partner_without_anyone_to_notify_is_reported_and_waits(world):
    world.add_leads([{"country": "JP"}])
    report = deliver(world.ctx, T0)
    assert report.queued == 0 and world.inbox.messages == []
    assert any("lonely" in p and "no users or reps" in p for p in report.problems)


@pytest.mark.parametrize(("users", "expected"), [
    ([{"name": "A", "email": "a@x.example"}, {"name": "B", "email": "b@x.example"}], ["a@x.example"]),
    ([{"name": "A", "email": "a@x.example", "default": False}, {"name": "B", "email": "b@x.example"}],
     ["b@x.example"]),
    ([{"name": "A", "email": "a@x.example"}, {"name": "B", "email": "b@x.example", "default": True},
      {"name": "C", "email": "c@x.example", "default": True}], ["b@x.example", "c@x.example"]),
    ([{"name": "A", "email": "a@x.example", "default": False}], []),
])
def test_default_recipients_follow_the_first_added_rule_and_reps_are_added(users, expected):
    partner = Partner.model_validate({"id": "p", "name": "P", "users": users,
                                      "reps": [{"name": "R", "email": "r@x.example"}]})
    assert recipients(partner) == [*expected, "r@x.example"]


def test_an_smtp_outage_fails_the_run_clearly_and_the_next_run_sends_each_email_once(make_world, smtp_server):

    dead_port = free_port()
    w = make_world(smtp={"port": dead_port})
    us, gb = w.add_leads([US_LEAD, {**US_LEAD, "country": "GB"}])
    with pytest.raises(SmtpUnavailable, match=rf"cannot reach SMTP server 127.0.0.1:{dead_port}.*connection refused"):
        deliver(w.ctx, T0)
    assert set(w.frame(lt.deliveries)["state"]) == {"pending"}
    accept_lead(w.ctx, gb, "blue", T0)  # accepted meanwhile (e.g. by phone): its email must not go out

    working = Mailer(w.ctx.settings.smtp.model_copy(update={"port": smtp_server.port}))
    report = deliver(w.ctx, T0 + timedelta(hours=1), mailer=working)
    assert (report.queued, report.sent) == (0, 1)
    assert deliver(w.ctx, T0 + timedelta(hours=2), mailer=working).sent == 0
    assert [m.rcpt_tos for m in w.inbox.messages] == [["leads@northwind.example", "nora@northwind.example"]]
    states = w.frame(lt.deliveries).set_index("lead_id")["state"].to_dict()
    assert states == {us: "sent", gb: "superseded"}


def test_notifications_are_queued_the_same_on_both_stores(store_world):
    (lead,) = store_world.add_leads([US_LEAD])
    assert queue_new_lead_emails(store_world.ctx, T0) == 1
    assert queue_new_lead_emails(store_world.ctx, T0) == 0
    row = store_world.frame(lt.deliveries).iloc[0]
    assert (row["lead_id"], row["recipients"]) == (lead, "leads@northwind.example, nora@northwind.example")
    assert "Analytical Engines" in row["body_text"] and "31337" not in row["body_text"]
