"""API sources get their outcomes back on their own records, through the outbox protocol (outbox.py).

A batch of pending events is bound, then sent: field-setting events (distribution status, rejection,
sales status, rep) fold into one update per source record — the latest value of each field, in event
order — set through the YAML's `writeback.fields`; opportunities and partner marketing events are upserted
by their external id / event key. Per-record refusals come back as results: those events return to
pending with the vendor's reason (`last_error`, `attempts`) and are retried next run; the others are sent
once. A crash between sending and recording re-sends the same batch, which upserts make harmless. A large
batch is read and sent in parts (PART_EVENTS), each holding every event of its leads, so memory stays flat.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

import pandas as pd
import sqlalchemy as sa

from leadsync.config.schema import ApiSource
from leadsync.connectors.api_client import ApiTransientError, ApiUnreachable, SourceOutage
from leadsync.connectors.source_api import EVENT_COLUMNS, OPPORTUNITY_COLUMNS, LeadSource
from leadsync.intake import parse_payloads
from leadsync.pull.outage import writeback_outage
from leadsync.store import LeadStore, tables
from leadsync.store.tables import OUTBOX_FIELDS
from leadsync.writeback.events import CONTEXT_FIELDS, fields_of
from leadsync.writeback.nurture import apply_nurture
from leadsync.writeback.outbox import Batch, mark_sent, of_batch, prepare_batch, prepared_batches
from leadsync.writeback.record_creation import CREATE_KINDS, creation_rows
from leadsync.writeback.records_created import ensure_table, record_created, source_records_created

# Outbox kinds whose payload sets fields on the source record (payload keys are writeback value names).
RECORD_KINDS = ("distribution_status", "rejection", "sales_status", "rep")


@dataclass
class ApiWritebackReport:
    events_sent: int = 0
    events_failed: int = 0
    records_updated: int = 0
    records_created: int = 0
    nurtured: int = 0  # records enrolled in / removed from the nurture target
    resumed: int = 0
    per_kind: Counter = field(default_factory=Counter)
    failures: list[dict] = field(default_factory=list)  # a sample: event, lead, record, error


def drain_to_api(cfg: ApiSource, source: LeadSource, store: LeadStore, now: datetime) -> ApiWritebackReport:
    report = ApiWritebackReport()
    ensure_table(store)
    for batch in prepared_batches(store, cfg.name):  # left over by a run that died mid-send
        _send_or_say(cfg, source, store, batch, now, report)
        report.resumed += 1
    batch = prepare_batch(store, cfg.name, now, lambda batch_id, _now: f"{cfg.type}:{batch_id}")
    if batch is not None:
        _send_or_say(cfg, source, store, batch, now, report)
    return report


def _send_or_say(cfg: ApiSource, source: LeadSource, store: LeadStore, batch: Batch, now: datetime,
                 report: ApiWritebackReport) -> None:
    """Send a batch; a vendor that kept failing ends the run with who failed and that the batch stays queued."""
    try:
        _send(cfg, source, store, batch, now, report)
    except ApiTransientError as exc:
        if isinstance(exc, SourceOutage | ApiUnreachable):
            raise
        raise writeback_outage(cfg, exc, batch.event_count, cfg.connection.retries.attempts) from exc


# A batch's events are read and sent this many at a time (and the rest of the last lead's): held whole, a batch
# took the Salesforce writeback to 1,228 MiB at 291,186 events (bench/api_writeback.py), growing with the batch;
# in parts of 100,000 events 592-655 MiB at 97k-291k events, of 50,000 497 MiB, at the same CPU time. A lead's
# events are never split between parts, so what is decided per lead or record holds as for one part: the latest
# value of each field and nurture's latest status per record, a lead's record created before its other events
# are written to it.
PART_EVENTS = 50_000


def _event_parts(store: LeadStore, batch: Batch) -> Iterator[pd.DataFrame]:
    """The batch's events (see _events), in parts of about PART_EVENTS by ranges of lead id."""
    if batch.event_count <= PART_EVENTS:
        yield _events(store, batch)
        return
    for low, high in _lead_ranges(store, batch, PART_EVENTS):
        yield _events(store, batch, low, high)


def _lead_ranges(store: LeadStore, batch: Batch, size: int) -> list[tuple[str | None, str | None]]:
    """Ranges (low, high] of lead id, open at the ends (None), each holding about `size` of the batch's events:
    cut at the lead id of every size-th event in lead id order, so a lead's events fall in one range."""
    held = of_batch(sa.select(tables.writeback_outbox.c.lead_id), batch).subquery()
    numbered = sa.select(held.c.lead_id, sa.func.row_number().over(order_by=held.c.lead_id).label("n")).subquery()
    with store.begin() as conn:
        cuts = conn.execute(sa.select(numbered.c.lead_id).where(numbered.c.n % size == 0)
                            .distinct().order_by(numbered.c.lead_id)).scalars().all()
    bounds = [None, *cuts, None]
    return list(pairwise(bounds))


