"""Bulk API 2.0 operations on the sandbox state, free of HTTP: definitions, uploads, syncs and their results.

Errors are raised as `BulkError(status, body)`; the routes turn them into responses.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from leadsync.connectors.eloqua.sandbox.clock import iso_z
from leadsync.connectors.eloqua.sandbox.definitions import failure, parse_duration
from leadsync.connectors.eloqua.sandbox.export_sources import (
    AccountSource,
    ActivitySource,
    CampaignResponseSource,
    ContactSource,
    CustomObjectSource,
)
from leadsync.connectors.eloqua.sandbox.exports import stage_export, validate_export
from leadsync.connectors.eloqua.sandbox.import_apply import (
    account_kind,
    apply_activity_import,
    apply_custom_object_import,
    apply_record_import,
    contact_kind,
)
from leadsync.connectors.eloqua.sandbox.imports import parse_upload, validate_import
from leadsync.connectors.eloqua.sandbox.page_json import page_json
from leadsync.connectors.eloqua.sandbox.state import Definition, EloquaState
from leadsync.connectors.eloqua.sandbox.syncs import Sync

MAX_DATA_LIMIT = 50_000  # "a limit of 50,000 records per request while retrieving data from an export"
MAX_LIST_LIMIT = 1000


class BulkError(Exception):
    def __init__(self, status: int, body: object = None):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


def validation_error(*failures: dict) -> BulkError:
    return BulkError(400, {"failures": list(failures)})


def source_for(state: EloquaState, entity: str):
    if entity == "contacts":
        return ContactSource(state)
    if entity == "activities":
        return ActivitySource(state)
    if entity == "campaignResponses":
        return CampaignResponseSource(state)
    if entity == "accounts":
        return AccountSource(state)
    object_id = int(entity.split("/")[1])
    if state.custom_objects.get(object_id) is None:
        raise BulkError(404)
    return CustomObjectSource(state, object_id)


def check_definition(state: EloquaState, entity: str, kind: str, body: dict) -> list[dict]:
    if kind == "exports":
        return validate_export(source_for(state, entity), body)
    if entity.startswith("customObjects/") and state.custom_objects.get(int(entity.split("/")[1])) is None:
        raise BulkError(404)
    return validate_import(entity, state, body)


def create_definition(state: EloquaState, entity: str, kind: str, body: object, user: str) -> Definition:
    if not isinstance(body, dict):
        raise validation_error(failure("body", "Must be a JSON object."))
    body = {k: v for k, v in body.items() if k not in ("uri", "createdAt", "createdBy", "updatedAt", "updatedBy")}
    problems = check_definition(state, entity, kind, body)
    if problems:
        raise validation_error(*problems)
    now = iso_z(state.clock.now())
    with state.lock:
        definition = Definition(state.next_definition_id, entity, kind, body)
        state.next_definition_id += 1
        body.update({"uri": definition.uri, "createdBy": user, "createdAt": now, "updatedBy": user, "updatedAt": now})
        state.definitions[definition.uri] = definition
    return definition


def get_definition(state: EloquaState, entity: str, kind: str, definition_id: int) -> Definition:
    definition = state.definitions.get(f"/{entity}/{kind}/{definition_id}")
    if definition is None:
        raise BulkError(404)
    return definition


def delete_definition(state: EloquaState, definition: Definition) -> None:
    with state.lock:
        if _running_sync(state, definition.uri):
            raise BulkError(409, {"failures": [failure("uri", "Must not have a pending or active sync.",
                                                       definition.uri)]})
        state.definitions.pop(definition.uri, None)


def list_page(items: list, limit: int, offset: int, total: bool = True) -> dict:
    page = items[offset:offset + limit]
    body = {"items": page, "limit": limit, "offset": offset, "count": len(page),
            "hasMore": offset + len(page) < len(items)}
    if total:
        body = {"totalResults": len(items), **body}
    return body


def upload(state: EloquaState, definition: Definition, raw: bytes, content_type: str, user: str) -> Sync | None:
    """Stage uploaded rows; with isSyncTriggeredOnImport a sync starts at once and is returned."""
    from leadsync.connectors.eloqua.sandbox.imports import UploadError

    try:
        rows = parse_upload(raw, content_type, definition.body["fields"])
    except UploadError as exc:
        raise validation_error(*exc.failures) from None
    with state.lock:
        definition.staged.extend(rows)
    if definition.body.get("isSyncTriggeredOnImport"):
        return start_sync(state, {"syncedInstanceUri": definition.uri}, user)
    return None


def start_sync(state: EloquaState, body: object, user: str) -> Sync:
    uri = body.get("syncedInstanceUri") if isinstance(body, dict) else None
    if not isinstance(uri, str) or not uri.strip():
        raise validation_error(failure("syncedInstanceUri", "Must be the uri of an export, import or sync "
                                                            "action definition.", uri))
    definition = _definition_by_uri(state, uri)
    if definition is None:
        raise validation_error(failure("syncedInstanceUri", "Must reference an existing definition.", uri))
    # Since 20D a definition is validated again when synced (fields may have been deleted meanwhile).
    problems = check_definition(state, definition.entity, definition.kind, dict(definition.body))
    if problems:
        raise validation_error(*problems)
    with state.lock:
        if _running_sync(state, definition.uri):
            raise BulkError(409, {"failures": [failure("syncedInstanceUri", "Must not be synced while another "
                                                       "sync of the definition is pending or active.", uri)]})
        kind = "export" if definition.kind == "exports" else "import"
        sync = state.new_sync(definition.uri, kind, user, body.get("callbackUrl"))
        rows, definition.staged = definition.staged, []
    job = _export_job(state, definition) if kind == "export" else _import_job(state, definition, rows)
    state.queue.submit(sync, job)
    return sync


def _definition_by_uri(state: EloquaState, uri: str) -> Definition | None:
    wanted = "/" + "/".join(part for part in uri.strip().split("/") if part)
    return next((d for d in state.definitions.values() if d.uri.lower() == wanted.lower()), None)


def _running_sync(state: EloquaState, uri: str) -> bool:
    return any(s.synced_instance_uri == uri and s.status in ("pending", "active") for s in state.syncs.values())


def _export_job(state: EloquaState, definition: Definition):
    def run(sync: Sync) -> str:
        failed = state.faults.take_sync_failure()
        if failed:
            sync.log(state.clock.now(), "ELQ-00107", failed, severity="error")
            return "error"
        sync.data = stage_export(source_for(state, definition.entity), definition.body)
        now = state.clock.now()
        sync.retain_until = now + parse_duration(definition.body["dataRetentionDuration"])
        sync.log(now, "ELQ-00102", "Successfully exported members to csv file.", sync.data.num_rows)
        return "success"
    return run


def _import_job(state: EloquaState, definition: Definition, rows: list[dict]):
    def run(sync: Sync) -> str:
        failed = state.faults.take_sync_failure()
        if failed:
            sync.log(state.clock.now(), "ELQ-00107", failed, severity="error")
            return "error"
        now = state.clock.now()
        if definition.entity in ("contacts", "accounts"):
            kind = (contact_kind if definition.entity == "contacts" else account_kind)(state)
            outcome = apply_record_import(kind, definition.body, rows, sync.uri, now, state.faults.take_bad_record)
        elif definition.entity == "activities":
            outcome = apply_activity_import(state, definition.body, rows, sync.uri, now,
                                            state.faults.take_bad_record)
        else:
            object_id = int(definition.entity.split("/")[1])
            outcome = apply_custom_object_import(state, object_id, definition.body, rows, sync.uri, now,
                                                 state.faults.take_bad_record)
        sync.rejects = outcome.rejects
        for record_id, fields in outcome.written:
            state.writes.add(definition.entity, record_id, fields)
        sync.retain_until = now + parse_duration(definition.body["dataRetentionDuration"])
        for code, message, count in outcome.counts:
            severity = "warning" if code in ("ELQ-00060", "ELQ-00002") else "information"
            sync.log(now, code, message, count, severity)
        return "warning" if outcome.rejects else "success"
    return run


def get_sync(state: EloquaState, sync_id: int) -> Sync:
    sync = state.syncs.get(sync_id)
    if sync is None:
        raise BulkError(404)
    return sync


def _expired(state: EloquaState, sync: Sync, now: datetime) -> bool:
    if sync.retain_until is not None and now >= sync.retain_until:
        sync.data = None  # staging is purged; the memory goes with it
        return True
    return False


def sync_data(state: EloquaState, sync: Sync, limit: int, offset: int, total: bool = True) -> bytes:
    """One page of an export sync's staged rows, as the JSON body of `/syncs/{id}/data`."""
    if sync.kind != "export":
        raise validation_error(failure("syncUri", "Data can only be retrieved for export syncs; read an import "
                                                  "sync's outcome from its logs and rejects.", sync.uri))
    if _expired(state, sync, state.clock.now()):
        raise BulkError(404)
    data = sync.data if sync.status == "success" else None
    n = data.num_rows if data is not None else 0
    page = data.slice(offset, limit) if data is not None and offset < n else pa.table({})
    meta = {"limit": limit, "offset": offset, "count": page.num_rows, "hasMore": offset + page.num_rows < n}
    return page_json({"totalResults": n, **meta} if total else meta, page)


def sync_rejects(state: EloquaState, sync: Sync, limit: int, offset: int) -> dict:
    if _expired(state, sync, state.clock.now()):
        raise BulkError(404)
    return list_page(sync.rejects, limit, offset)
