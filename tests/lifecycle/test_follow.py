"""Following an accepted lead, on DuckDB and Postgres: the sales-status state machine, closing, the rep,
opportunities, marketing events, rewards and the leaderboard; every change once, with its writeback event."""

from datetime import timedelta

import pandas as pd
import pytest

from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.acceptance import accept_lead, reject_lead
from leadsync.lifecycle.delivery import auto_accept_routed
from leadsync.lifecycle.events import LifecycleError
from leadsync.lifecycle.rewards import leaderboard
from leadsync.lifecycle.status import SALES_STATUSES, check_transition, parse_status
from leadsync.lifecycle.updates import apply_update, import_rows
from leadsync.store import tables

T0 = pd.Timestamp("2026-11-02 09:00", tz="UTC").to_pydatetime()


def accepted(w, country="US", partner="north", at=T0) -> str:
    (lead,) = w.add_leads([{"country": country, "company": "Acme"}], at=at)
    accept_lead(w.ctx, lead, partner, at)
    return lead


@pytest.mark.parametrize(("current", "target", "ok"), [
    ("Not Contacted", "Contacted", True), ("Not Contacted", "Nurture", True),
    ("Not Contacted", "Converted Opportunity", True), ("Not Contacted", "Unqualified/Invalid", True),
    ("Contacted", "Nurture", True), ("Nurture", "Contacted", True), ("Nurture", "Unqualified/Invalid", True),
    ("Contacted", "Not Contacted", False), ("Nurture", "Not Contacted", False),
    ("Converted Opportunity", "Contacted", False), ("Unqualified/Invalid", "Nurture", False),
    ("Unqualified/Invalid", "Converted Opportunity", False),
])
def test_sales_status_transitions(current, target, ok):
    if ok:
        check_transition(current, target)
    else:
        with pytest.raises(LifecycleError) as err:
            check_transition(current, target)
        assert current in str(err.value)


def test_status_names_are_read_leniently_and_unknown_ones_list_the_allowed():
    assert parse_status("converted") == "Converted Opportunity"
    assert parse_status(" unqualified/invalid ") == "Unqualified/Invalid"
    assert parse_status("Invalid") == "Unqualified/Invalid"
    assert parse_status("Won") is None
    assert SALES_STATUSES[0] == "Not Contacted"


def test_status_updates_close_the_lead_and_are_recorded_once(store_world):
    w = store_world
    lead = accepted(w)
    t1 = T0 + timedelta(days=1)
    assert apply_update(w.ctx, "north", {"lead_id": lead, "sales_status": "Contacted"}, t1, "web").changes
    assert apply_update(w.ctx, "north", {"lead_id": lead, "sales_status": "Contacted"}, t1, "web").changes == []
    with pytest.raises(LifecycleError, match="cannot go from Contacted to Not Contacted"):
        apply_update(w.ctx, "north", {"lead_id": lead, "sales_status": "Not Contacted"}, t1, "web")
    apply_update(w.ctx, "north", {"lead_id": lead, "sales_status": "Unqualified/Invalid"}, t1, "web")
    with pytest.raises(LifecycleError, match="closed"):
        apply_update(w.ctx, "north", {"lead_id": lead, "sales_status": "Nurture"}, t1, "web")

    assert w.assignment(lead)["status"] == "closed"
    outbox = w.outbox(lead)
    status_events = outbox[outbox["kind"] == "sales_status"]["data"].map(lambda d: d["sales_status"]).tolist()
    assert status_events == ["Contacted", "Unqualified/Invalid"]
    labels = outbox[outbox["kind"] == "distribution_status"]["data"].map(lambda d: d["distribution_status"])
    assert labels.tolist() == ["Routed", "Accepted", "Closed"]
    with pytest.raises(LifecycleError, match="not assigned to Blue Peak"):
        apply_update(w.ctx, "blue", {"lead_id": lead, "sales_status": "Contacted"}, t1, "web")