def _events(store: LeadStore, batch: Batch, low: str | None = None, high: str | None = None) -> pd.DataFrame:
    """The batch's events whose lead id is in (low, high] (None: unbounded), in the order they were made, with
    the source record each is written to."""
    o, leads = tables.writeback_outbox, tables.leads
    made = source_records_created
    # the batch's events chosen on the outbox itself (outbox.of_batch): those bound one by one by their ids, which
    # the outbox's key finds (its seq has only a BRIN index, for the status file's ranges: a join by seq would read
    # the whole outbox for each page of a small batch), and its span's as a range of seq.
    # outer joins: an event without a stored lead (a partner registration) must come back, never vanish from a
    # batch marked sent; a lead whose record leadsync created (new_record) is written to that record
    record_id = sa.func.coalesce(leads.c.source_record_id, made.c.record_id).label("source_record_id")
    query = (sa.select(o.c.event_id, o.c.lead_id, o.c.kind, *[o.c[name] for name in OUTBOX_FIELDS], o.c.payload,
                       o.c.created_at, record_id)
             .outerjoin(leads, leads.c.lead_id == o.c.lead_id)
             .outerjoin(made, sa.and_(made.c.source == o.c.source, made.c.lead_id == o.c.lead_id,
                                      made.c.kind == "new_record")))
    if low is not None:
        query = query.where(o.c.lead_id > low)
    if high is not None:
        query = query.where(o.c.lead_id <= high)
    rows = of_batch(query, batch).subquery("events")
    with store.begin() as conn:
        return store.read_frame(conn, sa.select(rows).order_by(rows.c.created_at, rows.c.event_id))


def _payloads(events: pd.DataFrame) -> pd.DataFrame:
    """Each event's fields: its typed columns, and the extra fields of the few events that carry a payload."""
    values = events[[name for name in OUTBOX_FIELDS]].astype(object)
    values = values.where(values.notna(), None)
    extra = events["payload"].notna()
    if extra.any():
        parsed = parse_payloads(events.loc[extra, "payload"])
        parsed.index = events.index[extra]
        for name in parsed.columns:
            if name in values:
                values[name] = values[name].where(values[name].notna(), parsed[name].reindex(values.index))
            else:
                values[name] = parsed[name].reindex(values.index)
    # every event carries the distribution context (null or not); another field is there when an event sets it
    return values.loc[:, [c for c in values.columns if c in CONTEXT_FIELDS or values[c].notna().any()]]


def _send(cfg: ApiSource, source: LeadSource, store: LeadStore, batch: Batch, now: datetime,
          report: ApiWritebackReport) -> None:
    """Send the batch part by part, then mark it sent once, with the events refused in any part (pending again).
    A crash before the mark re-sends every part, which upserts make harmless."""
    count, refusals = 0, []
    for events in _event_parts(store, batch):
        if not events.empty:
            count += len(events)
            refusals.append(_send_part(cfg, source, store, events, now, report))
    if not count:
        mark_sent(store, batch, "empty", now)
        return
    refused = pd.concat(refusals, ignore_index=True)
    mark_sent(store, batch, f"{count - len(refused)} sent, {len(refused)} refused", now, refused)


def _send_part(cfg: ApiSource, source: LeadSource, store: LeadStore, events: pd.DataFrame, now: datetime,
               report: ApiWritebackReport) -> pd.DataFrame:
    """Send events (every event of their leads in the batch) and return those refused: event_id, error."""
    payloads = _payloads(events)
    outcome = pd.Series(None, index=events.index, dtype=object)  # None: sent; text: why not

    creations = events["kind"].isin(CREATE_KINDS)
    if creations.any():  # first: the other events of a lead created here go to its new record
        made = _create_records(cfg, source, store, events.loc[creations], outcome, now, report)
        events["source_record_id"] = events["source_record_id"].astype(object)
        events.loc[creations, "source_record_id"] = events.loc[creations, "event_id"].map(made)
        by_lead = {lead: made[e] for e, lead in zip(events["event_id"], events["lead_id"], strict=True) if e in made}
        events.loc[~creations, "source_record_id"] = events.loc[~creations, "source_record_id"].fillna(
            events.loc[~creations, "lead_id"].map(by_lead))
    no_record = events["source_record_id"].isna() & ~creations
    outcome[no_record] = "the lead has no source record id to write to"

    records = events.index[events["kind"].isin(RECORD_KINDS) & ~no_record]
    if len(records):
        _write_records(cfg, source, events.loc[records], payloads.loc[records], outcome, report)
    opps = events.index[(events["kind"] == "opportunity") & ~no_record]
    if len(opps):
        _write_keyed(source.write_opportunities, _opportunities(events.loc[opps], payloads.loc[opps]), outcome)
    marketing = events.index[(events["kind"] == "marketing_event") & ~no_record]
    if len(marketing):
        _write_keyed(source.write_events, _marketing_events(events.loc[marketing], payloads.loc[marketing]), outcome)

    report.nurtured += apply_nurture(cfg, source, events.loc[~no_record], payloads.loc[~no_record], outcome)

    failed = outcome.notna()
    refused = pd.DataFrame({"event_id": events.loc[failed, "event_id"].to_numpy(),
                            "error": outcome[failed].astype(str).to_numpy()})
    report.events_sent += int((~failed).sum())
    report.events_failed += int(failed.sum())
    report.per_kind.update(Counter(events.loc[~failed, "kind"]))
    for i in events.index[failed][: 20 - len(report.failures)]:
        report.failures.append({"event": events.at[i, "event_id"], "lead": events.at[i, "lead_id"],
                                "record": events.at[i, "source_record_id"],
                                "error": outcome[i]})
    return refused


