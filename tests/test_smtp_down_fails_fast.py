"""An SMTP server that is down fails the partner deliveries within seconds, saying what, where and how to
fix it, instead of minutes of step retries; the emails stay queued and the next run sends them once the
server is back. A server that answers again is left to the step's retries."""

import socket
import threading
import time

import pytest
import sqlalchemy as sa
from jobs import failure_message, read_query, retried, run_job
from leadsync.connectors.loopback_ports import free_port
from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.connectors.smtp_sandbox import SmtpSandbox
from sftp_drop import EMAILED_LEADS, HEADER, PASSWORD, inbox, point_at

from leadsync.defs.mail_outage import smtp_down
from leadsync.defs.resources import LeadsyncResource
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.smtp import SmtpUnavailable


@pytest.fixture
def sftp(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"demo": PASSWORD}) as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    return free_port()


def smtp_on(project, port: int) -> None:
    path = project / "mappings/lifecycle.yaml"
    text = path.read_text()
    start = text.index("  port: ") + len("  port: ")
    path.write_text(text[:start] + str(port) + text[text.index("\n", start):])


def email_states(store_url: str) -> list[str]:
    d = lt.deliveries
    return sorted(read_query(store_url, sa.select(d.c.state).where(d.c.kind == "new_lead"))["state"])


def test_a_refused_smtp_server_fails_deliveries_in_seconds_and_the_next_run_sends_the_queued_emails(
        project, sftp, monkeypatch, duckdb_url, closed_port, tmp_path):
    point_at(project, sftp, monkeypatch)
    smtp_on(project, closed_port)
    (inbox(sftp) / "drop.csv").write_text(HEADER + EMAILED_LEADS)

    started = time.monotonic()
    result = run_job(project, duckdb_url)
    took = time.monotonic() - started
    print(f"the run with the SMTP server down took {took:.1f} s")

    assert not result.success
    deliveries = result.get_step_failure_events()
    assert [e.step_key for e in deliveries] == ["partners__deliveries"]
    message = failure_message(result)
    assert f"cannot reach SMTP server 127.0.0.1:{closed_port}" in message and "connection refused" in message
    assert "Nothing is lost: 2 partner email(s) stay in the mail queue and the next run sends them" in message
    assert "smtp.host and smtp.port in" in message and "lifecycle.yaml" in message
    assert "leadsync sandbox" in message  # on this machine: how to start the bundled sandboxes
    assert not retried(result)
    # the mailer's own attempts (smtp.retries: 3, 2 s, 4 s, 6 s apart) and the run, not minutes of step retries
    assert took < 45, f"the run took {took:.0f} s"
    metadata = {k: v.value for k, v in deliveries[0].step_failure_data.user_failure_data.metadata.items()}
    assert metadata["reason"] == "smtp unreachable" and metadata["emails_queued"] == 2
    # the source's own steps are not held back by the mail server
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"sftp_demo/assignments", "sftp_demo/writeback"} <= done
    assert email_states(duckdb_url) == ["pending", "pending"]

    with SmtpSandbox(tmp_path / "mail_back", port=closed_port) as smtp:  # the server is back
        assert run_job(project, duckdb_url, "partner_mail_retry").success  # its schedule: every 15 minutes
        assert email_states(duckdb_url) == ["sent", "sent"]
        assert sorted(m.read_text().count("ann@acme.com") > 0 for m in smtp.messages()) == [False, True]


def test_a_server_that_accepts_connections_again_is_left_to_the_step_retries(project, duckdb_url):
    """It dropped the connection, or answered 4xx: it is up, so the retry policy's next attempt may send."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def drop_each() -> None:
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                connection.close()

        threading.Thread(target=drop_each, daemon=True).start()
        smtp_on(project, port)
        resource = LeadsyncResource(mappings_dir=str(project / "mappings"), store_url=duckdb_url)
        assert smtp_down(SmtpUnavailable(f"127.0.0.1:{port} keeps closing the connection"), resource) is None
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread: the port is closed from here
    failure = smtp_down(SmtpUnavailable(f"cannot reach 127.0.0.1:{port}: connection refused"), resource)
    assert failure is not None and failure.allow_retries is False
