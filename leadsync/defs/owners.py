"""Asset owners from the YAML's contacts: a source's `contacts` own its assets; the partner lifecycle's
`web.support_contact` (lifecycle.yaml) owns the partners group. The UI shows them on every asset page and
filters the catalogue by them."""

from __future__ import annotations

from pathlib import Path

import yaml
from dagster._core.definitions.utils import is_valid_owner

from leadsync.config.yaml_text import lenient_yaml


def owners_from(contacts: object) -> list[str]:
    """The contacts Dagster accepts as owners (email addresses), each once. Read leniently: a file that does
    not validate still builds (its run names the bad address), so what is not an address is left out here."""
    if isinstance(contacts, str):
        contacts = [contacts]
    if not isinstance(contacts, list):
        return []
    return list(dict.fromkeys(c.strip() for c in contacts if isinstance(c, str) and is_valid_owner(c.strip())))


def lifecycle_owners(lifecycle_file: Path) -> list[str]:
    """lifecycle.yaml's `web.support_contact`, the address partners write to about their leads."""
    try:
        data = lenient_yaml(lifecycle_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    web = data.get("web") if isinstance(data, dict) else None
    return owners_from(web.get("support_contact") if isinstance(web, dict) else None)