def _create_records(cfg: ApiSource, source: LeadSource, store: LeadStore, events: pd.DataFrame,
                    outcome: pd.Series, now: datetime, report: ApiWritebackReport) -> dict[str, str]:
    """Registrations and new leads become records of the source (record_creation.py); each created record's
    id is stored (source_records_created). Returns event id → the id of the record it made."""
    payloads = [fields_of(row) for row in events.to_dict("records")]
    rows = creation_rows(cfg, events, payloads)
    results = source.create_records(rows)
    by_key = {str(k): (bool(ok), err, rid) for k, ok, err, rid in
              results[["key", "ok", "error", "record_id"]].itertuples(index=False, name=None)}
    made = []
    for (i, event), payload, key in zip(events.iterrows(), payloads, rows["key"], strict=True):
        ok, error, record_id = by_key.get(str(key), (False, "no result returned by the source for this record", None))
        if not ok:
            outcome[i] = error or "refused without a reason"
            continue
        made.append({"source": cfg.name, "key": str(key), "kind": event["kind"], "lead_id": event["lead_id"],
                     "partner_id": payload.get("partner_id"), "record_id": str(record_id),
                     "event_id": event["event_id"]})
    if made:
        record_created(store, pd.DataFrame(made), now)
    report.records_created += len(made)
    return {m["event_id"]: m["record_id"] for m in made}


def _write_records(cfg: ApiSource, source: LeadSource, events: pd.DataFrame, payloads: pd.DataFrame,
                   outcome: pd.Series, report: ApiWritebackReport) -> None:
    mapping = cfg.writeback.fields
    present = [k for k in mapping if k in payloads.columns]
    if not present:  # the supplier maps no writeback field: nothing to set, nothing to retry
        return
    values = payloads[present].copy()
    for name, table in (("sales_status", cfg.writeback.sales_status_values),
                        ("distribution_status", cfg.writeback.distribution_status_values)):
        if name in values and table:  # our vocabulary → the source's picklist values
            values[name] = values[name].map(lambda v, t=table: t.get(v, v) if isinstance(v, str) else v)
    values["record_id"] = events["source_record_id"].to_numpy()
    # latest value of each field per record, in event order (events are sorted by creation)
    latest = values.groupby("record_id", sort=True).last()
    touched = values.groupby("record_id")[present].count().sum(axis=1) > 0
    latest = latest[touched.reindex(latest.index, fill_value=False)]
    if latest.empty:
        return
    updates = latest.rename(columns=mapping).reset_index()
    updates.insert(0, "key", updates["record_id"])
    results = source.write_records(updates.astype(object).where(updates.notna(), None))
    errors = dict(zip(results["key"].astype(str), results["error"].where(~results["ok"].astype(bool)), strict=True))
    missing = set(updates["key"].astype(str)) - set(errors)
    errors.update({k: "no result returned by the source for this record" for k in missing})
    per_event = events["source_record_id"].astype(str).map(errors)
    outcome.loc[events.index] = per_event.where(per_event.notna(), None)
    report.records_updated += int(sum(1 for e in errors.values() if e is None or pd.isna(e)))


def _write_keyed(write, rows: pd.DataFrame, outcome: pd.Series) -> None:
    results = write(rows.astype(object).where(rows.notna(), None))
    errors = dict(zip(results["key"].astype(str), results["error"].where(~results["ok"].astype(bool)), strict=True))
    for i, key in zip(rows.index, rows["key"].astype(str), strict=True):
        err = errors.get(key, "no result returned by the source for this event")
        outcome[i] = None if err is None or (isinstance(err, float) and pd.isna(err)) else err


def _get(payloads: pd.DataFrame, name: str) -> pd.Series:
    return payloads[name] if name in payloads else pd.Series(None, index=payloads.index, dtype=object)


def _opportunities(events: pd.DataFrame, payloads: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({
        "key": events["event_id"], "external_id": _get(payloads, "external_id").fillna(events["lead_id"]),
        "record_id": events["source_record_id"], "name": _get(payloads, "name"), "stage": _get(payloads, "stage"),
        "amount": _get(payloads, "amount"), "close_date": _get(payloads, "close_date"),
        "partner": _get(payloads, "partner_name"),
    }, index=events.index)
    return frame[OPPORTUNITY_COLUMNS]


def _marketing_events(events: pd.DataFrame, payloads: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({
        "key": events["event_id"], "record_id": events["source_record_id"],
        "event_type": _get(payloads, "event_type"), "occurred_at": _get(payloads, "occurred_at"),
        "description": _get(payloads, "description"), "partner": _get(payloads, "partner_name"),
    }, index=events.index)
    return frame[EVENT_COLUMNS]
