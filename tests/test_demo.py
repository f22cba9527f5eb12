"""The shipped project as `leadsync demo` runs it, and the helpers that read a demo's summary.

The demo itself runs once per suite, from the built wheel in a fresh venv on a project `leadsync init` wrote
(tests/test_wheel.py, where the tests of its summary and of the sandboxes' saved state are): a demo takes a minute,
and the wheel's is the one a user installing leadsync gets. `demo_project` is the shipped project with its ports
moved, for other tests that run the demo's world (tests/soak)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml
from leadsync.connectors.loopback_ports import free_ports

REPO = Path(__file__).resolve().parents[1]
SOURCES = {"sftp_demo": "sftp", "salesforce_demo": "salesforce", "marketo_demo": "marketo",
           "eloqua_demo": "eloqua"}
CRM_PARTNER = "maple"


def demo_project(root: Path) -> dict[str, int]:
    """A copy of the shipped mappings and .env under `root`, every port moved to a free one; `maple` (an
    auto-accept partner) works in its own Salesforce org. Returns the ports by name."""
    shutil.copytree(REPO / "mappings", root / "mappings")
    shutil.copy(REPO / ".env", root / ".env")
    names = ["sftp", "salesforce", "marketo", "eloqua", "crm", "smtp", "web"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    sources = root / "mappings/sources"

    def move(file: Path, old: str, new: str) -> None:
        text = file.read_text()
        assert old in text, f"{file.name} no longer holds {old!r}: update this test"
        file.write_text(text.replace(old, new))

    move(sources / "sftp_demo.yaml", "port: 2222", f"port: {ports['sftp']}")
    move(sources / "salesforce_demo.yaml", "127.0.0.1:8443", f"127.0.0.1:{ports['salesforce']}")
    move(sources / "marketo_demo.yaml", "127.0.0.1:8444", f"127.0.0.1:{ports['marketo']}")
    move(sources / "eloqua_demo.yaml", "127.0.0.1:8445", f"127.0.0.1:{ports['eloqua']}")
    move(root / "mappings/lifecycle.yaml", "port: 8025", f"port: {ports['smtp']}")
    move(root / "mappings/lifecycle.yaml", "port: 8040", f"port: {ports['web']}")

    partners_file = root / "mappings/partners.yaml"
    partners = yaml.safe_load(partners_file.read_text())
    maple = next(p for p in partners["partners"] if p["id"] == CRM_PARTNER)
    maple.setdefault("users", [{"name": "Lead Desk", "email": "leads@maple.example"}])
    maple["auto_accept"] = True
    maple["technical_contact"] = "it@maple.example"
    maple["crm"] = {"type": "salesforce",
                    "connection": {"login_url": f"http://127.0.0.1:{ports['crm']}",
                                   "consumer_key_env": "DEMO_TEST_MAPLE_KEY",
                                   "consumer_secret_env": "DEMO_TEST_MAPLE_SECRET", "timeout_s": 10},
                    "owner": {"default_email": "leads@maple.example"}}
    partners_file.write_text(yaml.safe_dump(partners, sort_keys=False, allow_unicode=True))
    return ports


def figures(output: str) -> dict[str, dict[str, int]]:
    """Each source's table in the summary: its row labels → the count."""
    tables: dict[str, dict[str, int]] = {}
    current = None
    for line in output.splitlines():
        title = re.match(r"^\s*(\w+) \((SFTP|Salesforce|Marketo|Eloqua)\)\s*$", line)
        if title:
            current = tables.setdefault(title.group(1), {})
            continue
        row = re.match(r"^\W*([a-zA-Z][a-zA-Z :+-]*[a-zA-Z])\s*│\s*([\d,]+)\s*│", line)
        if current is not None and row:
            current.setdefault(row.group(1).strip().lower(), int(row.group(2).replace(",", "")))
    return tables


def routed_per_partner(output: str) -> dict[str, dict[str, int]]:
    """Each source's "routed to partners" rows in the summary: partner name → leads."""
    tables: dict[str, dict[str, int]] = {}
    current, in_routed = None, False
    for line in output.splitlines():
        title = re.match(r"^\s*(\w+) \((SFTP|Salesforce|Marketo|Eloqua)\)\s*$", line)
        if title:
            current, in_routed = tables.setdefault(title.group(1), {}), False
            continue
        label = re.match(r"^\W*([a-zA-Z][a-zA-Z :+-]*[a-zA-Z])\s*│", line)
        if label:
            in_routed = label.group(1).strip() == "routed to partners"
            continue
        row = re.match(r"^\W*?([\d,]+)\s*│\s*(\S.*?)\s*│", line)
        if current is not None and in_routed and row:
            current[row.group(2)] = int(row.group(1).replace(",", ""))
    return tables


def test_the_shipped_code_location_has_every_source_kind():
    """mappings/sources/ ships one example per source kind, and the code location builds all of them."""
    from leadsync.config import load_source
    from leadsync.definitions import defs as location_defs

    shipped = {f.stem: load_source(f).type for f in (REPO / "mappings/sources").glob("*.yaml")}
    assert shipped == SOURCES
    keys = {k.to_user_string() for k in location_defs().resolve_asset_graph().get_all_asset_keys()}
    for source in SOURCES:
        assert {f"{source}/raw_rows", f"{source}/leads", f"{source}/assignments", f"{source}/writeback"} <= keys
