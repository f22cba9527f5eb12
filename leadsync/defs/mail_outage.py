"""An SMTP server that is down, as the step's one clear failure instead of minutes of step retries.

The mailer has already tried `smtp.retries` times, `smtp.retry_wait_s` apart (leadsync/lifecycle/smtp.py).
If the server still does not accept a TCP connection, Dagster's step retries (30 s, 60 s, 120 s apart)
would only wait on it: the step fails at once, naming the server, the setting, how to start it and how
many emails wait in the mail queue (nothing is lost: the next deliveries run, or the partner_mail_retry job
every 15 minutes, sends them). A server that accepts connections again by now (it dropped one, answered
4xx) gets the step's retries: waiting helps there.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import dagster as dg
import sqlalchemy as sa

from leadsync.config import ConfigError
from leadsync.defs.errors import sandbox_hint
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import lifecycle_file
from leadsync.lifecycle.settings import SmtpSettings, load_settings
from leadsync.lifecycle.smtp import SmtpUnavailable
from leadsync.store import LeadStore
from leadsync.store.faults import StoreFault

PROBE_TIMEOUT_S = 5.0


def accepts_connections(smtp: SmtpSettings) -> bool:
    """Whether the server takes a TCP connection now (nothing is sent; TLS and login are the mailer's)."""
    try:
        with socket.create_connection((smtp.host, smtp.effective_port), timeout=min(PROBE_TIMEOUT_S, smtp.timeout_s)):
            return True
    except OSError:
        return False


def queued_emails(store: Callable[[], LeadStore]) -> int | None:
    """Partner emails waiting in the mail queue; None when the store cannot say (the count is a courtesy: the
    failure must still say that the mail server is down)."""
    d = lt.deliveries
    try:
        with store().begin() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(d).where(d.c.state == "pending")).scalar_one()
    except (StoreFault, sa.exc.SQLAlchemyError, dg.Failure):
        return None


def smtp_down(exc: SmtpUnavailable, leadsync) -> dg.Failure | None:
    """The step's failure when the SMTP server of lifecycle.yaml does not accept connections; None when it
    does (a transient problem the step's retry policy may get past). `leadsync` is the LeadsyncResource."""
    file = lifecycle_file(leadsync.paths)
    try:
        smtp = load_settings(file).smtp
    except ConfigError:
        return None
    if accepts_connections(smtp):
        return None
    where = f"{smtp.host}:{smtp.effective_port}"
    queued = queued_emails(leadsync.store)
    waiting = "the partner emails" if queued is None else f"{queued} partner email(s)"
    text = str(exc).rstrip(". ")
    return dg.Failure(
        description=(f"Partner emails not sent: {text}. Nothing is lost: {waiting} stay in the mail queue and the "
                     "next run sends them (this job again, or partner_mail_retry, every 15 minutes). To fix: start "
                     f"the mail server at {where}, or correct smtp.host and smtp.port in {file}.{sandbox_hint(where)}"),
        metadata={"reason": "smtp unreachable", "smtp_server": where, "emails_queued": queued if queued is not None
                  else "unknown", "file": str(file)},
        allow_retries=False,
    )
