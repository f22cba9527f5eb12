"""Extract the translatable messages of the portal and the partner emails, and update each language's
catalogue (locales/<lang>/LC_MESSAGES/messages.po) with them — new messages untranslated, gone ones
dropped. A maintainer's tool, not run by leadsync itself:

    python -m leadsync.portal.catalogues      # then translate the empty msgstr entries

Messages come from the Jinja2 templates ({% trans %}, _(), ngettext) — the portal's, the emails' and the
emailed-link pages' — and the Python code (_ / translate, the page and message titles, Messages)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from leadsync.portal.i18n import DEFAULT, LANGUAGES, LOCALES

LIFECYCLE_TEMPLATES = Path(__file__).parents[1] / "lifecycle" / "templates"
ROOTS = (Path(__file__).parent, LIFECYCLE_TEMPLATES / "email", LIFECYCLE_TEMPLATES / "web")
TEMPLATES = [("**.html", "jinja2"), ("**.txt", "jinja2"), ("**.subject", "jinja2")]
PYTHON_KEYWORDS = {"translate": (2,), "text": (2,), "_": (2,), "page": (3,), "message": (2,), "Message": (1,)}
# Python code whose text reaches portal pages or partner emails: the portal's (titles, notices, Messages)
# and the lifecycle's Messages (outcomes of the portal's bulk actions, errors it shows)
PYTHON_ROOTS = ((Path(__file__).parent, PYTHON_KEYWORDS), (Path(__file__).parents[1] / "lifecycle", {"Message": (1,), "translate": (2,)}))


def _extra() -> list[str]:
    """Messages a template translates from a variable."""
    from leadsync.portal.ranking import ANONYMOUS

    return [ANONYMOUS]


def template_messages() -> Catalog:
    catalog = Catalog(project="leadsync", fuzzy=False)
    for root in ROOTS:
        for filename, lineno, message, comments, context in extract_from_dir(
                root, TEMPLATES, options_map={"**": {"extensions": "jinja2.ext.i18n"}}):
            catalog.add(message, locations=[(filename, lineno)])
    for root, keywords in PYTHON_ROOTS:
        for filename, lineno, message, comments, context in extract_from_dir(
                root, [("**.py", "python")], keywords=keywords):
            if isinstance(message, str) and message.strip():
                catalog.add(message, locations=[(f"{root.name}/{filename}", lineno)])
    for message in _extra():
        catalog.add(message)
    return catalog


def update() -> None:
    template = template_messages()
    for language in LANGUAGES:
        if language == DEFAULT:
            continue
        path = LOCALES / language / "LC_MESSAGES" / "messages.po"
        if path.exists():
            with path.open("rb") as f:
                catalog = read_po(f, locale=language)
        else:
            catalog = Catalog(locale=language, project="leadsync")
        catalog.update(template, no_fuzzy_matching=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, catalog, width=0, omit_header=False, ignore_obsolete=True)
        missing = [m.id for m in catalog if m.id and not m.string]
        print(f"{path}: {len(catalog)} messages, {len(missing)} untranslated")


if __name__ == "__main__":
    update()
