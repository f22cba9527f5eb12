"""Emails and portal pages in English, German, French and Spanish: every catalogue complete, every email
rendered in each language, a user's portal language kept across sessions and used for the sign-in email,
and new-lead emails in the language (and time zone) the partner admin chose."""

import re

import pandas as pd
import pytest
from babel.messages.pofile import read_po

from leadsync.lifecycle.delivery import deliver
from leadsync.lifecycle.email_render import render
from leadsync.lifecycle.lead_view import LeadView
from leadsync.portal.catalogues import template_messages
from leadsync.portal.i18n import LANGUAGES, LOCALES

VIEW = LeadView(
    lead_id="sftp_demo-b1-0000",
    source="sftp_demo",
    title="Ada Lovelace, Engines",
    fields=[("Company", "Engines")],
    campaign={
        "name": "Spring Webinar",
        "description": None,
        "start_date": "2026-03-01",
        "end_date": "2026-03-31",
        "fields": [("Program tier", "Gold")],  # a shared campaign field: its label is data, from the YAML
    },
    activities=[],
)
PARTNER = type("P", (), {"name": "Northwind Networks"})()
EMAILS = {  # template → context, and the words each language must show
    "new_lead": {
        "partner": PARTNER,
        "view": VIEW,
        "accept_days": "5",
        "accept_url": "http://x/a",
        "reject_url": "http://x/r",
        "expires_at": "09 Nov 2026 09:00",
        "time_zone": "Europe/Paris",
    },
    "rep_assigned": {"partner": PARTNER, "view": VIEW, "rep_name": "Nora West", "status_url": "http://x/s"},
    "closed_loop": {
        "greeting": "Nora West",
        "import_url": "http://x/i",
        "items": [
            {
                "title": "Ada",
                "partner_name": "Northwind",
                "sales_status": "Contacted",
                "accepted_on": "2026-11-02",
                "status_url": "http://x/s",
            }
        ],
    },
    "reminder": {"partner": PARTNER, "view": VIEW, "ends_at": "Wed 11 Nov 2026 00:00 CET", "accept_url": "http://x/a",
                 "reject_url": "http://x/r", "expires_at": "Mon 09 Nov 2026 10:00 CET"},
    "withdrawn": {"partner": PARTNER, "view": VIEW, "withdrawn_at": "Wed 11 Nov 2026 00:00 CET", "why": "not accepted"},
    "offer": {"partner": PARTNER, "view": VIEW, "others": 2, "ends_at": "Wed 11 Nov 2026 00:00 CET",
              "accept_url": "http://x/a", "expires_at": "Mon 09 Nov 2026 10:00 CET"},
    "offer_taken": {"partner": PARTNER, "view": VIEW, "taken_at": "Wed 11 Nov 2026 00:00 CET"},
    "portal_sign_in": {
        "name": "Nora West",
        "partner": PARTNER,
        "url": "http://x/l",
        "minutes": "15",
        "expires_at": "02 Nov 2026 09:15",
    },
}
HELLO = {
    "en": "Hello Nora West,",
    "de": "Hallo Nora West,",
    "fr": "Bonjour Nora West,",
    "es": "Hola Nora West:",
}
SUBJECT = {
    "new_lead": {
        "en": "New lead for",
        "de": "Neuer Lead für",
        "fr": "Nouveau lead pour",
        "es": "Nuevo lead para",
    }
}


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_catalogue_translates_every_message(language):
    with (LOCALES / language / "LC_MESSAGES/messages.po").open("rb") as f:
        catalog = read_po(f, locale=language)
    untranslated = [
        m.id for m in catalog if m.id and not all(m.string if isinstance(m.string, tuple) else [m.string])
    ]
    assert untranslated == []


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_every_message_of_the_pages_emails_and_portal_errors_is_in_every_catalogue(language):
    """Walks the messages the code and templates use (as the maintainer's extractor finds them) and looks
    each up in the catalogue: a message added without a translation fails here, not in a partner's inbox."""
    with (LOCALES / language / "LC_MESSAGES/messages.po").open("rb") as f:
        catalog = read_po(f, locale=language)
    used = template_messages()
    missing = [m.id for m in used if m.id and not (catalog.get(m.id) and catalog.get(m.id).string)]
    assert missing == []
    assert len(used) > 150  # the extractor found the templates, the portal code and the lifecycle Messages


