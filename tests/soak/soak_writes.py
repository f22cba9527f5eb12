"""The outbox invariant read at the targets: every writeback reached its record, and no target shows one twice,
by the writes each sandbox counted per (object, record, field) (connectors/sandbox_writes.py), not by leadsync's
own tables alone.

The field read is the one every writeback batch sets on each record it touches: the source's distribution status
field (writeback.fields.distribution_status). Per record:
  reached   a record with a distribution status event sent (not refused, not a change made at the source) was
            written at least once
  twice     it was written at most once per send of the batches that touched it. A batch is sent once, plus
            once more per run it was resumed in (a run killed after sending and before recording it leaves the
            batch prepared; the next run sends it again, which the outbox protocol allows: the upsert makes it
            harmless, but the vendor counts it) and per request of that target held past the client's timeout
            in those runs (the held write lands after the client's retry). Anything beyond is a write twice.
Maple's CRM org: each lead leadsync delivered there was written at least once, and at most once more per run
killed or per Maple request timed out. The field read is LastName, which every delivery sets (a Lead requires
it); the delivery is upserted by external id, so a replay is one more write of the same record, never a second
record (check_outbox counts records by external id).
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from soak_world import RunOutcome, World

from leadsync.partner_crm import tables as crm_tables
from leadsync.pipeline import source_config
from leadsync.store import LeadStore, tables
from leadsync.writeback.outbox import FROM_SOURCE, batch_events

TARGET_OBJECT = {"salesforce_demo": "Lead", "marketo_demo": "lead", "eloqua_demo": "contacts"}


def _batches_by_record(world: World, source: str) -> pd.DataFrame:
    """One row per (batch, record, event): the batch's times and result, whether the target refused the event."""
    o, b, wb, r, leads = (tables.writeback_outbox, batch_events(), tables.writeback_batches,
                          tables.writeback_refusals, tables.leads)
    refused = sa.exists().where(r.c.event_id == b.c.event_id, r.c.batch_id == b.c.batch_id)
    query = (sa.select(wb.c.batch_id, wb.c.created_at, wb.c.sent_at, wb.c.state, wb.c.result, o.c.kind,
                       leads.c.source_record_id.label("record_id"), refused.label("refused"))
             .join(b, b.c.batch_id == wb.c.batch_id).join(o, o.c.event_id == b.c.event_id)
             .join(leads, leads.c.lead_id == o.c.lead_id)
             .where(wb.c.source == source, leads.c.source_record_id.is_not(None)))
    store = LeadStore(world.store_url)
    try:
        with store.begin() as conn:
            frame = store.read_frame(conn, query)
    finally:
        store.dispose()
    frame = frame[frame["result"].fillna("") != FROM_SOURCE]
    frame["record_id"] = frame["record_id"].astype(str)
    return frame


def _utc(value) -> pd.Timestamp | None:
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _runs_between(runs: list[RunOutcome], start, end) -> list[RunOutcome]:
    """The runs that were going on from `start` to `end` (a batch's creation and its recorded send)."""
    start, end = _utc(start), _utc(end) or _utc(runs[-1].ended_at)
    return [run for run in runs if _utc(run.started_at) <= end and _utc(run.ended_at) >= start]


def sends_allowed(runs: list[RunOutcome], target: str, created_at, sent_at) -> int:
    during = _runs_between(runs, created_at, sent_at) or runs[-1:]
    return len(during) + sum(run.lost_answers[target] for run in during)


def check_source_writes(world: World, source: str) -> list[str]:
    cfg = source_config(world.paths, source)
    field = cfg.writeback.fields.get("distribution_status")
    if field is None:  # this source takes no distribution status back: nothing to read at the target
        return []
    counts = {record: n for (_, record, f), n in world.server(source).write_counts(TARGET_OBJECT[source]).items()
              if f == field}
    return compare_writes(source, field, counts, _batches_by_record(world, source), world.runs)


def compare_writes(source: str, field: str, counts: dict[str, int], frame: pd.DataFrame,
                   runs: list[RunOutcome]) -> list[str]:
    """`counts`: record -> writes of `field` the target counted; `frame`: _batches_by_record's rows."""
    bad = []
    reached = frame[(frame["state"] == "sent") & ~frame["refused"].astype(bool)
                    & (frame["kind"] == "distribution_status")]
    for record in sorted(set(reached["record_id"])):
        if counts.get(record, 0) == 0:
            bad.append(f"{source} record {record}: a distribution status was sent, the target shows no write of {field}")
    batches = frame.drop_duplicates(["batch_id", "record_id"])
    allowed: dict[str, int] = {}
    for row in batches.itertuples():
        allowed[row.record_id] = allowed.get(row.record_id, 0) + sends_allowed(runs, source, row.created_at,
                                                                                row.sent_at)
    for record, n in sorted(counts.items()):
        if n > allowed.get(record, 0):
            bad.append(f"{source} record {record}: {field} written {n} times, {allowed.get(record, 0)} sends of the "
                       f"batches that touched it (with their replays)")
    return bad


def check_crm_writes(world: World, partner_id: str = "maple") -> list[str]:
    key = "LastName"
    counts = {record: n for (_, record, f), n in world.server(partner_id).write_counts("Lead").items() if f == key}
    t = crm_tables.partner_crm_leads
    store = LeadStore(world.store_url)
    try:
        with store.begin() as conn:
            crm_tables.ensure_tables(conn)
            delivered = [r for (r,) in conn.execute(sa.select(t.c.record_id).where(
                t.c.partner_id == partner_id, t.c.state.in_(("delivered", "withdrawn")), t.c.record_id.is_not(None)))]
    finally:
        store.dispose()
    replays = sum(run.status in ("KILLED", "TIMEOUT") for run in world.runs) + \
        sum(run.lost_answers[partner_id] for run in world.runs)
    bad = [f"{partner_id}'s CRM org: delivered lead record {r} shows no write of {key}" for r in sorted(delivered)
           if counts.get(r, 0) == 0]
    bad += [f"{partner_id}'s CRM org: record {r} had {key} written {n} times (1 delivery + {replays} replays allowed)"
            for r, n in sorted(counts.items()) if n > 1 + replays]
    return bad


def check_target_writes(world: World) -> list[str]:
    bad = []
    for source in TARGET_OBJECT:
        bad += check_source_writes(world, source)
    return bad + check_crm_writes(world)
