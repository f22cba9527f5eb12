"""An SFTP pull's run says, per file, how its text was decoded and how many rows were quarantined for their
bytes, and logs the files left for the next run and those stored with a warning as run log lines."""

import os
import time

import dagster as dg
import pytest
from jobs import materialization
from sftp_drop import HEADER, PASSWORD, inbox, point_at

from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.defs.build import build_definitions


@pytest.fixture
def sftp(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"demo": PASSWORD}) as server:
        yield server


def row(email: str, first: str) -> str:
    return f"{email},{first},Lee,Acme,US,TX,73301,Firewall,SMB,Expo,2026-11-01,\n"


def drop(sftp: SftpSandbox, name: str, data: bytes, hours_ago: float) -> None:
    """A settled upload (modified `hours_ago`), so the pull reads the files oldest first without waiting."""
    path = inbox(sftp) / name
    path.write_bytes(data)
    then = time.time() - hours_ago * 3600
    os.utime(path, (then, then))


def test_the_files_table_has_encoding_and_quarantined_rows_and_the_log_names_waiting_and_warned_files(
        project, sftp, monkeypatch, duckdb_url):
    # one run reads 3 rows at most: the second file waits for the next run
    point_at(project, sftp, monkeypatch, files={"max_run_rows": 3, "settle_seconds": 0})
    mixed = ((HEADER + row("ann@a.example", "Renée") + row("bob@b.example", "Björn")).encode("cp1252")
             + row("zoe@z.example", "Zoé").encode("utf-8") + row("lea@l.example", "Léa").encode("cp1252"))
    drop(sftp, "mixed.csv", mixed, hours_ago=2)
    drop(sftp, "later.csv", (HEADER + row("kim@k.example", "Kim")).encode("utf-8"), hours_ago=1)

    instance = dg.DagsterInstance.ephemeral()
    result = build_definitions(project / "mappings", duckdb_url).resolve_job_def("sftp_demo_sync").execute_in_process(
        instance=instance, raise_on_error=False)
    assert result.success
    meta = materialization(result, "sftp_demo/raw_rows")
    assert meta["dagster/row_count"] == 3 and meta["quarantined_rows"] == 1 and meta["files_waiting"] == 1
    header, _rule, *lines = meta["files"].splitlines()
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "name", "status", "rows", "encoding", "quarantined_rows", "reason", "moved_to"]
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.strip().strip("|").split("|")] for line in lines}
    assert cells["mixed.csv"][1:5] == ["stored", "3", "cp1252", "1"]
    assert cells["later.csv"][1] == "waiting" and cells["later.csv"][4] == "0"

    logged = [record.user_message for record in instance.all_logs(result.run_id) if record.user_message]
    assert any(m.startswith("later.csv: the rows read in this run (1) is over the run limit of 3")
               and m.endswith("the file is read by the next run") for m in logged)
    assert any(m.startswith("mixed.csv: 1 row(s) not in the file's encoding (cp1252) quarantined") for m in logged)
