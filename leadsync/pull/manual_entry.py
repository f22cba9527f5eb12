"""A lead entered by hand (`leadsync add-lead`, the supplier console's form) as a raw batch of one row.

The row is stored exactly like a row of a dropped file (leadsync/pull/raw_batches.py), under the source's own
column names, so the source's mapping, validation, uniqueness, routing and write-back treat it as any other
lead: nothing here decides anything about the lead itself. The person who entered it is its origin: the
batch's ledger row (`source_files.file_name`) reads `manual entry by <person> at <time>`.

API sources (Salesforce, Marketo, Eloqua) are refused for now: a lead leadsync writes back to must be a record
in that system, and creating records there is not built yet. SFTP sources have no such record: the lead is
written back in the source's status file like any received row."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import sqlalchemy as sa

from connectors.sftp.errors import SftpError
from leadsync import pipeline
from leadsync.config import ConfigError
from leadsync.config.loader import ProjectPaths
from leadsync.config.schema import SourceConfig
from leadsync.pull.raw_batches import BatchInfo, batch_id_for, store_batch
from leadsync.store import LeadStore, tables

ORIGIN_PREFIX = "manual entry by "
MAX_VALUE_CHARS = 10_000  # one field of one lead; a pasted document is refused, not stored


class ManualEntryError(ValueError):
    """The lead cannot be entered as given; str() names the source or field and the fix."""


@dataclass(frozen=True)
class ManualEntry:
    """What became of a lead entered by hand. `lead_id` is None when the lead was quarantined (`reason`)."""

    source: str
    batch_id: str
    origin: str
    lead_id: str | None
    reason: str | None = None
    status: str | None = None  # routed | unassigned | needs_review | …: the lead's assignment after routing
    partner_id: str | None = None
    written_back: bool = False
    write_back_error: str | None = None  # the write-back failed: the outbox keeps the lead for the next run


def columns_of(cfg: SourceConfig, values: dict[str, str]) -> dict[str, str]:
    """The values under the source's column names: each key is a lead field (`email`) or a source column
    (`Email`), matched case- and space-insensitively. Every mapped column is present (empty when not given),
    so a missing required field is quarantined with the mapping's own reason, as in a file."""
    def norm(name: str) -> str:
        return "".join(name.split()).lower()

    by_name = {}
    for f in cfg.fields:
        by_name[norm(f.field)] = f.column
        by_name[norm(f.column)] = f.column
    row = {f.column: "" for f in cfg.fields}
    unknown = []
    for key, value in values.items():
        column = by_name.get(norm(key))
        if column is None:
            unknown.append(key)
            continue
        text = "" if value is None else str(value)
        if len(text) > MAX_VALUE_CHARS:
            raise ManualEntryError(f"{cfg.name}: field '{key}' has {len(text):,} characters; at most "
                                   f"{MAX_VALUE_CHARS:,} are accepted for one field")
        row[column] = text
    if unknown:
        known = ", ".join(f.field for f in cfg.fields)
        raise ManualEntryError(f"{cfg.name}: no mapped field {', '.join(map(repr, unknown))}; the source's fields "
                               f"(mappings/sources/{cfg.name}.yaml) are: {known}")
    if not any(v.strip() for v in row.values()):
        raise ManualEntryError(f"{cfg.name}: the lead has no values; give at least its required fields "
                               f"({', '.join(f.field for f in cfg.fields if f.required) or 'any field'})")
    return row


def parse_field_args(pairs: list[str], json_text: str | None = None) -> dict[str, str]:
    """`--field k=v` arguments (and a `--json` object under them) as one dict; ManualEntryError when malformed."""
    values: dict[str, str] = {}
    if json_text:
        try:
            loaded = json.loads(json_text)
        except json.JSONDecodeError as exc:
            raise ManualEntryError(f"--json is not JSON ({exc.msg} at character {exc.pos}); "
                                   "give an object such as '{\"email\": \"ann@acme.com\"}'") from None
        if not isinstance(loaded, dict):
            raise ManualEntryError("--json must be an object of field → value, e.g. '{\"email\": \"ann@acme.com\"}'")
        values.update({str(k): "" if v is None else str(v) for k, v in loaded.items()})
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ManualEntryError(f"--field {pair!r}: write it as field=value, e.g. --field email=ann@acme.com")
        values[key.strip()] = value
    return values


