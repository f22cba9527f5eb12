"""A pull killed (SIGKILL) while a file streams into the store: nothing of the file is visible, to the intake or
in the raw table, and the next pull stores every row of it once.

The pull runs in a process of its own, paused inside its block stream once more than a DuckDB row group's rows
(122,880, which DuckDB writes to the database file before the commit) have gone into the insert, then killed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc
import sqlalchemy as sa

from leadsync.config.loader import load_source
from leadsync.connectors.sftp.client import SftpClient
from leadsync.intake.walk import map_new_rows, new_batches
from leadsync.pull.sftp_files import pull_inbox
from leadsync.store import LeadStore, raw, tables

REPO = Path(__file__).resolve().parents[3]
SOURCE_YAML = REPO / "mappings/sources/sftp_demo.yaml"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LEADS = 170_000
# Past a row group by more than the blocks read ahead of the insert (two queued, one being put: some 13,000 rows).
PAUSE_AFTER_ROWS = 155_000

# The child: the real pull, its blocks made small (a few thousand rows each), paused once PAUSE_AFTER_ROWS rows
# have passed the row limits' counter, i.e. are going into the store's insert.
CHILD = """
import json, sys, time
from datetime import UTC, datetime
from pathlib import Path
from leadsync.config.loader import load_source
from leadsync.connectors.sftp import lead_csv
from leadsync.connectors.sftp.client import SftpClient, SftpSettings
from leadsync.pull import sftp_files
from leadsync.store import LeadStore

args = json.loads(sys.argv[1])
lead_csv.BLOCK, lead_csv.BATCH = 1 << 16, 1 << 18
counted = sftp_files._counted

def paused(blocks, *rest):
    seen = 0
    for block in counted(blocks, *rest):
        yield block
        seen += block[0].num_rows
        if seen >= args["pause_after"]:
            # written aside and renamed: the parent waits for the name, and must not read it before it is written
            part = Path(args["marker"] + ".part")
            part.write_text(str(seen))
            part.replace(args["marker"])
            time.sleep(600)

sftp_files._counted = paused
with SftpClient(SftpSettings(**args["settings"])) as client:
    sftp_files.pull_inbox(load_source(args["source"]), client, LeadStore(args["store"]), datetime.now(UTC))
"""


def lead_file(n: int) -> bytes:
    return ("Email,First Name,Last Name,Company\r\n" + "".join(
        f"lead{i}@example.com,Ann,Lee {i},Acme\r\n" for i in range(1, n + 1))).encode()


def kill_while_storing(settings, store_url: str, tmp_path: Path, during=None) -> None:
    """Run the pull in a child until it is paused mid-file, call `during()`, then SIGKILL the child."""
    marker = tmp_path / "paused"
    args = {"settings": asdict(settings), "source": str(SOURCE_YAML), "store": store_url,
            "pause_after": PAUSE_AFTER_ROWS, "marker": str(marker)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, f"the pull ended (exit {child.returncode}) before it was paused"
            assert time.monotonic() < deadline, "the pull was not paused within 120 s"
            time.sleep(0.05)
        assert int(marker.read_text()) >= PAUSE_AFTER_ROWS
        if during is not None:
            during()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL


def nothing_visible(cfg, store: LeadStore) -> None:
    with store.begin() as conn:
        assert new_batches(conn, cfg.name) == []
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.source_files)).scalar_one() == 0
    report = map_new_rows(cfg, store, NOW)
    assert (report.received, report.stored, report.batch_ids) == (0, 0, [])


def test_a_pull_killed_halfway_leaves_nothing_visible_and_the_retry_stores_every_row_once(
        settings, store_url, drop, sandbox, tmp_path):
    cfg = load_source(SOURCE_YAML)
    drop("inbox", "big.csv", lead_file(LEADS), mtime=1_700_000_000)
    store = LeadStore(store_url)  # creates the tables; closed while the child holds a DuckDB store
    store.dispose()
    # On Postgres the store stays readable while the child writes: the file is not there for the intake yet.
    during = (lambda: nothing_visible(cfg, store)) if store.dialect == "postgresql" else None
    kill_while_storing(settings, store_url, tmp_path, during)

    assert (sandbox.root / "inbox/big.csv").exists()  # moved only once stored
    nothing_visible(cfg, store)
    with store.begin() as conn:
        assert raw.row_count(conn, cfg.name) == 0  # the killed transaction's rows are gone, not merely hidden

    with SftpClient(settings) as client:
        [outcome] = pull_inbox(cfg, client, store, NOW).files
    assert (outcome.status, outcome.rows, outcome.moved_to) == ("stored", LEADS, "processed/big.csv")
    with store.begin() as conn:
        numbers = raw.source_rows(store, conn, cfg.name).column("row_number")
    assert (len(numbers), len(pc.unique(numbers)), pc.min(numbers).as_py(), pc.max(numbers).as_py()) == (
        LEADS, LEADS, 1, LEADS)
    assert map_new_rows(cfg, store, NOW).received == LEADS
    store.dispose()
