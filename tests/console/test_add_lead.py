"""A lead entered by hand (`leadsync add-lead`) walks the source's own stages on real servers: stored as a
raw batch of one row whose ledger names the person, mapped, routed, and listed in the SFTP status file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.cli import main
from leadsync.store import LeadStore, tables

REPO = Path(__file__).resolve().parents[2]


def status_rows(sftp: SftpSandbox) -> pd.DataFrame:
    files = sorted((sftp.root / "outbox").glob("*.csv"))
    return pd.concat([pd.read_csv(f, dtype=str) for f in files], ignore_index=True) if files else pd.DataFrame()


def test_add_lead_is_routed_and_appears_in_the_status_file(console_project, sftp, duckdb_url, capsys):
    code = main(["--mappings", str(console_project / "mappings"), "add-lead", "--source", "sftp_demo",
                 "--field", "email=ann@acme.com", "--field", "Last Name=Lee", "--field", "country=US",
                 "--field", "state=CA", "--field", "products=Firewall",
                 "--json", '{"company": "Acme", "lead_type": "SMB"}',
                 "--by", "Pat Ops", "--store", duckdb_url])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "manual entry by Pat Ops" in out.out and "written back" in out.out
    store = LeadStore(duckdb_url)
    with store.begin() as conn:
        lead = conn.execute(sa.select(tables.leads).where(tables.leads.c.email == "ann@acme.com")).mappings().one()
        ledger = conn.execute(sa.select(tables.source_files.c.file_name, tables.source_files.c.row_count)
                              .where(tables.source_files.c.batch_id == lead["batch_id"])).one()
        assignment = conn.execute(sa.select(tables.assignments.c.status, tables.assignments.c.partner_id)
                                  .where(tables.assignments.c.lead_id == lead["lead_id"])).one()
    assert ledger.file_name.startswith("manual entry by Pat Ops at ") and ledger.row_count == 1
    assert lead["company"] == "Acme" and lead["last_name"] == "Lee"
    assert assignment.status in ("routed", "accepted") and assignment.partner_id
    rows = status_rows(sftp)
    mine = rows[rows["lead_id"] == lead["lead_id"]]
    assert len(mine) == 1 and mine["email"].iloc[0] == "ann@acme.com"
    assert mine["source_file"].iloc[0].startswith("manual entry by Pat Ops")


def test_an_invalid_lead_is_quarantined_with_the_mappings_reason(console_project, duckdb_url, capsys):
    code = main(["--mappings", str(console_project / "mappings"), "add-lead", "--source", "sftp_demo",
                 "--field", "email=not-an-email", "--field", "last_name=Lee", "--by", "Pat", "--store", duckdb_url,
                 "--no-write-back"])
    assert code == 1
    assert "quarantined" in capsys.readouterr().err
    with LeadStore(duckdb_url).begin() as conn:
        reasons = conn.execute(sa.select(tables.quarantine.c.reason)).scalars().all()
    assert len(reasons) == 1 and "email" in reasons[0].lower()


def test_unknown_fields_and_api_sources_are_refused_with_the_fix(console_project, duckdb_url, capsys):
    mappings = console_project / "mappings"
    assert main(["--mappings", str(mappings), "add-lead", "--source", "sftp_demo", "--field", "shoe_size=9",
                 "--store", duckdb_url]) == 2
    err = capsys.readouterr().err
    assert "'shoe_size'" in err and "email" in err and "sftp_demo.yaml" in err
    # an API source that does not allow manual entry (tests/console/test_add_lead_api.py: the ones that do)
    demo = (REPO / "mappings/sources/salesforce_demo.yaml").read_text()
    (mappings / "sources/salesforce_demo.yaml").write_text(demo.replace("writeback:\n", "writeback:\n  manual_entry: false\n", 1))
    assert main(["--mappings", str(mappings), "add-lead", "--source", "salesforce_demo", "--field", "email=a@b.co",
                 "--store", duckdb_url]) == 2
    err = capsys.readouterr().err
    assert "salesforce_demo refuses leads entered by hand" in err and "writeback.manual_entry: true" in err
    with LeadStore(duckdb_url).begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.source_files)).scalar_one() == 0
