"""Rule groups in `mode: offer`: a lead offered to several partners at once goes to the first to accept.
Two partners accepting in the same instant from two processes: one wins, on DuckDB and Postgres. The
loser gets the "taken" page and an email; an unclaimed offer goes to its fallback; every offer and claim
is in the audit trail and written back."""

import multiprocessing
import os
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from leadsync.assign import reroute_overdue
from leadsync.config.partners import PartnersConfig
from leadsync.lifecycle.mail_queue import send_pending
from leadsync.lifecycle.offers import queue_offer_emails
from leadsync.routing.explain import explain
from leadsync.store import tables

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # as the lifecycle fixtures' leads arrive
PARTNER_LIST = [
    {"id": p, "name": n, "countries": ["US"], "users": [{"name": "Desk", "email": f"desk@{p}.example"}]}
    for p, n in (("a", "Alder"), ("b", "Birch"), ("c", "Cedar"))]


def partners_dict(**offer) -> dict:
    return {"partners": PARTNER_LIST, "routing": {"default_partner": "c", "rule_groups": [
        {"name": "us_pool", "mode": "offer", "offer": {"to": 2, "claim_within_days": 3, **offer},
         "rules": [{"field": "country", "op": "in", "partner_attribute": "countries"}]}]}}


@pytest.fixture
def partners() -> PartnersConfig:
    return PartnersConfig.model_validate(partners_dict())


@pytest.fixture
def http():
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


def history(world, lead_id: str) -> list[tuple]:
    h = tables.assignment_history
    frame = world.frame(h, h.c.lead_id == lead_id).sort_values("version")
    return list(frame[["action", "status", "partner_id", "candidates"]].itertuples(index=False, name=None))


def test_offers_go_to_the_next_partners_in_turn(store_world):
    leads = store_world.add_leads([{"country": "US"}] * 3)
    got = [(store_world.assignment(i)["status"], store_world.assignment(i)["candidates"]) for i in leads]
    # round robin over a, b, c picks whose turn it is; the next one in the set joins the offer (to: 2)
    assert got == [("offered", "a,b"), ("offered", "b,c"), ("offered", "c,a")]
    assert store_world.assignment(leads[0])["partner_id"] is None
    assert "offered to Alder, Birch: the first to accept gets it" in store_world.assignment(leads[0])["reason"]
    assert store_world.outbox(leads[0])["data"].map(lambda d: d["distribution_status"]).tolist() == ["Offered"]


def _accept_in_a_process(store_url, partners, settings, secret, lead_id, partner_id, barrier, results):
    from leadsync.config.partners import PartnersConfig as Partners
    from leadsync.lifecycle.acceptance import OfferTaken, accept_lead
    from leadsync.lifecycle.context import Lifecycle
    from leadsync.lifecycle.settings import LifecycleSettings
    from leadsync.store import LeadStore

    os.environ["LEADSYNC_TEST_LIFECYCLE_SECRET"] = secret
    ctx = Lifecycle(LeadStore(store_url), Partners.model_validate(partners), LifecycleSettings.model_validate(settings))
    barrier.wait()
    try:
        accept_lead(ctx, lead_id, partner_id, T0 + timedelta(hours=1), "web")
        results[partner_id] = "won"
    except OfferTaken as exc:
        results[partner_id] = f"taken: {exc}"
    finally:
        ctx.store.dispose()


def test_two_partners_accepting_at_once_from_two_processes_one_wins(store_world, store_url):
    (lead,) = store_world.add_leads([{"country": "US"}])
    assert store_world.assignment(lead)["candidates"] == "a,b"
    store_world.store.dispose()  # a DuckDB file is opened by one process at a time
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager:
        barrier, results = manager.Barrier(2), manager.dict()
        settings = store_world.ctx.settings.model_dump(mode="json")
        secret = os.environ["LEADSYNC_TEST_LIFECYCLE_SECRET"]
        workers = [spawn.Process(target=_accept_in_a_process, args=(
            store_url, partners_dict(), settings, secret, lead, pid, barrier, results)) for pid in ("a", "b")]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        outcome = dict(results)
    assert sorted(v.split(":")[0] for v in outcome.values()) == ["taken", "won"], outcome
    winner = next(p for p, v in outcome.items() if v == "won")
    loser = next(p for p, v in outcome.items() if v != "won")
    assert "another partner accepted it first" in outcome[loser]
    now = store_world.assignment(lead)
    assert (now["status"], now["partner_id"], now["action"]) == ("accepted", winner, "claimed")
    with store_world.store.begin() as conn:
        claims = conn.execute(sa.text("SELECT partner_id FROM offer_claims WHERE lead_id = :l"), {"l": lead}).all()
    assert claims == [(winner,)]
    assert [h[:3] for h in history(store_world, lead)] == [("offered", "offered", None),
                                                           ("claimed", "accepted", winner)]


