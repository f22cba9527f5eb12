"""Keeping a sandbox's state in a folder, so a demo instance survives restarts.

Tables go to Parquet (contacts, accounts, activities, campaign responses) and staged export data to Arrow IPC files;
everything else (fields, custom objects and records, campaigns, definitions, syncs, tokens, counters) to one
JSON file. Each file is written next to its final name and renamed, so a crash leaves the previous save whole.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import feather

from leadsync.connectors.eloqua.sandbox.accounts import AccountStore
from leadsync.connectors.eloqua.sandbox.contacts import ContactStore
from leadsync.connectors.eloqua.sandbox.custom_objects import CustomObjectData, CustomObjectRecord
from leadsync.connectors.eloqua.sandbox.schema import (
    DEFAULT_CONTACT_FIELDS,
    ContactField,
    CustomObject,
    CustomObjectField,
)
from leadsync.connectors.eloqua.sandbox.state import Definition, EloquaState
from leadsync.connectors.eloqua.sandbox.syncs import Sync

STATE_FILE = "state.json"


def save(state: EloquaState, folder: Path) -> None:
    folder = Path(folder)
    (folder / "syncs").mkdir(parents=True, exist_ok=True)
    with state.lock:
        _write_parquet(state.contacts.table, folder / "contacts.parquet")
        _write_parquet(state.accounts.table, folder / "accounts.parquet")
        _write_parquet(state.activities, folder / "activities.parquet")
        _write_parquet(state.campaign_responses, folder / "campaign_responses.parquet")
        kept = set()
        for sync in state.syncs.values():
            if sync.data is not None:
                path = folder / "syncs" / f"{sync.id}.arrow"
                kept.add(path.name)
                if not path.exists():
                    _atomic(path, lambda tmp, data=sync.data: feather.write_feather(data, tmp))
        for stale in (folder / "syncs").glob("*.arrow"):
            if stale.name not in kept:
                stale.unlink()
        doc = {
            "contact_fields": [asdict(f) for f in state.contacts.fields],
            "campaigns": [{**c, **{k: c[k].isoformat() for k in ("createdAt", "updatedAt", "startAt", "endAt")}}
                          for c in state.campaigns],
            "custom_objects": [_dump_custom_object(d) for d in state.custom_objects.objects.values()],
            "definitions": [{"id": d.id, "entity": d.entity, "kind": d.kind, "body": d.body, "staged": d.staged}
                            for d in state.definitions.values()],
            "syncs": [_dump_sync(s) for s in state.syncs.values()],
            "next_definition_id": state.next_definition_id, "next_sync_id": state.next_sync_id,
            "tokens": state.auth.tokens_state(),
        }
        _atomic(folder / STATE_FILE, lambda tmp: Path(tmp).write_text(json.dumps(doc, default=str)))


def load(state: EloquaState, folder: Path) -> bool:
    """Restore a saved state; False when the folder holds none."""
    folder = Path(folder)
    if not (folder / STATE_FILE).exists():
        return False
    doc = json.loads((folder / STATE_FILE).read_text())
    with state.lock:
        state.contacts = ContactStore([ContactField(**f) for f in doc["contact_fields"]],
                                      pq.read_table(folder / "contacts.parquet"))
        _add_new_default_fields(state.contacts)
        if (folder / "accounts.parquet").exists():
            state.accounts = AccountStore(pq.read_table(folder / "accounts.parquet"))
        else:  # saved before accounts were stored: the accounts its contacts' companies imply
            state.accounts = AccountStore()
            state.accounts.seed_from(state.contacts.table)
        state.activities = pq.read_table(folder / "activities.parquet")
        state.campaign_responses = pq.read_table(folder / "campaign_responses.parquet")
        state.campaigns = [{**c, **{k: datetime.fromisoformat(c[k]) for k in ("createdAt", "updatedAt", "startAt",
                                                                              "endAt")}} for c in doc["campaigns"]]
        state.custom_objects.objects = {d.schema.id: d for d in map(_load_custom_object, doc["custom_objects"])}
        state.definitions = {}
        for d in doc["definitions"]:
            definition = Definition(d["id"], d["entity"], d["kind"], d["body"], d["staged"])
            state.definitions[definition.uri] = definition
        state.syncs = {s["id"]: _load_sync(s, folder) for s in doc["syncs"]}
        state.next_definition_id = doc["next_definition_id"]
        state.next_sync_id = doc["next_sync_id"]
        state.auth.load_tokens(doc.get("tokens", {}))
    return True


def _add_new_default_fields(contacts: ContactStore) -> None:
    """Fields the sandbox's default instance gained since the state was saved (empty on the saved contacts),
    so a restored demo instance answers the mappings written for the current one."""
    taken = {f.id for f in contacts.fields}
    for f in DEFAULT_CONTACT_FIELDS:
        if contacts.field(f.internal_name) is None and f.id not in taken:
            contacts.add_field(f)


def _write_parquet(table: pa.Table, path: Path) -> None:
    _atomic(path, lambda tmp: pq.write_table(table, tmp))


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        write(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _dump_custom_object(data: CustomObjectData) -> dict:
    schema = asdict(data.schema)
    records = [{"id": r.id, "contact_id": r.contact_id, "external_id": r.external_id,
                "created_at": r.created_at.isoformat() if r.created_at else None,
                "updated_at": r.updated_at.isoformat() if r.updated_at else None,
                "values": {str(k): v.isoformat() if isinstance(v, datetime) else v for k, v in r.values.items()}}
               for r in data.records.values()]
    return {"schema": schema, "records": records, "next_record_id": data.next_record_id}


def _load_custom_object(doc: dict) -> CustomObjectData:
    schema = dict(doc["schema"])
    schema["fields"] = [CustomObjectField(**f) for f in schema["fields"]]
    co = CustomObject(**schema)
    dates = {f.id for f in co.fields if f.data_type == "date"}

    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    records = {}
    for r in doc["records"]:
        values = {int(k): when(v) if int(k) in dates else v for k, v in r["values"].items()}
        records[r["id"]] = CustomObjectRecord(r["id"], values, r["contact_id"], r["external_id"],
                                              when(r["created_at"]), when(r["updated_at"]))
    return CustomObjectData(co, records, doc["next_record_id"])


def _dump_sync(s: Sync) -> dict:
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None
    return {"id": s.id, "synced_instance_uri": s.synced_instance_uri, "created_at": when(s.created_at),
            "created_by": s.created_by, "kind": s.kind, "callback_url": s.callback_url,
            # a sync interrupted by the restart never finishes: show it as failed, as a lost worker would
            "status": s.status if s.status not in ("pending", "active") else "error",
            "started_at": when(s.started_at), "ended_at": when(s.ended_at), "retain_until": when(s.retain_until),
            "rejects": s.rejects, "logs": s.logs}


def _load_sync(doc: dict, folder: Path) -> Sync:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None
    sync = Sync(doc["id"], doc["synced_instance_uri"], when(doc["created_at"]), doc["created_by"], doc["kind"],
                doc["callback_url"], doc["status"], when(doc["started_at"]), when(doc["ended_at"]),
                when(doc["retain_until"]), rejects=doc["rejects"], logs=doc["logs"])
    path = folder / "syncs" / f"{sync.id}.arrow"
    if path.exists():
        sync.data = feather.read_table(str(path))
    return sync
