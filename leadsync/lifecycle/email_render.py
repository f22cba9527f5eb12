"""Emails to partners, rendered from the Jinja2 templates under templates/email/ (text and HTML parts).

Only a LeadView reaches a template, so only partner-visible fields can appear in an email. Templates are
translated (gettext, leadsync/portal/i18n.py): `render(..., language="de")` renders them in German, and
the subject from templates/email/<name>.subject when that file exists."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import cache
from pathlib import Path

import jinja2

from leadsync.lifecycle.settings import SmtpSettings
from leadsync.portal.i18n import gettext_callables

TEMPLATES = Path(__file__).parent / "templates"
PORTAL_TEMPLATES = Path(__file__).parents[1] / "portal" / "templates"  # the partner portal's pages and emails


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
    )
    env.install_null_translations(newstyle=True)  # English when a render brings no language of its own
    return env


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render(template: str, subject: str, language: str | None = None, **context) -> RenderedEmail:
    """templates/email/<template>.txt and .html with `context`, in `language` (default English). The
    subject is templates/email/<template>.subject rendered the same way when it exists, else `subject`."""
    env = environment()
    context = {**gettext_callables(language or "en"), **context}
    try:
        subject = env.get_template(f"email/{template}.subject").render(**context)
    except jinja2.TemplateNotFound:
        pass
    return RenderedEmail(subject=" ".join(subject.split()),
                         text=env.get_template(f"email/{template}.txt").render(**context),
                         html=env.get_template(f"email/{template}.html").render(**context))


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