def test_the_loser_sees_the_taken_page_and_gets_an_email(make_served, http):
    world = make_served(clock=lambda: T0 + timedelta(hours=1))  # the web app's frozen clock
    (lead,) = world.add_leads([{"country": "US", "first_name": "Ada", "company": "Engines"}])
    assert queue_offer_emails(world.ctx, T0) == 2
    assert queue_offer_emails(world.ctx, T0) == 0  # once
    send_pending(world.ctx, T0, world.mailer)
    world.wait_for_mail(2)
    to_a, to_b = world.inbox.to("desk@a.example")[0], world.inbox.to("desk@b.example")[0]
    assert "offered to you and 1 other partner(s): the first to accept it gets it" in to_a.text
    assert "open until Thu 05 Nov 2026 09:00 UTC" in to_a.text
    assert "/lead/reject" not in to_a.text

    a_link, b_link = to_a.link("accept"), to_b.link("accept")
    assert "Accept this offered lead?" in http.get(b_link).text
    done = http.post(f"{world.base_url}/lead/accept", data={"t": parse_qs(urlsplit(a_link).query)["t"][0]})
    assert done.status_code == 200 and "it is yours" in done.text

    taken = http.get(b_link)
    assert taken.status_code == 409 and "This lead was taken" in taken.text
    late = http.post(f"{world.base_url}/lead/accept", data={"t": parse_qs(urlsplit(b_link).query)["t"][0]})
    assert late.status_code == 409 and "another partner accepted it first" in late.text
    world.wait_for_mail(3)
    (notice,) = [m for m in world.inbox.to("desk@b.example") if m.message["Subject"].startswith("Lead taken")]
    assert "another partner accepted it first" in notice.text
    assert world.assignment(lead)["partner_id"] == "a"
    assert world.outbox(lead)["data"].map(lambda d: d["distribution_status"]).tolist() == ["Offered", "Accepted"]
    text = explain(world.store, lead)
    assert "claimed by Alder: the first of the 2 partners offered it (a, b) to accept" in text
    assert "offered to (2): a, b" in text and "now: accepted with a" in text


@pytest.mark.parametrize(("fallback", "expected"), [("unassigned", ("unassigned", None)),
                                                    ("default_partner", ("routed", "c"))])
def test_an_unclaimed_offer_goes_to_its_fallback_after_the_claim_window(make_world, source, fallback, expected):
    world = make_world()
    cfg = PartnersConfig.model_validate(partners_dict(fallback=fallback))
    world.ctx = type(world.ctx)(world.ctx.store, cfg, world.ctx.settings, world.ctx.sources)
    (lead,) = world.add_leads([{"country": "US"}])
    assert reroute_overdue(source, cfg, world.store, T0 + timedelta(days=3) - timedelta(minutes=1)).offers_expired == 0
    report = reroute_overdue(source, cfg, world.store, T0 + timedelta(days=3))
    assert report.offers_expired == 1
    now = world.assignment(lead)
    assert (now["status"], now["partner_id"]) == expected
    assert now["action"] == "offer_expired" and "offer to a, b not claimed within 3 days" in now["reason"]


def test_offer_settings_need_mode_offer_and_a_default_partner_for_that_fallback():
    with pytest.raises(ValueError, match="add `mode: offer` or remove `offer`"):
        PartnersConfig.model_validate({"partners": PARTNER_LIST, "routing": {"rule_groups": [
            {"name": "g", "offer": {"to": 2}, "rules": [{"field": "country", "op": "in", "value": ["US"]}]}]}})
    with pytest.raises(ValueError, match="needs routing.default_partner"):
        PartnersConfig.model_validate({"partners": PARTNER_LIST, "routing": {"rule_groups": [
            {"name": "g", "mode": "offer", "offer": {"fallback": "default_partner"},
             "rules": [{"field": "country", "op": "in", "value": ["US"]}]}]}})
