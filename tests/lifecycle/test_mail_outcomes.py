"""What the email queue records of each message a real SMTP server answered: sent (with a note when some of its
recipients were refused), failed for good (5xx), pending again after a transient refusal (4xx) until
MAX_ATTEMPTS, and nothing sent twice. The outcomes of a batch are recorded together (a statement per kind of
outcome): each row must still get its own."""

from datetime import UTC, datetime, timedelta

from leadsync.lifecycle import mail_queue
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.email_render import RenderedEmail
from leadsync.lifecycle.mail_queue import queue_emails, send_pending

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

MAILS = {"plain": ["dana@bluepeak.example"],
         "half": ["nobody@bluepeak.example", "eve@bluepeak.example"],
         "gone": ["nobody@northwind.example"],
         "busy": ["busy@northwind.example"],
         "plain2": ["frank@northwind.example"]}


def rows(world) -> dict:
    frame = world.frame(lt.deliveries).set_index("delivery_id")
    frame = frame.astype(object).where(frame.notna(), None)  # NaT and NaN read as None
    return {k: frame.loc[k, ["state", "attempts", "last_error", "sent_at"]].to_dict() for k in frame.index}


def test_each_message_gets_its_own_outcome_and_a_busy_one_is_retried_until_given_up(make_world, picky_smtp_server,
                                                                                      monkeypatch):
    world = make_world(smtp={"port": picky_smtp_server.port})
    inbox = picky_smtp_server.inbox
    with world.store.begin() as conn:
        queue_emails(world.store, conn, [
            dict(delivery_id=key, kind="closed_loop", partner_id="northwind", recipients=to, now=T0,
                 email=RenderedEmail(f"About {key}", f"text {key}", f"<p>html {key}</p>")) for key, to in MAILS.items()])

    report = send_pending(world.ctx, T0 + timedelta(minutes=1))

    assert (report.sent, report.failed, report.retry_later) == (3, 1, 1)
    got = rows(world)
    for key in ("plain", "plain2"):
        assert (got[key]["state"], got[key]["attempts"], got[key]["last_error"]) == ("sent", 1, None)
        assert got[key]["sent_at"] is not None
    assert (got["half"]["state"], got["half"]["attempts"]) == ("sent", 1)
    assert "some recipients refused" in got["half"]["last_error"] and "nobody@bluepeak.example" in got["half"]["last_error"]
    assert (got["gone"]["state"], got["gone"]["attempts"]) == ("failed", 1) and "550" in got["gone"]["last_error"]
    assert (got["busy"]["state"], got["busy"]["attempts"]) == ("pending", 1) and "450" in got["busy"]["last_error"]
    assert got["busy"]["sent_at"] is None and got["gone"]["sent_at"] is None
    assert sorted(m.message["Subject"] for m in inbox.messages) == ["About half", "About plain", "About plain2"]

    # the next run tries only the busy one; at MAX_ATTEMPTS it is given up
    monkeypatch.setattr(mail_queue, "MAX_ATTEMPTS", 2)
    report = send_pending(world.ctx, T0 + timedelta(minutes=2))
    assert (report.sent, report.failed, report.retry_later) == (0, 1, 0)
    again = rows(world)
    assert (again["busy"]["state"], again["busy"]["attempts"]) == ("failed", 2)
    assert {k: again[k] for k in again if k != "busy"} == {k: got[k] for k in got if k != "busy"}
    assert len(inbox.messages) == 3
    assert send_pending(world.ctx, T0 + timedelta(minutes=3)).sent == 0
