"""Edits tests make to their copies of the shipped mappings (imported by name: pytest puts tests/ on sys.path;
the benchmarks import it too)."""

from pathlib import Path

import yaml


def without_partner_crms(partners_file: Path) -> None:
    """The shipped partners.yaml gives Maple its own Salesforce org (the demo starts it); tests that need a
    partner CRM start one themselves (tests/partner_crm), the others run without."""
    data = yaml.safe_load(partners_file.read_text())
    for partner in data["partners"]:
        if partner.pop("crm", None) is not None:
            partner.pop("technical_contact", None)
            if partner.get("auto_accept"):
                partner["auto_accept_without_crm"] = "the tests run without the partner's CRM org"
    partners_file.write_text(yaml.safe_dump(data, sort_keys=False))
