"""Who reads a page of the partner-response app (web.py), and so its language and time zone.

An emailed link's page speaks to the partner the link was sent to, as its emails do: the language the
partner admin chose in the portal (its `language` setting), and the partner's time zone (portal
`time_zone`, else partners.yaml `timezone`). Links name a partner, not a recipient (tokens.py), so a
user's own portal language cannot apply here. The browser's Accept-Language counts only when no language
is known: a forged link, or a partner that never chose one; English after that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from leadsync.lifecycle.context import Lifecycle
from leadsync.portal.i18n import DEFAULT, language_of, local_datetime, localized


@dataclass(frozen=True)
class Reader:
    language: str
    zone: str = "UTC"

    def text(self, message: object) -> str:
        """A Message (or catalogue text) in the reader's language."""
        return localized(self.language, message)

    def time(self, moment: datetime) -> str:
        return local_datetime(moment, self.zone, self.language)


def reader_of(ctx: Lifecycle, partner_id: str | None, browser: str | None) -> Reader:
    """The reader of a page reached by `partner_id`'s link (None: a link that names nobody we trust);
    `browser`: the Accept-Language header's language, if any."""
    partner = ctx.partner(partner_id)
    if partner is None:
        return Reader(browser or DEFAULT)
    ctx.refresh_partner_settings()  # a language or zone chosen in the portal since (in any process) counts now
    partner = ctx.partner(partner_id) or partner
    chosen = ctx.settings_of(partner.id)
    known = chosen.language if chosen is not None and "language" in chosen.changes else None
    return Reader(language_of(known or browser), partner.timezone)
