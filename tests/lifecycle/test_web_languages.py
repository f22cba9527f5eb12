"""The emailed-link pages in the language of the partner the link was sent to, with times in its time zone:
a German partner (portal language de, zone Europe/Berlin) reads its accept page, the outcome, the refusal of
a used or expired link and its status page in German; an English partner still reads English; the browser's
Accept-Language counts only when no language is known. Real HTTP against the app served on loopback."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from leadsync.lifecycle.delivery import deliver
from leadsync.lifecycle.links import link, token_for
from leadsync.portal.catalogues import template_messages
from leadsync.portal.overrides import in_force, save

NOW = datetime(2026, 12, 3, 8, 30, tzinfo=UTC)  # the web app's clock: 09:30 in Berlin (CET), 08:30 in London


@pytest.fixture
def http():
    with httpx.Client(trust_env=False, timeout=10) as client:
        yield client


@pytest.fixture
def w(make_served):
    return make_served(clock=lambda: NOW)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def choose(world, partner_id: str, **wanted) -> None:
    """What a partner admin saves on the portal's settings page (language, time_zone)."""
    partner = world.ctx.partner(partner_id)
    with world.store.begin() as conn:
        save(conn, partner, in_force(partner, {}, world.ctx.settings.portal), wanted, "admin@example", NOW)


def emailed(world, country: str, to: str):
    """A lead routed to the partner of `country`, and the new-lead email `to` received."""
    (lead,) = world.add_leads([{"first_name": "Ada", "last_name": "Lovelace", "company": "Engines",
                                "country": country}], at=NOW)
    deliver(world.ctx, NOW)
    return lead, world.inbox.to(to)[-1]


def test_a_german_partner_reads_its_accept_page_and_a_used_link_refusal_in_german(w, http):
    choose(w, "north", language="de", time_zone="Europe/Berlin")
    lead, mail = emailed(w, "US", "leads@northwind.example")
    url = mail.link("accept")

    page = http.get(url, headers={"Accept-Language": "en-US,en;q=0.9"})  # the partner's choice beats the browser's
    assert page.status_code == 200 and '<html lang="de">' in page.text
    assert "<title>Diesen Lead annehmen?</title>" in page.text
    assert '<button id="accept" type="submit">Diesen Lead annehmen</button>' in page.text
    assert "Nicht für Sie? Verwenden Sie stattdessen den Ablehnungslink in der E-Mail." in page.text

    done = http.post(f"{w.base_url}/lead/accept", data={"t": token_of(url)})
    assert done.status_code == 200 and "<title>Lead angenommen</title>" in done.text
    assert "Sie haben diesen Lead für Northwind Networks angenommen" in done.text
    assert "Statusseite des Leads öffnen" in done.text
    assert w.assignment(lead)["status"] == "accepted"

    again = http.post(f"{w.base_url}/lead/accept", data={"t": token_of(url)})
    assert again.status_code == 410 and "<title>Dieser Link wurde bereits verwendet</title>" in again.text
    assert ("Dieser Annahmelink wurde am 03 Dez. 2026 09:30 CET verwendet; jeder Annahme- oder Ablehnungslink "
            "funktioniert nur einmal. Es wurde nichts geändert.") in again.text  # recorded 08:30 UTC
    refused = http.get(mail.link("reject"))
    assert refused.status_code == 409 and "<title>Das ist nicht möglich</title>" in refused.text
    assert "Dieser Lead ist bereits angenommen; es gibt nichts zu entscheiden." in refused.text


