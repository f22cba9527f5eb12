"""Translations of the portal pages and partner emails: gettext catalogues (Babel), one per language under
locales/<lang>/LC_MESSAGES/messages.po. The .po files are compiled in memory on first use (Babel's own
compiler), so a fresh checkout needs no build step; English is the source text."""

from __future__ import annotations

import gettext as _gettext
from datetime import UTC, datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Self
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import pass_context
from markupsafe import Markup

LOCALES = Path(__file__).parent / "locales"
LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español"}
DEFAULT = "en"


def language_of(code: str | None) -> str:
    """A supported language code for `code` ('de-AT' → 'de'), else English."""
    base = (code or "").strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else DEFAULT


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """The compiled catalogue of `language`; English (and a language without a catalogue): the source text."""
    po = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT or not po.exists():
        return _gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def gettext_callables(language: str) -> dict:
    """`_`, `gettext` and `ngettext` for a template's context, in Jinja's new style ({% trans %} blocks and
    _('text %(name)s', name=…) both work, and translated text is escaped like any other value)."""
    t = translations(language_of(language))

    @pass_context
    def gettext(context, message: str, **variables) -> str:
        text = t.gettext(message)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables if variables else text

    @pass_context
    def ngettext(context, singular: str, plural: str, num: int, **variables) -> str:
        variables.setdefault("num", num)
        text = t.ngettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            text = Markup(text)
        return text % variables

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext, "language": language_of(language)}


def translate(language: str | None, message: str, **variables) -> str:
    """One message outside a template (subjects, flash notices)."""
    text = translations(language_of(language)).gettext(message)
    return text % variables if variables else text


class Message(str):
    """English text that keeps its msgid and values, so a portal page or email can show it in the reader's
    language (`localized`). Raise errors with one: where English is wanted (logs, the JSON API) it is the
    plain English string. `Message("Select at most %(n)s leads.", n=500)`; catalogues.py extracts msgids."""

    msgid: str
    params: dict

    def __new__(cls, msgid: str, **params) -> Self:
        text = super().__new__(cls, msgid % params if params else msgid)
        text.msgid, text.params = msgid, params
        return text


def localized(language: str | None, text: object) -> str:
    """`text` in `language`: a Message by its msgid, any other text when the catalogue has it, else as is."""
    if isinstance(text, Message):
        params = {k: localized(language, v) if isinstance(v, Message) else v for k, v in text.params.items()}
        return translate(language, text.msgid, **params)
    return translate(language, str(text)) if text else ""


def error_text(language: str | None, exc: BaseException) -> str:
    """An exception's message in `language` (str(exc) drops the Message; its first argument keeps it)."""
    return localized(language, exc.args[0] if exc.args else str(exc))


def browser_language(header: str | None) -> str | None:
    """The supported language an Accept-Language header prefers most (its q-values weigh), else None."""
    ranked = []
    for order, part in enumerate((header or "").split(",")):
        code, *params = [p.strip() for p in part.split(";")]
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        base = code.lower().replace("_", "-").split("-")[0]
        if base in LANGUAGES and weight > 0:
            ranked.append((-weight, order, base))
    return min(ranked)[2] if ranked else None


def local_datetime(moment: datetime, zone: str, language: str | None) -> str:
    """A stored moment (naive: UTC) in `zone`, as the emails print it (02 Nov 2026 10:00 CET) with the
    month in `language` (Babel's CLDR names: de 'Nov.', fr 'nov.')."""
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(ZoneInfo(zone))
    return f"{format_datetime(local, 'dd MMM yyyy HH:mm', locale=language_of(language))} {local.tzname()}"