def refuse_api_source(cfg: SourceConfig) -> None:
    if cfg.is_api:
        raise ManualEntryError(
            f"{cfg.name} is a {cfg.type} source: a lead entered by hand would have no {cfg.type} record to write "
            f"its outcome back to, and creating records in {cfg.type} is not supported yet. Create the lead in "
            f"{cfg.type} itself (the next pull brings it in), or enter it on an SFTP source.")


def store_entry(cfg: SourceConfig, store: LeadStore, values: dict[str, str], person: str,
                now: datetime) -> tuple[BatchInfo, str]:
    """Store the lead as a raw batch of one row; (its batch, the origin recorded in the ledger)."""
    refuse_api_source(cfg)
    person = " ".join((person or "").split())
    if not person:
        raise ManualEntryError("who entered the lead is recorded with it: give --by NAME (or sign in)")
    row = columns_of(cfg, values)
    origin = f"{ORIGIN_PREFIX}{person} at {now:%Y-%m-%dT%H:%M:%SZ}"
    content = json.dumps({"row": row, "origin": origin, "at": now.isoformat()}, sort_keys=True).encode()
    sha = hashlib.sha256(content).hexdigest()
    info = BatchInfo(batch_id_for(cfg.name, origin, sha), cfg.name, origin, sha, len(content))
    table = pa.table({name: pa.array([value], pa.string()) for name, value in row.items()})
    store_batch(store, info, table, pa.array([1], pa.int64()), now)
    return info, origin


def add_lead(paths: ProjectPaths, store: LeadStore, source: str, values: dict[str, str], person: str,
             now: datetime | None = None, write_back: bool = True) -> ManualEntry:
    """Enter one lead in `source` and take it through the source's stages now: map and validate, route and
    (with `write_back`) write the source's outbox back, so an SFTP source's status file lists the lead.
    Other leads of the source waiting at a stage go with it, as in a scheduled run."""
    now = now or pipeline.now_utc()
    cfg = pipeline.source_config(paths, source)
    info, origin = store_entry(cfg, store, values, person, now)
    pipeline.map_and_validate(paths, store, source, cfg)
    lead_id, reason = _outcome(store, info.batch_id)
    if lead_id is None:
        return ManualEntry(source, info.batch_id, origin, None, reason)
    pipeline.route_leads(paths, store, source, now)
    status, partner = _assignment(store, lead_id)
    error = None
    if write_back:
        try:
            pipeline.write_back(paths, store, source)
        except (SftpError, ConfigError, OSError) as exc:  # routed all the same; the outbox keeps the event
            error = f"{source}: the write-back failed ({exc}); the next writeback run sends it"
    return ManualEntry(source, info.batch_id, origin, lead_id, None, status, partner, write_back and not error, error)


def _outcome(store: LeadStore, batch_id: str) -> tuple[str | None, str | None]:
    with store.begin() as conn:
        lead = conn.execute(sa.select(tables.leads.c.lead_id).where(tables.leads.c.batch_id == batch_id)).first()
        if lead:
            return lead[0], None
        q = conn.execute(sa.select(tables.quarantine.c.reason).where(tables.quarantine.c.batch_id == batch_id)).first()
    return None, q[0] if q else "the lead was not stored (see the source's intake ledger)"


def _assignment(store: LeadStore, lead_id: str) -> tuple[str | None, str | None]:
    a = tables.assignments
    with store.begin() as conn:
        row = conn.execute(sa.select(a.c.status, a.c.partner_id).where(a.c.lead_id == lead_id)).first()
    return (row.status, row.partner_id) if row else (None, None)


def entered_by(file_name: str | None) -> str | None:
    """The person named in a manual batch's ledger row, else None (a file or an API page)."""
    if not file_name or not file_name.startswith(ORIGIN_PREFIX):
        return None
    return file_name[len(ORIGIN_PREFIX):].rsplit(" at ", 1)[0]
