"""Lead aging on a frozen clock across a weekend, for partners in two time zones with business days:
reminders before the acceptance window ends, withdrawal and its notice, escalation of leads nobody took,
and the lead-age report. Real SMTP on loopback; each email once, however often the steps run.

Hand computation. Both partners work mon–fri and have 2 days to accept; the reminder comes 1 day before.
Leads are routed on Friday 6 Nov 2026 at 23:30 UTC (after both zones left summer time):
- Berlin (CET, UTC+1): it is already Saturday 00:30, a day off, so counting starts Monday 00:00; the
  window ends Wednesday 00:00 CET = Tue 10 Nov 23:00 UTC; the reminder is due Tuesday 00:00 CET =
  Mon 9 Nov 23:00 UTC.
- New York (EST, UTC−5): Friday 18:30; day 1 ends Monday 18:30, day 2 Tuesday 18:30 EST = Tue 10 Nov
  23:30 UTC; the reminder is due Monday 18:30 EST = Mon 9 Nov 23:30 UTC.
Counted in plain UTC days, both leads would have timed out on Sunday 8 Nov at 23:30 UTC.
"""

from datetime import UTC, datetime

import pytest

from leadsync.assign import reroute_overdue
from leadsync.config.partners import PartnersConfig
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.aging import queue_aging_emails
from leadsync.lifecycle.mail_queue import send_pending
from leadsync.reports import REPORTS, run_report
from leadsync.reports.lead_age import lead_age
from leadsync.routing.business_time import add_days

FRIDAY = datetime(2026, 11, 6, 23, 30, tzinfo=UTC)
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


@pytest.fixture
def partners() -> PartnersConfig:
    return PartnersConfig.model_validate({
        "partners": [
            {"id": "berlin", "name": "Spree Systems", "countries": ["DE"], "timezone": "Europe/Berlin",
             "business_days": WEEKDAYS, "users": [{"name": "Desk", "email": "desk@spree.example"}]},
            {"id": "newyork", "name": "Hudson IT", "countries": ["US"], "timezone": "America/New_York",
             "business_days": WEEKDAYS, "users": [{"name": "Leads", "email": "leads@hudson.example"}]},
        ],
        "routing": {"accept_within_days": 2, "rule_groups": [
            {"name": "country", "rules": [{"field": "country", "op": "in", "partner_attribute": "countries"}]}]},
    })


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def step(world, now: datetime) -> list:
    """What the schedules do at `now`: reroute, queue aging emails, send; returns the new messages."""
    before = len(world.inbox.messages)
    reroute_overdue(world.source, world.ctx.partners, world.store, now)
    queue_aging_emails(world.ctx, now)
    send_pending(world.ctx, now, world.mailer)
    world.wait_for_mail(before)
    return world.inbox.messages[before:]


def test_window_ends_are_counted_in_each_partners_zone_and_business_days(partners):
    berlin, newyork = partners.by_id("berlin"), partners.by_id("newyork")
    assert add_days(FRIDAY, 2, berlin) == at(10, 23)
    assert add_days(FRIDAY, 1, berlin) == at(9, 23)
    assert add_days(FRIDAY, 2, newyork) == at(10, 23, 30)
    assert add_days(FRIDAY, 1, newyork) == at(9, 23, 30)
    # half a day from Friday 18:30 EST ends Saturday 06:30, a day off: Monday 06:30 EST
    assert add_days(FRIDAY, 0.5, newyork) == at(9, 11, 30)
    # without business days: wall-clock days in the zone, across the end of summer time (25 Oct in Berlin)
    summer = partners.by_id("berlin").model_copy(update={"business_days": None})
    assert add_days(datetime(2026, 10, 24, 10, tzinfo=UTC), 2, summer) == datetime(2026, 10, 26, 11, tzinfo=UTC)


