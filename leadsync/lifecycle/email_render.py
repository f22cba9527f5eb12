"""Emails to partners, rendered from the Jinja2 templates under templates/email/ (text and HTML parts).

Only a LeadView reaches a template, so only partner-visible fields can appear in an email. Templates are
translated (gettext, leadsync/portal/i18n.py): `render(..., language="de")` renders them in German, and
the subject from templates/email/<name>.subject when that file exists."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import escape

from leadsync.lifecycle.settings import EmailLimits, SmtpSettings
from leadsync.portal.i18n import gettext_callables, translate

TEMPLATES = Path(__file__).parent / "templates"
PORTAL_TEMPLATES = Path(__file__).parents[1] / "portal" / "templates"  # the partner portal's pages and emails
FIELD_LIMIT = "_max_field_chars"  # the context key carrying lifecycle.yaml `emails.max_field_chars`
SUBJECT_CHARS = 200
ELLIPSIS = "…"


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment for emails and web pages: HTML autoescaped, text as is, undefined names fail."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([TEMPLATES, PORTAL_TEMPLATES]),
        extensions=["jinja2.ext.i18n"],  # {% trans %}; the gettext callables come with each render's context
        autoescape=jinja2.select_autoescape(["html"], default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters["local_time"] = _local_time
    env.install_null_translations(newstyle=True)  # English when a render brings no language of its own
    return env


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render(template: str, subject: str, language: str | None = None, limits: EmailLimits | None = None,
           **context) -> RenderedEmail:
    """templates/email/<template>.txt and .html with `context`, in `language` (default English). The
    subject is templates/email/<template>.subject rendered the same way when it exists, else `subject`.

    Within `limits` (lifecycle.yaml `emails`, defaults when None): every value a template prints is cut to
    `max_field_chars` (ending with an ellipsis), the subject to SUBJECT_CHARS, and each part to
    `max_body_chars` by leaving out its middle (the lead's fields; the greeting and
    the links at the end stay) with a note that the rest is on the lead's page."""
    env = environment()
    limits = limits or EmailLimits()
    context = {**gettext_callables(language or "en"), **context, FIELD_LIMIT: limits.max_field_chars}
    try:
        subject = env.get_template(f"email/{template}.subject").render(**context)
    except jinja2.TemplateNotFound:
        pass
    note = translate(language, "This email was cut at %(chars)s characters; the lead's page shows the rest.",
                     chars=f"{limits.max_body_chars:,}")
    return RenderedEmail(subject=shorten(" ".join(subject.split()), SUBJECT_CHARS),
                         text=_cap_text(env.get_template(f"email/{template}.txt").render(**context),
                                        limits.max_body_chars, note),
                         html=_cap_html(env.get_template(f"email/{template}.html").render(**context),
                                        limits.max_body_chars, note))


def shorten(text: str, limit: int) -> str:
    """`text` of at most `limit` characters, the last one an ellipsis when it was cut."""
    return text if len(text) <= limit else text[:limit - 1] + ELLIPSIS


def _cap_text(text: str, limit: int, note: str) -> str:
    """The middle of a long body goes (the lead's fields); its start (greeting) and end (the links to
    accept, reject or update) stay."""
    if len(text) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 3
    start = text.find("\n", len(text) - tail)  # the end kept from a line's start
    return f"{text[:head]}{ELLIPSIS}\n\n[{note}]\n{text[start:] if start >= 0 else ''}"


def _cap_html(html: str, limit: int, note: str) -> str:
    if len(html) <= limit:
        return html
    head = html.rfind(">", 0, limit * 2 // 3) + 1  # never inside a tag; elements left open are closed by readers
    tail = html.find("<", len(html) - limit // 3)
    tail = len(html) if tail < 0 else tail
    return f"{html[:head]}{ELLIPSIS}<p><em>{escape(note)}</em></p>{html[tail:]}"


@jinja2.pass_context
def _local_time(context, value):
    """A stored time (a datetime or ISO text with a time) in the render's `zone`; a date, or any other text,
    as it is."""
    zone = context.get("zone")
    moment = value
    if isinstance(value, str) and len(value) > 10 and value[10:11] in ("T", " "):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(moment, datetime) or not zone:
        return value
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%d %b %Y %H:%M} {local.tzname()}"


@jinja2.pass_context
def _finalize(context, value):
    """Cut every printed value to the render's field limit (none outside render(): web pages print whole)."""
    limit = context.get(FIELD_LIMIT)
    if limit and isinstance(value, str) and len(value) > limit:
        return value[:limit - 1] + ELLIPSIS
    return value


def build_message(smtp: SmtpSettings, delivery_id: str, recipients: list[str], email: RenderedEmail,
                  created_at) -> EmailMessage:
    """A multipart/alternative message; its Message-ID derives from the delivery id, so a message sent
    again after a crash is recognisably the same message."""
    msg = EmailMessage()
    msg["From"] = formataddr((smtp.from_name, smtp.from_address)) if smtp.from_name else smtp.from_address
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(created_at)
    domain = smtp.from_address.rsplit("@", 1)[-1]
    msg["Message-ID"] = f"<{hashlib.sha256(delivery_id.encode()).hexdigest()[:32]}.leadsync@{domain}>"
    msg.set_content(email.text)
    msg.add_alternative(email.html, subtype="html")
    return msg