def test_a_lead_not_yet_accepted_cannot_be_updated(store_world):
    (lead,) = store_world.add_leads([{"country": "US"}])
    with pytest.raises(LifecycleError, match="accept it first"):
        apply_update(store_world.ctx, "north", {"lead_id": lead, "sales_status": "Contacted"}, T0, "api")


def test_converting_creates_an_opportunity_whose_updates_are_tracked(store_world):
    w = store_world
    lead = accepted(w)
    t1 = T0 + timedelta(days=2)
    apply_update(w.ctx, "north", {"lead_id": lead, "sales_status": "Converted Opportunity",
                                  "opportunity_amount": "50,000", "opportunity_close_date": "2027-01-31"}, t1, "api")
    opp = w.frame(lt.opportunities).iloc[0]
    assert (opp["stage"], opp["amount"], str(opp["close_date"])[:10]) == ("Prospecting", 50000.0, "2027-01-31")
    assert opp["name"] == "Acme"  # defaults to the lead's partner-visible title

    t2 = t1 + timedelta(days=1)
    result = apply_update(w.ctx, "north", {"lead_id": lead, "opportunity_stage": "negotiation",
                                           "opportunity_amount": "62000"}, t2, "api")
    assert result.changes == ["opportunity updated: stage, amount"]
    assert apply_update(w.ctx, "north", {"lead_id": lead, "opportunity_stage": "Negotiation"}, t2, "api").changes == []
    with pytest.raises(LifecycleError, match="YYYY-MM-DD"):
        apply_update(w.ctx, "north", {"lead_id": lead, "opportunity_close_date": "31/01/2027"}, t2, "api")

    opp_events = w.outbox(lead).query("kind == 'opportunity'")["data"].tolist()
    assert [e["change"] for e in opp_events] == ["created", "updated"]
    assert opp_events[1]["changes"] == {"stage": ["Prospecting", "Negotiation"], "amount": ["50000.0", "62000.0"]}
    assert opp_events[1]["external_id"] == opp_events[0]["external_id"]  # upserted as one opportunity


def test_marketing_events_on_lead_and_opportunity_are_recorded_once(store_world):
    w = store_world
    lead = accepted(w)
    row = {"lead_id": lead, "marketing_event_type": "webinar", "marketing_event_name": "X1 launch",
           "marketing_event_date": "2026-11-20"}
    assert apply_update(w.ctx, "north", row, T0, "api").changes
    assert apply_update(w.ctx, "north", row, T0, "api").changes == []
    with pytest.raises(LifecycleError, match="no opportunity"):
        apply_update(w.ctx, "north", {**row, "marketing_event_on": "opportunity"}, T0, "api")
    apply_update(w.ctx, "north", {"lead_id": lead, "sales_status": "Converted"}, T0, "api")
    apply_update(w.ctx, "north", {**row, "marketing_event_on": "opportunity"}, T0, "api")
    with pytest.raises(LifecycleError, match="not a marketing event type; allowed: Email"):
        apply_update(w.ctx, "north", {**row, "marketing_event_type": "Skywriting"}, T0, "api")
    events = w.frame(lt.marketing_events).sort_values("opportunity_id", na_position="first")
    assert events["event_type"].tolist() == ["Webinar", "Webinar"]
    assert events["opportunity_id"].isna().tolist() == [True, False]
    assert len(w.outbox(lead).query("kind == 'marketing_event'")) == 2


