"""A lead entered by hand (`leadsync add-lead`, the supplier console's form) as a raw batch of one row.

The row is stored exactly like a row of a dropped file (leadsync/pull/raw_batches.py), under the source's own
column names, so the source's mapping, validation, uniqueness, routing and write-back treat it as any other
lead: nothing here decides anything about the lead itself. The person who entered it is its origin: the
batch's ledger row (`source_files.file_name`) reads `manual entry by <person> at <time>`.

An SFTP source has no record to create: the lead is written back in the source's status file like any
received row. In an API source (Salesforce, Marketo, Eloqua) a lead leadsync writes back to must be a record
there: once the lead is stored, a `new_record` outbox event is queued (writeback/record_creation.py), so the
next writeback creates the record keyed by the lead id (the vendor's lead key field), stores its id
(`source_records_created`) and sends the lead's statuses to it. The next pull recognises that record by its
id and does not make a second lead of it (pull/api_records.py `_created_here`). An API source refuses manual
entry with `writeback.manual_entry: false`, or when its writeback maps none of the fields a created record
is told (distribution status, partner), since the record would never show what became of the lead."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import sqlalchemy as sa

from leadsync.connectors.api_client import ApiConfigError, ApiTransientError
from leadsync.connectors.sftp.errors import SftpError
from leadsync import pipeline
from leadsync.config import ConfigError
from leadsync.config.loader import ProjectPaths
from leadsync.config.schema import ApiSource, SourceConfig
from leadsync.pull.raw_batches import BatchInfo, batch_id_for, store_batch
from leadsync.store import LeadStore, tables
from leadsync.writeback.record_creation import (
    CREATE_WRITEBACK,
    new_record_event_id,
    queue_new_record,
    refresh_new_record,
)
from leadsync.writeback.records_created import source_records_created

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
    record_id: str | None = None  # API sources: the id of the record the write-back created for the lead


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


def refuse_manual_entry(cfg: SourceConfig) -> None:
    """An API source takes a lead by hand only when it allows record creation (see the module docstring)."""
    if not isinstance(cfg, ApiSource):
        return
    file = f"mappings/sources/{cfg.name}.yaml"
    if not cfg.writeback.manual_entry:
        raise ManualEntryError(
            f"{cfg.name} refuses leads entered by hand (writeback.manual_entry: false in {file}). Create the "
            f"lead in {cfg.type} itself (the next pull brings it in), or set writeback.manual_entry: true so "
            f"leadsync creates the {cfg.type} record.")
    if not set(CREATE_WRITEBACK) & set(cfg.writeback.fields):
        raise ManualEntryError(
            f"{cfg.name} refuses leads entered by hand: its writeback maps none of the fields a record leadsync "
            f"creates is told ({', '.join(CREATE_WRITEBACK)}), so the {cfg.type} record would never show what "
            f"became of the lead. Map at least distribution_status under writeback.fields in {file} (e.g. "
            f"distribution_status: <the {cfg.type} field>), or create the lead in {cfg.type} itself.")


def _refuse_record_id(cfg: SourceConfig, row: dict[str, str]) -> dict[str, str]:
    """An API source's record id column is the vendor's to fill: a hand-entered lead has no record yet (the
    writeback creates it), so the column is left out of the row (its lead is then identified as a row of its
    batch, or by the uniqueness key)."""
    column = cfg.record_id_column
    if not cfg.is_api or column is None:
        return row
    given = {c: v for c, v in row.items() if c.lower() == column.lower()}
    if any(v.strip() for v in given.values()):
        raise ManualEntryError(f"{cfg.name}: '{column}' is the id {cfg.type} gives its record; leave it empty, "
                               f"the record is created by the next writeback")
    return {c: v for c, v in row.items() if c not in given}


def _refuse_known_record(cfg: SourceConfig, store: LeadStore, row: dict[str, str]) -> None:
    """Uniqueness by key (e.g. Salesforce's email): a hand-entered lead whose key names a lead that already has
    a record in the source would be that lead, with no record id: refused, the change belongs in the record."""
    if not cfg.is_api or cfg.uniqueness.mode != "key":
        return
    parts = []
    for name in cfg.uniqueness.key:
        mapping = cfg.field(name)
        parts.append(row.get(mapping.column, "").strip().lower() if mapping else "")
    lead_id = f"{cfg.name}-" + hashlib.sha1(chr(31).join(parts).encode()).hexdigest()[:20]
    leads = tables.leads
    with store.begin() as conn:
        record = conn.execute(sa.select(leads.c.source_record_id).where(
            leads.c.lead_id == lead_id, leads.c.source_record_id.is_not(None))).scalar()
    record = record or _created_record(store, cfg.name, lead_id)  # or leadsync made it (an earlier entry)
    if record:
        raise ManualEntryError(
            f"{cfg.name}: lead {lead_id} ({', '.join(cfg.uniqueness.key)} {' / '.join(parts)}) is {cfg.type} "
            f"record {record} already; change that record in {cfg.type} (the next pull brings the change in)")


def _queue_record(cfg: SourceConfig, store: LeadStore, lead_id: str, row: dict[str, str], person: str,
                  now: datetime) -> bool:
    """Queue the creation of the lead's record in an API source, once: not for a lead the source already has
    a record of; for one entered again before its record was made (uniqueness by key), the queued creation
    takes the new values (the source may have refused the first ones). True when queued or refreshed."""
    if not cfg.is_api:
        return False
    o, leads, made = tables.writeback_outbox, tables.leads, source_records_created
    fields = {f.field: row[f.column] for f in cfg.fields if row.get(f.column, "").strip()}
    actor = f"{ORIGIN_PREFIX}{person}"
    with store.begin() as conn:
        known = conn.execute(sa.select(leads.c.source_record_id).where(leads.c.lead_id == lead_id)).scalar()
        created = conn.execute(sa.select(made.c.record_id).where(made.c.source == cfg.name,
                                                                 made.c.lead_id == lead_id)).first()
        if known or created:
            return False
        queued = conn.execute(sa.select(o.c.event_id).where(
            o.c.event_id == new_record_event_id(cfg.name, lead_id))).first()
        if queued:
            return refresh_new_record(conn, cfg.name, lead_id, fields, now, actor)
        queue_new_record(conn, cfg.name, lead_id, fields, now, actor=actor)
    return True


def store_entry(cfg: SourceConfig, store: LeadStore, values: dict[str, str], person: str,
                now: datetime) -> tuple[BatchInfo, str]:
    """Store the lead as a raw batch of one row; (its batch, the origin recorded in the ledger)."""
    refuse_manual_entry(cfg)
    person = _person(person)
    row = _refuse_record_id(cfg, columns_of(cfg, values))
    _refuse_known_record(cfg, store, row)
    origin = f"{ORIGIN_PREFIX}{person} at {now:%Y-%m-%dT%H:%M:%SZ}"
    content = json.dumps({"row": row, "origin": origin, "at": now.isoformat()}, sort_keys=True).encode()
    sha = hashlib.sha256(content).hexdigest()
    info = BatchInfo(batch_id_for(cfg.name, origin, sha), cfg.name, origin, sha, len(content))
    table = pa.table({name: pa.array([value], pa.string()) for name, value in row.items()})
    store_batch(store, info, table, pa.array([1], pa.int64()), now)
    return info, origin


def _person(person: str | None) -> str:
    person = " ".join((person or "").split())
    if not person:
        raise ManualEntryError("who entered the lead is recorded with it: give --by NAME (or sign in)")
    return person


def add_lead(paths: ProjectPaths, store: LeadStore, source: str, values: dict[str, str], person: str,
             now: datetime | None = None, write_back: bool = True) -> ManualEntry:
    """Enter one lead in `source` and take it through the source's stages now: map and validate, route and
    (with `write_back`) write the source's outbox back, so an SFTP source's status file lists the lead and an
    API source gets a new record carrying the lead and its status (the creation is queued before routing, so
    it waits in the outbox whatever happens next). Other leads of the source waiting at a stage go with it,
    as in a scheduled run."""
    now = now or pipeline.now_utc()
    cfg = pipeline.source_config(paths, source)
    info, origin = store_entry(cfg, store, values, person, now)
    pipeline.map_and_validate(paths, store, source, cfg)
    lead_id, reason = _outcome(store, info.batch_id)
    if lead_id is None:
        return ManualEntry(source, info.batch_id, origin, None, reason)
    _queue_record(cfg, store, lead_id, _refuse_record_id(cfg, columns_of(cfg, values)), _person(person), now)
    pipeline.route_leads(paths, store, source, now)
    status, partner = _assignment(store, lead_id)
    error = None
    if write_back:
        try:
            report = pipeline.write_back(paths, store, source)
        except (SftpError, ConfigError, OSError, ApiConfigError, ApiTransientError) as exc:
            # routed all the same; the outbox keeps the events (the record's creation among them)
            error = f"{source}: the write-back failed ({exc}); the next writeback run sends it"
        else:
            error = _refused(source, lead_id, getattr(report, "failures", []))
    return ManualEntry(source, info.batch_id, origin, lead_id, None, status, partner, write_back and not error, error,
                       _created_record(store, source, lead_id) if cfg.is_api else None)


def _refused(source: str, lead_id: str, failures: list[dict]) -> str | None:
    """What the source refused of this lead's events (an API writeback refuses per record), else None."""
    mine = [f["error"] for f in failures if f.get("lead") == lead_id]
    if not mine:
        return None
    return (f"{source} refused the lead's write-back ({'; '.join(dict.fromkeys(map(str, mine)))}); it stays "
            "in the outbox and is retried by the next writeback run")


def _created_record(store: LeadStore, source: str, lead_id: str) -> str | None:
    made = source_records_created
    with store.begin() as conn:
        return conn.execute(sa.select(made.c.record_id).where(made.c.source == source, made.c.lead_id == lead_id,
                                                              made.c.kind == "new_record")).scalar()


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
