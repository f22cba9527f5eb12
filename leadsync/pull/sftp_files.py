"""Pull lead files from an SFTP inbox.

A file is moved out of the inbox only after its rows are committed to the raw store (to processed/) or
its problem is recorded (to error/, with a reason file). If a run dies between the two, the next run
finds the file still in the inbox, recognises it in the ledger and only moves it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from connectors.sftp.client import SftpClient
from connectors.sftp.errors import LeadFileError
from connectors.sftp.lead_files import read_lead_file
from leadsync.config.schema import SourceConfig
from leadsync.intake.plan import MissingColumnsError, compile_plan
from leadsync.pull.raw_batches import (
    BatchInfo,
    batch_id_for,
    ledger_status,
    record_error,
    record_moved,
    store_batch,
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
    data = client.download(name)
    sha = hashlib.sha256(data).hexdigest()
    info = BatchInfo(batch_id_for(cfg.name, name, sha), cfg.name, name, sha, len(data))

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
        table = read_lead_file(name, data)
        compile_plan(cfg, {name: name for name in table.columns})  # a required column missing: error/
    except (LeadFileError, MissingColumnsError) as exc:
        reason = str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
        record_error(store, info, reason, now)
        moved = client.move_to_error(name, reason)
        record_moved(store, info.batch_id, moved)
        return FileOutcome(name, "error", reason=reason, moved_to=moved)

    info = BatchInfo(info.batch_id, cfg.name, name, sha, len(data), table.encoding)
    stored = store_batch(store, info, table.values, table.row_numbers, now)
    moved = client.move_to_processed(name)
    record_moved(store, info.batch_id, moved)
    return FileOutcome(name, "stored", rows=stored, moved_to=moved)