def test_rewards_pay_timely_updates_and_rank_partners_and_reps(store_world):
    w = store_world
    a = accepted(w)
    b = accepted(w)
    c = accepted(w, country="GB", partner="blue")
    apply_update(w.ctx, "north", {"lead_id": a, "rep_name": "Nora West", "rep_email": "nora@northwind.example"},
                 T0, "web")
    day = timedelta(days=1)
    apply_update(w.ctx, "north", {"lead_id": a, "sales_status": "Contacted"}, T0 + 2 * day, "web")  # timely: 10
    apply_update(w.ctx, "north", {"lead_id": a, "sales_status": "Converted"}, T0 + 4 * day, "web")  # 10 + 25
    apply_update(w.ctx, "north", {"lead_id": b, "sales_status": "Contacted"}, T0 + 20 * day, "web")  # late: 0
    apply_update(w.ctx, "blue", {"lead_id": c, "sales_status": "Nurture"}, T0 + 6 * day, "web")  # timely: 10
    apply_update(w.ctx, "blue", {"lead_id": c, "sales_status": "Nurture"}, T0 + 7 * day, "web")  # no change: 0

    board = leaderboard(w.store, w.ctx.partners)
    assert board.partners[["rank", "partner_id", "points"]].values.tolist() == [[1, "north", 45], [2, "blue", 10]]
    assert board.reps[["rank", "rep_email", "points"]].values.tolist() == [[1, "nora@northwind.example", 45]]
    ledger = w.frame(lt.rewards_ledger)
    assert sorted(ledger["reason"]) == ["conversion", "timely_update", "timely_update", "timely_update"]
    since = leaderboard(w.store, w.ctx.partners, since=T0 + 5 * day)
    assert since.partners[["partner_id", "points"]].values.tolist() == [["blue", 10]]


def test_accept_and_reject_are_recorded_once_and_a_rejected_lead_goes_elsewhere(store_world):
    w = store_world
    (lead,) = w.add_leads([{"country": "FR"}])
    first = w.assignment(lead)["partner_id"]
    other = {"north": "blue", "blue": "north"}[first]
    with pytest.raises(LifecycleError, match="Choose a reason"):
        reject_lead(w.ctx, lead, first, None, None, T0)
    done = reject_lead(w.ctx, lead, first, "duplicate", None, T0)
    assert (done.outcome, done.rerouted_to) == ("rejected", other)
    assert reject_lead(w.ctx, lead, first, "duplicate", None, T0).outcome == "already_rejected"
    with pytest.raises(LifecycleError, match="already rejected"):
        accept_lead(w.ctx, lead, first, T0)
    assert accept_lead(w.ctx, lead, other, T0).outcome == "accepted"
    assert accept_lead(w.ctx, lead, other, T0).outcome == "already_accepted"
    with pytest.raises(LifecycleError, match="Unqualified/Invalid"):
        reject_lead(w.ctx, lead, other, "duplicate", None, T0)
    # rejected again by the second partner: nobody is left, the lead is unassigned (written back Not Routed)
    (lead2,) = w.add_leads([{"country": "FR"}])
    p1 = w.assignment(lead2)["partner_id"]
    reject_lead(w.ctx, lead2, p1, "not_our_territory", None, T0)
    p2 = w.assignment(lead2)["partner_id"]
    assert reject_lead(w.ctx, lead2, p2, "not_our_territory", None, T0).rerouted_to is None
    assert w.assignment(lead2)["status"] == "unassigned"
    kinds = w.outbox(lead2)["kind"].tolist()
    assert kinds.count("rejection") == 2


def test_return_to_supplier_keeps_a_rejected_lead_rejected(make_world):
    w = make_world(rejected_leads="return_to_supplier")
    (lead,) = w.add_leads([{"country": "US"}])
    reject_lead(w.ctx, lead, "north", "duplicate", None, T0)
    assert w.assignment(lead)["status"] == "rejected"
    assert w.outbox(lead).query("kind == 'distribution_status'")["data"].iloc[-1]["distribution_status"] == "Rejected"


def test_auto_accept_in_bulk_on_both_stores(store_world):
    w = store_world
    leads = w.add_leads([{"country": "CA"}] * 50)
    assert auto_accept_routed(w.ctx, T0) == 50
    a = w.frame(tables.assignments)
    assert set(a["status"]) == {"accepted"} and len(w.frame(lt.lead_progress)) == 50
    report = import_rows(w.ctx, "maple", [{"lead_id": lid, "sales_status": "Contacted"} for lid in leads[:3]],
                         T0, "api")
    assert (report.changed, report.errors) == (3, [])
