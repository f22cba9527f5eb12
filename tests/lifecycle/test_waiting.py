"""Leads waiting at each partner (leadsync.lifecycle.waiting): not told yet and why (no one to notify, the
email still queued, the next delivery run not yet done), or told and awaiting acceptance; accepted leads and
auto-accepted ones wait no more."""

from datetime import UTC, datetime, timedelta

import pytest
from leadsync.connectors.loopback_ports import free_port

from leadsync.lifecycle.acceptance import accept_lead
from leadsync.lifecycle.delivery import deliver
from leadsync.lifecycle.smtp import SmtpUnavailable
from leadsync.lifecycle.waiting import waiting_frame, waiting_per_partner, waiting_summary

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def by_partner(world) -> dict:
    return {w.partner_id: (w.not_told, w.awaiting_acceptance, w.why_not_told)
            for w in waiting_per_partner(world.store, world.ctx.partners)}


def test_routed_leads_wait_untold_until_delivered_then_until_accepted(world):
    us, *_ = world.add_leads([{"country": c} for c in ("US", "US", "GB", "CA", "JP")])

    before = by_partner(world)
    assert before["north"][:2] == (2, 0) and "2 leads not yet emailed" in before["north"][2]
    assert before["maple"][:2] == (1, 0) and "next delivery run" in before["maple"][2]
    assert before["lonely"] == (1, 0, "1 lead with no one to tell: add users or reps to lonely in partners.yaml")

    deliver(world.ctx, T0)
    after = by_partner(world)
    assert after["north"] == (0, 2, "")
    assert after["blue"] == (0, 1, "")
    assert "maple" not in after  # accepted on delivery
    assert after["lonely"][:2] == (1, 0)  # still nobody to tell

    accept_lead(world.ctx, us, "north", T0 + timedelta(hours=1))
    assert by_partner(world)["north"] == (0, 1, "")

    summary = waiting_summary(world.store, world.ctx.partners)
    assert summary["lonely"] == {"waiting": 1, "partner": "Lonely IT", "not_told": 1, "awaiting_acceptance": 0,
                                 "why_not_told": before["lonely"][2]}
    assert list(summary) == ["blue", "lonely", "north"]  # most waiting first, then by id
    table = waiting_frame(waiting_per_partner(world.store, world.ctx.partners))
    assert table.set_index("partner").loc["Lonely IT", "not told"] == 1


def test_an_email_the_mail_server_did_not_take_is_not_told(make_world):
    dead_port = free_port()
    w = make_world(smtp={"port": dead_port})
    w.add_leads([{"country": "US"}])
    with pytest.raises(SmtpUnavailable):
        deliver(w.ctx, T0)
    [north] = waiting_per_partner(w.store, w.ctx.partners)
    assert (north.partner_id, north.not_told, north.awaiting_acceptance) == ("north", 1, 0)
    assert north.why_not_told.startswith("1 email queued, not yet sent")


def test_without_partners_the_counts_stand(world):
    world.add_leads([{"country": "JP"}])
    [lonely] = waiting_per_partner(world.store, None)
    assert (lonely.partner, lonely.not_told) == ("lonely", 1)


def test_leadsync_summary_names_the_leads_waiting_per_partner(world, capsys):
    import json
    from pathlib import Path

    from leadsync.cli import main

    world.add_leads([{"country": "JP"}, {"country": "US"}])
    mappings = Path(__file__).resolve().parents[2] / "mappings"  # its partners.yaml has neither 'lonely' nor 'north'
    assert main(["--mappings", str(mappings), "summary", "--store", world.store.url]) == 0
    waiting = json.loads(capsys.readouterr().out)["waiting_per_partner"]
    assert {pid: (w["not_told"], w["awaiting_acceptance"]) for pid, w in waiting.items()} == {
        "lonely": (1, 0), "north": (1, 0)}
    assert waiting["lonely"]["why_not_told"] == "1 lead of a partner no longer in partners.yaml"
