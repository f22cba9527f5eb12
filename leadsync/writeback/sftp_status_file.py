"""SFTP sources get their statuses back as a CSV file in the outbox folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from connectors.sftp.client import SftpClient
from leadsync.intake import parse_payloads
from leadsync.store import LeadStore
from leadsync.writeback.outbox import Batch, batch_events, mark_sent, prepare_batch, prepared_batches

STATUS_COLUMNS = ["lead_id", "source_file", "source_row", "email", "event", "distribution_status", "partner_id",
                  "partner_name", "rep_name", "rep_email", "reason", "rejection_reason", "rejection_comment",
                  "sales_status", "opportunity_id", "opportunity_name", "opportunity_stage", "opportunity_amount",
                  "opportunity_close_date", "marketing_event_type", "marketing_event_at", "marketing_event",
                  "decided_at"]
# status-file column → payload key, where they differ (lifecycle events carry their own fields)
PAYLOAD_KEYS = {"opportunity_id": "external_id", "opportunity_name": "name", "opportunity_stage": "stage",
                "opportunity_amount": "amount", "opportunity_close_date": "close_date",
                "marketing_event_type": "event_type", "marketing_event_at": "occurred_at",
                "marketing_event": "description"}


@dataclass
class WritebackReport:
    events_sent: int = 0
    files: list[str] = field(default_factory=list)
    resumed: int = 0


def status_file_name(source: str):
    def name_for(batch_id: str, now: datetime) -> str:
        return f"{source}_status_{now:%Y%m%dT%H%M%SZ}_{batch_id[:8]}.csv"
    return name_for


def render_status_csv(events: pd.DataFrame) -> bytes:
    """Deterministic bytes for a batch: the same events always render the same file. One row per event: its
    kind in `event`, the lead's distribution status and partner on every row, and the event's own fields."""
    payload = parse_payloads(events["payload"])
    out = pd.DataFrame({
        "lead_id": events["lead_id"].to_numpy(),
        "source_file": events["source_file"].to_numpy(),
        "source_row": events["row_number"].to_numpy(),
        "email": events["email"].to_numpy(),
        "event": events["kind"].to_numpy(),
    })
    registered = (events["kind"] == "registration").to_numpy()
    if registered.any():  # a lead a partner created: no source row yet; its email is in the registration
        out.loc[registered, "email"] = [
            (json.loads(p).get("fields") or {}).get("email") for p in events.loc[registered, "payload"]]
    for column in STATUS_COLUMNS[5:]:
        key = PAYLOAD_KEYS.get(column, column)
        out[column] = payload[key].to_numpy() if key in payload else None
    return out[STATUS_COLUMNS].to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def drain_outbox(source: str, client: SftpClient, store: LeadStore, now: datetime) -> WritebackReport:
    report = WritebackReport()
    for batch in prepared_batches(store, source):  # left over by a run that died mid-send
        _send(batch, client, store, now, report)
        report.resumed += 1
    batch = prepare_batch(store, source, now, status_file_name(source))
    if batch is not None:
        _send(batch, client, store, now, report)
    return report


def _send(batch: Batch, client: SftpClient, store: LeadStore, now: datetime, report: WritebackReport) -> None:
    events = batch_events(store, batch)
    remote = client.upload_outbox(batch.target_name, render_status_csv(events))
    mark_sent(store, batch, remote, now)
    report.events_sent += len(events)
    report.files.append(remote)
