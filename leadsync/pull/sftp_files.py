"""Pull lead files from an SFTP inbox.

A file is read only once it has settled (connectors/sftp/inbox_readiness.py: size and modification time held,
a done-marker where asked for), and its rows are committed only if it is still the very file that was read
(same size, same SHA-256) when the read ends; a file that changed meanwhile is left in the inbox for the next
run, with nothing of it kept. A file is moved out of the inbox only after its rows are committed to the raw
store (to processed/) or its problem is recorded (to error/, with a reason file). If a run dies between the
two, the next run finds the file still in the inbox, recognises it in the ledger and only moves it.

What a file and a run may cost is bounded (`files.max_*` of the source): a file over its own limit goes to
error/ with the limit and the setting that raises it; a file past the run's allowance waits for the next run.
Content received before under another name follows `files.duplicate_files`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from leadsync.connectors.sftp.client import RemoteFile, SftpClient
from leadsync.connectors.sftp.errors import FileNotSettledError, LeadFileError, LeadFileLimitError
from leadsync.connectors.sftp.inbox_readiness import settled_files
from leadsync.connectors.sftp.lead_csv import unsupported_delimiter, unsupported_delimiter_error
from leadsync.connectors.sftp.lead_files import open_lead_file
from leadsync.config.schema import SftpFiles, SourceConfig
from leadsync.intake.plan import MissingColumnsError, compile_plan
from leadsync.pull.raw_batches import (
    BatchInfo,
    batch_id_for,
    earlier_copy,
    ledger_status,
    quarantine_stray_lines,
    record_duplicate,
    record_error,
    record_moved,
    store_stream,
)
from leadsync.store import LeadStore


@dataclass
class FileOutcome:
    name: str
    status: str  # stored | already_stored | duplicate | error | waiting (left in the inbox for the next run)
    rows: int = 0
    reason: str | None = None  # why it went to error/ or waits; for a stored file, a warning (or None)
    moved_to: str | None = None
    encoding: str | None = None  # how its text was decoded ("xlsx" for workbooks)
    quarantined_rows: int = 0  # rows that could not be decoded consistently (kept as quarantine rows)


@dataclass
class PullReport:
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def rows_stored(self) -> int:
        return sum(f.rows for f in self.files if f.status == "stored")

    @property
    def errors(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "error"]

    @property
    def waiting(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "waiting"]

    @property
    def warnings(self) -> list[FileOutcome]:
        """Files handled with something the operator should know (a duplicate, a decoding problem)."""
        return [f for f in self.files if f.status in ("stored", "duplicate") and f.reason]


@dataclass
class _RunAllowance:
    """What is left of the run's max_run_bytes / max_run_rows; the first file of a run is held to its own
    limits only, so a file within them is never left waiting for ever."""

    bytes_left: int
    rows_left: int
    first: bool = True


def file_settings(cfg: SourceConfig) -> SftpFiles:
    return getattr(cfg, "files", None) or SftpFiles()


def pull_inbox(cfg: SourceConfig, client: SftpClient, store: LeadStore, now: datetime) -> PullReport:
    files = file_settings(cfg)
    ready, waiting = settled_files(client, files.settle_seconds, files.done_marker)
    report = PullReport()
    allowance = _RunAllowance(files.max_run_bytes, files.max_run_rows)
    for remote in ready:
        outcome = _pull_one(cfg, files, client, store, remote, now, allowance)
        report.files.append(outcome)
        if files.done_marker and outcome.status != "waiting":
            client.remove_from_inbox(remote.name + files.done_marker)
    report.files += [FileOutcome(w.name, "waiting", reason=w.reason) for w in waiting]
    return report


def _limit(what: str, value: int, limit: int, setting: str, per_run: bool = False) -> str:
    return (f"{what} ({value:,}) is over the {'run' if per_run else 'file'} limit of {limit:,} "
            f"(files.{setting} in the source's YAML; raise it there, up to its maximum, or split the file)")


def _pull_one(cfg: SourceConfig, files: SftpFiles, client: SftpClient, store: LeadStore, remote: RemoteFile,
              now: datetime, allowance: _RunAllowance) -> FileOutcome:
    name = remote.name
    if remote.size > files.max_file_bytes:
        reason = f"{name}: " + _limit("the file's size in bytes", remote.size, files.max_file_bytes,
                                      "max_file_bytes")
        info = BatchInfo(batch_id_for(cfg.name, name, f"unread:{remote.size}:{remote.mtime.isoformat()}"),
                         cfg.name, name, "not read (over max_file_bytes)", remote.size)
        return _to_error(client, store, info, reason, now)
    if not allowance.first and remote.size > allowance.bytes_left:
        return FileOutcome(name, "waiting", reason=_limit("the bytes read in this run", remote.size,
                                                          files.max_run_bytes, "max_run_bytes", per_run=True)
                           + "; the file is read by the next run")

    # The file goes to a local temporary file, hashed as it streams, and is read from there in blocks: memory
    # stays flat whatever the file's size (the copy on disk is gone when this returns).
    with tempfile.TemporaryDirectory(prefix="leadsync-pull-") as folder:
        local = client.download_to(name, Path(folder) / "download")
        info = BatchInfo(batch_id_for(cfg.name, name, local.sha256), cfg.name, name, local.sha256, local.size)

        known = ledger_status(store, info.batch_id)
        if known is not None:
            status, error = known
            if status in ("stored", "duplicate"):
                moved = client.move_to_processed(name)
                record_moved(store, info.batch_id, moved)
                return FileOutcome(name, "already_stored", moved_to=moved)
            moved = client.move_to_error(name, error or "rejected earlier")
            record_moved(store, info.batch_id, moved)
            return FileOutcome(name, "error", reason=error, moved_to=moved)

        warning, skipped = _duplicate(files, client, store, info, remote, now)
        if skipped is not None:
            return skipped

        file_rows = files.max_file_rows
        run_rows = None if allowance.first else allowance.rows_left
        try:
            stored, encoding, bad_rows = _store_file(
                cfg, store, info, local.path, now, files, file_rows, run_rows,
                unchanged=lambda: _check_unchanged(client, remote))
        except FileNotSettledError as exc:
            return FileOutcome(name, "waiting", reason=str(exc))
        except LeadFileLimitError as exc:
            if exc.per_run:
                return FileOutcome(name, "waiting", reason=f"{exc}; the file is read by the next run")
            return _to_error(client, store, info, _named(name, exc), now, remote)
        except (LeadFileError, MissingColumnsError) as exc:
            return _to_error(client, store, info, _named(name, exc), now, remote)

    allowance.first = False
    allowance.bytes_left -= local.size
    allowance.rows_left -= stored
    if bad_rows:
        note = (f"{bad_rows:,} row(s) not in the file's encoding ({encoding}) quarantined with their line and "
                "bytes; re-save the file in one encoding (UTF-8) and upload those rows again")
        warning = f"{warning}; {note}" if warning else note
    moved = client.move_to_processed(name)
    record_moved(store, info.batch_id, moved)
    return FileOutcome(name, "stored", rows=stored, moved_to=moved, reason=warning, encoding=encoding,
                       quarantined_rows=bad_rows)


def _duplicate(files: SftpFiles, client: SftpClient, store: LeadStore, info: BatchInfo, remote: RemoteFile,
               now: datetime) -> tuple[str | None, FileOutcome | None]:
    """(the warning for content stored before under another name, or None; the outcome when the file is
    skipped for it, files.duplicate_files: skip)."""
    earlier = earlier_copy(store, info) if files.duplicate_files != "ingest" else None
    if earlier is None:
        return None, None
    name = info.file_name
    if files.duplicate_files == "warn":
        return (f"{name} has the same content as {earlier}, received earlier; stored again "
                "(files.duplicate_files: warn)"), None
    warning = (f"{name} has the same content as {earlier}, received earlier; nothing stored "
               "(files.duplicate_files: skip; set it to 'ingest' to store such files again)")
    try:  # a copy still being uploaded is no copy yet
        _check_unchanged(client, remote)
    except FileNotSettledError as exc:
        return None, FileOutcome(name, "waiting", reason=str(exc))
    record_duplicate(store, info, warning, now)
    moved = client.move_to_processed(name)
    record_moved(store, info.batch_id, moved)
    return warning, FileOutcome(name, "duplicate", reason=warning, moved_to=moved)


def _named(name: str, exc: Exception) -> str:
    return str(exc) if str(exc).startswith(name) else f"{name}: {exc}"


def _to_error(client: SftpClient, store: LeadStore, info: BatchInfo, reason: str, now: datetime,
              read: RemoteFile | None = None) -> FileOutcome:
    """Record the file's problem and move it to error/ — unless it changed since it was read (a half-uploaded
    file looks malformed): then it waits for the next run."""
    if read is not None:
        try:
            _check_unchanged(client, read)
        except FileNotSettledError as exc:
            return FileOutcome(info.file_name, "waiting", reason=str(exc))
    record_error(store, info, reason, now)
    moved = client.move_to_error(info.file_name, reason)
    record_moved(store, info.batch_id, moved)
    return FileOutcome(info.file_name, "error", reason=reason, moved_to=moved)


def _check_unchanged(client: SftpClient, read: RemoteFile) -> None:
    """FileNotSettledError unless the inbox file still has the size and modification time it was listed with
    before it was read. Any write to the file (an upload still going on, a file replaced under its name)
    changes them; reading the file a second time to hash it would double every pull's transfer to catch only
    a same-size rewrite that also restores the old time, and the content read is already hashed (its batch
    id), so such a file is at worst stored under its true content."""
    now = client.inbox_file(read.name)
    if now is not None and now.size == read.size and now.mtime == read.mtime:
        return
    then = ("is gone" if now is None else f"now has {now.size:,} bytes" if now.size != read.size
            else f"was modified again at {now.mtime:%H:%M:%S} UTC")
    raise FileNotSettledError(f"{read.name} changed while it was read ({read.size:,} bytes listed; it {then}): "
                              "still being uploaded? Nothing of it is kept; it is read again by the next run")


def _counted(blocks: Iterator, name: str, files: SftpFiles, file_rows: int, run_rows: int | None) -> Iterator:
    """The blocks, stopped with LeadFileLimitError as soon as the rows read pass the file's or the run's limit."""
    seen = 0
    for values, numbers in blocks:
        seen += values.num_rows
        if seen > file_rows:
            raise LeadFileLimitError(f"{name}: " + _limit("the file's data rows", seen, file_rows, "max_file_rows")
                                     .replace(f"({seen:,})", f"(more than {file_rows:,})"))
        if run_rows is not None and seen > run_rows:
            raise LeadFileLimitError(f"{name}: " + _limit("the rows read in this run", seen, files.max_run_rows,
                                                          "max_run_rows", per_run=True), per_run=True)
        yield values, numbers


def _split_by_unsupported_delimiter_fits(cfg: SourceConfig, columns: list[str]) -> bool:
    """A one-column header ("Email:Last Name") that an unsupported separator splits into the mapping's
    columns: the file is fine but for its delimiter."""
    delimiter = unsupported_delimiter(columns)
    if delimiter is None:
        return False
    names = [part.strip() for part in columns[0].split(delimiter) if part.strip()]
    try:
        compile_plan(cfg, {n: n for n in names})
    except MissingColumnsError:
        return False
    return True


def _store_file(cfg: SourceConfig, store: LeadStore, info: BatchInfo, path: Path, now: datetime,
                files: SftpFiles, file_rows: int, run_rows: int | None,
                unchanged: Callable[[], None]) -> tuple[int, str, int]:
    """Read the file block by block into the raw store, in one transaction: a problem found halfway (a
    malformed row, a limit passed, the inbox file changed meanwhile) raises and leaves nothing stored.
    Returns (rows stored, encoding, rows that did not decode in the file's encoding)."""
    with open_lead_file(info.file_name, path, max_bytes=files.max_file_bytes) as reader:
        try:
            compile_plan(cfg, {name: name for name in reader.columns})  # a required column missing: error/
        except MissingColumnsError:
            for _ in reader:  # a file that cannot be read at all is reported as such first
                pass
            if _split_by_unsupported_delimiter_fits(cfg, reader.columns):
                delimiter = unsupported_delimiter(reader.columns)
                raise unsupported_delimiter_error(info.file_name, reader.columns, delimiter) from None
            raise
        info = replace(info, encoding=reader.encoding)
        blocks = _counted(((block.values, block.row_numbers) for block in reader), info.file_name, files,
                          file_rows, run_rows)
        stored = store_stream(store, info, reader.columns, blocks, now,
                              also=lambda conn: (quarantine_stray_lines(store, conn, info, reader, now), unchanged()))
        return stored, reader.encoding, len(reader.undecodable)