def test_reminders_and_withdrawal_notices_across_a_weekend_in_two_zones(make_world):
    world = make_world(aging={"remind_days_before": 1, "withdrawal_notice": True})
    de, us = world.add_leads([{"country": "DE", "first_name": "Greta"}, {"country": "US", "first_name": "Sam"}],
                             at=FRIDAY)
    assert world.assignment(de)["partner_id"] == "berlin" and world.assignment(us)["partner_id"] == "newyork"

    # Sunday night and Monday morning UTC: nothing is due, nothing is withdrawn (UTC days would have been)
    assert step(world, at(8, 23, 45)) == []
    assert step(world, at(9, 12)) == []
    assert world.assignment(de)["status"] == "routed"

    # Monday 23:10 UTC: Berlin's reminder (due 23:00), not New York's (23:30)
    (reminder,) = step(world, at(9, 23, 10))
    assert reminder.rcpt_tos == ["desk@spree.example"]
    assert "Accept or reject it by Wed 11 Nov 2026 00:00 CET" in reminder.text
    assert reminder.message["Subject"].startswith("Reminder: accept or reject by Wed 11 Nov 2026 00:00 CET")
    assert reminder.link("accept") and reminder.link("reject")

    # Monday 23:40: New York's; Berlin's is not sent again
    (reminder,) = step(world, at(9, 23, 40))
    assert reminder.rcpt_tos == ["leads@hudson.example"]
    assert "Accept or reject it by Tue 10 Nov 2026 18:30 EST" in reminder.text
    assert step(world, at(10, 12)) == []

    # Tuesday 23:10 UTC: Berlin's window has ended: withdrawn, rerouted (nobody else serves DE), and told
    (notice,) = step(world, at(10, 23, 10))
    assert notice.rcpt_tos == ["desk@spree.example"]
    assert notice.message["Subject"].startswith("Lead withdrawn")
    assert "withdrawn from you on Wed 11 Nov 2026 00:10 CET: not accepted by Spree Systems within 2 days" in notice.text
    assert world.assignment(de)["status"] == "unassigned"
    assert world.assignment(us)["status"] == "routed"

    # Tuesday 23:40: New York's ends too
    (notice,) = step(world, at(10, 23, 40))
    assert notice.rcpt_tos == ["leads@hudson.example"]
    assert "withdrawn from you on Tue 10 Nov 2026 18:40 EST" in notice.text

    # a rerun the same night adds nothing: one reminder and one notice per lead
    assert step(world, at(10, 23, 50)) == []
    d = lt.deliveries
    kinds = world.frame(d).groupby("kind").size().to_dict()
    assert kinds == {"reminder": 2, "withdrawn": 2}


def test_leads_nobody_takes_are_escalated_once_to_the_sources_contacts(make_world):
    world = make_world(aging={"remind_days_before": None, "escalate_after_days": 3})
    stuck = world.add_leads([{"country": "JP"}, {"country": "BR"}], at=FRIDAY)  # no partner serves them
    assert [world.assignment(i)["status"] for i in stuck] == ["unassigned", "unassigned"]
    assert step(world, at(9, 23)) == []  # under 3 days (calendar days: the supplier's, UTC)

    (escalation,) = step(world, at(10, 0))
    assert escalation.rcpt_tos == ["leadops@supplier.example"]
    assert escalation.message["Subject"] == "2 lead(s) of 'sftp_demo' waiting over 3 days without a partner"
    for lead_id in stuck:
        assert f"{lead_id}  unassigned since 2026-11-06 23:30 (3 days)" in escalation.text
    assert step(world, at(11, 0)) == []  # each lead once
    events = world.events(stuck[0])
    assert events["kind"].tolist() == ["escalated"]


def test_lead_age_report_buckets_by_status_and_partner(make_world):
    world = make_world()
    world.add_leads([{"country": "DE"}, {"country": "US"}, {"country": "JP"}], at=FRIDAY)
    world.add_leads([{"country": "DE"}], at=at(9, 10))
    frame = lead_age(world.store, now=at(10, 10))
    rows = {(r.status, r.partner_id): r for r in frame.itertuples()}
    # Friday's leads are 3.4 days old (bucket 3-7); Monday's is 1 day old (bucket 1-3)
    assert rows[("routed", "berlin")].leads == 2
    assert (rows[("routed", "berlin")].d1_3, rows[("routed", "berlin")].d3_7) == (1, 1)
    assert rows[("routed", "newyork")].d3_7 == 1
    assert rows[("unassigned", "(no partner)")].d3_7 == 1
    assert rows[("routed", "berlin")].oldest_days == 3.4
    assert frame.iloc[0]["oldest_days"] == 3.4  # oldest first
    assert REPORTS["lead_age"].title == "Lead Age"
    assert run_report(world.store, "lead-age")["leads"].sum() == 4  # registered with the other reports
