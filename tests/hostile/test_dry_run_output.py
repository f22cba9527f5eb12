"""`leadsync route --dry-run` prints stored lead values and writes them to a CSV with --out: a formula-leading
value (an email address may legally start with = + or -) reaches the CSV inert, and control characters (an ANSI
sequence that would clear and repaint the operator's terminal, a carriage return, a bell) are printed as
escapes, never sent. Through the CLI, as an operator runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from hostile_inputs import HEADER
from leadsync.connectors.sftp import inbox_readiness

from leadsync import pipeline
from leadsync.store import tables

FORMULAS = ["=1+2@evil.example", "+cmd@evil.example", "-2+3@evil.example"]
# what an older store or a hand-entered lead may hold: intake strips these from received files today
ANSI = "ansi\x1b[2J\x1b[31m\x1b]0;owned\x07\r\x9b1m@evil.example"
LEADSYNC = str(Path(sys.executable).parent / "leadsync")


def _line(email: str) -> str:
    return f"{email},Pat,Lee,Acme,US,TX,73301,Firewall,SMB,Expo,2026-11-01,Blue Peak Security\n"


def test_dry_run_csv_is_inert_and_the_terminal_gets_no_control_characters(project, paths, store, duckdb_url,
                                                                          uploader, monkeypatch, tmp_path):
    monkeypatch.setattr(inbox_readiness, "wait", lambda seconds: None)
    uploader.put("hostile.csv", HEADER + "".join(_line(e) for e in [*FORMULAS, "plain@acme.example"]))
    pipeline.pull(paths, store, "sftp_demo")
    pipeline.map_and_validate(paths, store, "sftp_demo")
    pipeline.route_leads(paths, store, "sftp_demo")
    leads = tables.leads
    with store.begin() as conn:
        stored = dict(conn.execute(sa.select(leads.c.email, leads.c.lead_id)).all())
        assert set(FORMULAS) <= set(stored), stored  # the addresses are valid: they were stored as they came
        conn.execute(sa.update(leads).where(leads.c.email == "plain@acme.example").values(email=ANSI))
    store.dispose()  # the CLI is the store's one writer now

    out = tmp_path / "dry-run.csv"
    done = subprocess.run([LEADSYNC, "--mappings", str(paths.mappings), "route", "--dry-run", "--all", "--limit", "0",
                           "--out", str(out), "--store", duckdb_url], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    printed = done.stdout
    assert "nothing was written" in printed
    for control in ("\x1b", "\x07", "\r", "\x9b"):
        assert control not in printed, f"{control!r} reached the terminal"
    assert "ansi\\x1b[2J\\x1b[31m\\x1b]0;owned\\x07\\r\\x9b1m@evil.example" in printed  # shown, as escapes

    cells = pd.read_csv(out, dtype=str, keep_default_na=False)
    emails = set(cells["email"])
    assert {"'" + e for e in FORMULAS} <= emails  # a spreadsheet shows them as text
    risky = [c for column in cells for c in cells[column] if c[:1] in ("=", "+", "-", "@", "\t", "\r")
             and not c.lstrip("+-").replace(".", "", 1).isdigit()]
    assert risky == []