def data_strings(context) -> list[str]:
    """The values a test puts in an email: a line made of these alone is data, not untranslated English."""
    out = [VIEW.title, VIEW.lead_id, PARTNER.name, "Spring Webinar", "Company", "Engines", "Program tier", "Gold"]
    out += [str(v) for v in context.values() if isinstance(v, str | int)]
    for item in context.get("items", []):
        out += [str(v) for v in item.values()]
    return sorted(set(out), key=len, reverse=True)


SAME_IN_EVERY_LANGUAGE = {"Lead:", "Lead", "Partner"}  # words German (and the trade) use as English does


def lines(text: str) -> set[str]:
    return {x.strip() for x in re.split(r"<[^>]+>|\n|&nbsp;", text) if x.strip()}


def english_left(template: str, language: str) -> list[str]:
    context = EMAILS[template]
    english = render(template, "fallback subject", language="en", **context)
    shown = render(template, "fallback subject", language=language, **context)
    left = []
    for ours, theirs in ((english.text, shown.text), (english.html, shown.html), (english.subject, shown.subject)):
        for line in lines(ours) & lines(theirs):
            rest = line
            for value in [*data_strings(context), *SAME_IN_EVERY_LANGUAGE]:
                rest = rest.replace(value, "")
            if re.search(r"[A-Za-z]{3,}", rest):
                left.append(line)
    return left


@pytest.mark.parametrize("language", list(LANGUAGES))
@pytest.mark.parametrize("template", list(EMAILS))
def test_every_email_is_rendered_in_each_language(template, language):
    email = render(template, "fallback subject", language=language, **EMAILS[template])
    if language != "en":
        assert english_left(template, language) == []  # no English sentence left in any part
    if template in ("new_lead", "reminder", "withdrawn", "offer", "offer_taken"):  # these greet the partner
        assert HELLO[language].replace("Nora West", PARTNER.name) in email.text
    else:
        assert HELLO[language] in email.text and HELLO[language] in email.html
    if template in SUBJECT:
        assert email.subject.startswith(SUBJECT[template][language])
    assert f'lang="{language}"' in email.html
    if language != "en":
        english = render(template, "fallback subject", language="en", **EMAILS[template])
        assert email.text != english.text and email.subject != english.subject


def test_a_users_language_is_kept_across_sessions_and_used_for_the_sign_in_email(served, browser_session):
    first = browser_session().sign_in("ops@northwind.example")
    first.post("/portal/language", {"language": "de", "next": "/portal/leads"})
    assert "Ihre Leads" in first.http.get("/portal/leads").text
    first.post("/portal/sign-out", {})

    second = browser_session()  # another browser, English by default
    assert "Sign in to the partner portal" in second.http.get("/portal/sign-in").text
    second.sign_in("ops@northwind.example")
    mails = [m for m in served.inbox.to("ops@northwind.example")]
    assert mails[-1].message["Subject"] == "Ihr Anmeldelink für das Partnerportal von Northwind Networks"
    page = second.http.get("/portal/leads").text
    assert '<html lang="de">' in page and "Ihre Leads" in page


def test_pages_follow_the_browsers_language_before_sign_in(served, browser_session):
    client = browser_session()
    page = client.http.get("/portal/sign-in", headers={"accept-language": "es-ES,es;q=0.9,en;q=0.5"})
    assert "Acceso al portal de socios" in page.text


def test_new_lead_emails_follow_the_partners_language_and_time_zone(served, browser_session):
    admin = browser_session().sign_in("leads@northwind.example")
    admin.post(
        "/portal/settings",
        [
            ("notification_users", "leads@northwind.example"),
            ("notified_reps", "nora@northwind.example"),
            ("closed_loop", "on"),
            ("language_default", "fr"),
            ("time_zone", "Europe/Paris"),
        ],
    )
    served.add_leads([{"first_name": "Ada", "last_name": "Lovelace", "company": "Engines", "country": "US"}])
    deliver(served.ctx, pd.Timestamp("2026-11-02 09:00", tz="UTC").to_pydatetime())
    (mail,) = [m for m in served.inbox.messages if "Engines" in m.message["Subject"]]
    assert mail.message["Subject"] == "Nouveau lead pour Northwind Networks : Ada Lovelace, Engines"
    assert "Un nouveau lead vous a été attribué." in mail.text
    assert "expirent le 09 Nov 2026 10:00 Europe/Paris." in mail.text  # 168 h later, in Paris (UTC+1)