def test_an_expired_link_and_the_status_page_speak_german_in_berlin_time(w, http):
    choose(w, "north", language="de", time_zone="Europe/Berlin")
    lead, mail = emailed(w, "US", "leads@northwind.example")
    http.post(f"{w.base_url}/lead/accept", data={"t": token_of(mail.link("accept"))})

    old = token_for(w.ctx, "accept", "north", lead, NOW - timedelta(days=30), 1)
    expired = http.get(f"{w.base_url}/lead/accept", params={"t": old})
    expires = NOW - timedelta(days=30) + timedelta(hours=w.ctx.settings.web.token_ttl_hours)
    assert expired.status_code == 410 and "<title>Dieser Link ist abgelaufen</title>" in expired.text
    assert f"Der Link ist am {expires:%d} Nov. 2026 " in expired.text and " CET abgelaufen." in expired.text

    status = link(w.ctx, "status", "north", lead, NOW)
    saved = http.post(f"{w.base_url}/lead/status", data={"t": token_of(status), "sales_status": "Contacted"})
    assert saved.status_code == 200 and "Gespeichert: Vertriebsstatus gesetzt: Contacted." in saved.text
    assert "<h2>Verlauf</h2>" in saved.text and '<button type="submit">Status speichern</button>' in saved.text
    assert "03 Dez. 2026 09:30 CET — Lead angenommen" in saved.text  # the history, in Berlin time


def test_an_english_partner_still_reads_english_with_utc_times(w, http):
    _, mail = emailed(w, "GB", "dana@bluepeak.example")  # blue: no language chosen, zone UTC
    url = mail.link("accept")
    page = http.get(url)
    assert '<html lang="en">' in page.text and "<title>Accept this lead?</title>" in page.text
    assert '<button id="accept" type="submit">Accept this lead</button>' in page.text
    http.post(f"{w.base_url}/lead/accept", data={"t": token_of(url)})
    again = http.post(f"{w.base_url}/lead/accept", data={"t": token_of(url)})
    assert again.status_code == 410 and "<title>This link has already been used</title>" in again.text
    assert "This accept link was used on 03 Dec 2026 08:30 UTC; each accept or reject link works once." in again.text


def test_the_browsers_language_counts_only_when_no_language_is_known(w, http):
    choose(w, "north", language="de")
    _, to_blue = emailed(w, "GB", "dana@bluepeak.example")
    french = http.get(to_blue.link("accept"), headers={"Accept-Language": "fr-CH;q=0.8, de;q=0.5, it"})
    assert '<html lang="fr">' in french.text and "<title>Accepter ce lead ?</title>" in french.text

    _, to_north = emailed(w, "US", "leads@northwind.example")
    assert "<title>Diesen Lead annehmen?</title>" in http.get(to_north.link("accept"),
                                                              headers={"Accept-Language": "fr"}).text
    form = http.get(to_north.link("reject"), headers={"Accept-Language": "fr"})
    assert "<legend>Warum lehnen Sie diesen Lead ab?</legend>" in form.text
    no_reason = http.post(f"{w.base_url}/lead/reject", data={"t": token_of(to_north.link("reject"))})
    assert no_reason.status_code == 400 and "Wählen Sie einen Grund für die Ablehnung des Leads." in no_reason.text
    rejected = http.post(f"{w.base_url}/lead/reject", data={"t": token_of(to_north.link("reject")),
                                                            "reason": "duplicate"})
    assert "<title>Lead abgelehnt</title>" in rejected.text and "Danke für Ihre Rückmeldung." in rejected.text

    forged = http.get(f"{w.base_url}/lead/accept", params={"t": "v1.bm9uZQ.bm9uZQ"}, headers={"Accept-Language": "es"})
    assert forged.status_code == 403 and "<title>Este enlace no es válido</title>" in forged.text


def test_the_catalogue_check_walks_the_link_pages_and_their_messages():
    """The completeness test (tests/portal/test_languages.py) checks what the extractor finds: it must find
    the link pages' templates and web.py's Messages."""
    found = {m.id for m in template_messages() if isinstance(m.id, str)}
    assert {"Why are you rejecting this lead?", "Not for you? Use the reject link in the email instead.",
            "This accept link was used on %(when)s; each accept or reject link works once. Nothing was changed.",
            "This link has already been used", "Lead status — %(partner)s"} <= found
