"""Pull lead files from an SFTP inbox.

A file is moved out of the inbox only after its rows are committed to the raw store (to processed/) or
its problem is recorded (to error/, with a reason file). If a run dies between the two, the next run
finds the file still in the inbox, recognises it in the ledger and only moves it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from connectors.sftp.client import SftpClient
from connectors.sftp.errors import LeadFileError
from connectors.sftp.lead_files import open_lead_file
from leadsync.config.schema import SourceConfig
from leadsync.intake.plan import MissingColumnsError, compile_plan
from leadsync.pull.raw_batches import (
    BatchInfo,
    batch_id_for,
    ledger_status,
    record_error,
    record_moved,
    store_blocks,
)
from leadsync.store import LeadStore


@dataclass
class FileOutcome:
    name: str
    status: str  # stored | already_stored | error
    rows: int = 0
    reason: str | None = None
    moved_to: str | None = None


@dataclass
class PullReport:
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def rows_stored(self) -> int:
        return sum(f.rows for f in self.files if f.status == "stored")

    @property
    def errors(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "error"]


def pull_inbox(cfg: SourceConfig, client: SftpClient, store: LeadStore, now: datetime) -> PullReport:
    report = PullReport()
    for remote in client.list_inbox():
        report.files.append(_pull_one(cfg, client, store, remote.name, now))
    return report


def _pull_one(cfg: SourceConfig, client: SftpClient, store: LeadStore, name: str, now: datetime) -> FileOutcome:
    # The file goes to a local temporary file, hashed as it streams, and is read from there in blocks: memory
    # stays flat whatever the file's size (the copy on disk is gone when this returns).
    with tempfile.TemporaryDirectory(prefix="leadsync-pull-") as folder:
        local = client.download_to(name, Path(folder) / "download")
        info = BatchInfo(batch_id_for(cfg.name, name, local.sha256), cfg.name, name, local.sha256, local.size)

        known = ledger_status(store, info.batch_id)
        if known is not None:
            status, error = known
            if status == "stored":
                moved = client.move_to_processed(name)
                record_moved(store, info.batch_id, moved)
                return FileOutcome(name, "already_stored", moved_to=moved)
            moved = client.move_to_error(name, error or "rejected earlier")
            record_moved(store, info.batch_id, moved)
            return FileOutcome(name, "error", reason=error, moved_to=moved)

        try:
            stored = _store_file(cfg, store, info, local.path, now)
        except (LeadFileError, MissingColumnsError) as exc:
            reason = str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
            record_error(store, info, reason, now)
            moved = client.move_to_error(name, reason)
            record_moved(store, info.batch_id, moved)
            return FileOutcome(name, "error", reason=reason, moved_to=moved)

    moved = client.move_to_processed(name)
    record_moved(store, info.batch_id, moved)
    return FileOutcome(name, "stored", rows=stored, moved_to=moved)


def _store_file(cfg: SourceConfig, store: LeadStore, info: BatchInfo, path: Path, now: datetime) -> int:
    """Read the file block by block into the raw store, in one transaction: a problem found halfway (a
    malformed row) raises LeadFileError and leaves nothing stored."""
    with open_lead_file(info.file_name, path) as reader:
        try:
            compile_plan(cfg, {name: name for name in reader.columns})  # a required column missing: error/
        except MissingColumnsError:
            for _ in reader:  # a file that cannot be read at all is reported as such first
                pass
            raise
        info = replace(info, encoding=reader.encoding)
        blocks = ((block.values, block.row_numbers) for block in reader)
        return store_blocks(store, info, reader.columns, blocks, now)
