"""What must hold after a soak, checked against the sandboxes' own records (and the store where a sandbox keeps
no count of its own). Each check returns violations: sentences naming the record and what is wrong.

  records    every record a source holds (Salesforce leads, Marketo leads, Eloqua contacts, the rows of every file
             dropped on the SFTP inbox) is exactly one lead or one quarantine row: none lost, none twice
  decisions  every routed lead has exactly one current decision
  outbox     every writeback event was sent, and the partner's CRM org holds no lead twice
  writes     at the targets, by the writes each sandbox counted per record and field: every writeback reached
             its record and none was written more often than its batches were sent (soak_writes.py)
  mail       no partner email (one Message-ID to one recipient) is in the SMTP sandbox's mailbox twice
"""

from __future__ import annotations

import email
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from soak_world import World
from soak_writes import check_target_writes

from leadsync.config import load_partners
from leadsync.store import LeadStore, raw, tables
from leadsync.writeback.outbox import batch_events, event_states

RECORD_ID = {"salesforce_demo": "Id", "marketo_demo": "id", "eloqua_demo": "ContactID"}
EVERY_RECORD = ("marketo_demo", "eloqua_demo")  # uniqueness every_record: one record, one lead


def _frames(world: World) -> dict[str, pd.DataFrame]:
    store = LeadStore(world.store_url)
    try:
        with store.begin() as conn:
            leads = tables.leads
            return {
                "leads": store.read_frame(conn, sa.select(
                    leads.c.lead_id, leads.c.source, leads.c.batch_id, leads.c.row_number, leads.c.lead_key,
                    leads.c.source_record_id, leads.c.segregated, leads.c.email, leads.c.campaign)),
                "quarantine": store.read_frame(conn, sa.select(
                    tables.quarantine.c.source, tables.quarantine.c.batch_id, tables.quarantine.c.row_number,
                    tables.quarantine.c.payload, tables.quarantine.c.file_name)),
                "files": store.read_frame(conn, sa.select(tables.source_files)),
                "assignments": store.read_frame(conn, sa.select(tables.assignments.c.lead_id)),
                "outbox": store.read_frame(conn, event_states()),
                "in_batches": store.read_frame(conn, sa.select(batch_events().c.event_id).distinct()),
            }
    finally:
        store.dispose()


def sandbox_record_ids(world: World) -> dict[str, set[str]]:
    sf = world.server("salesforce_demo")
    mkto = world.server("marketo_demo")
    elq = world.server("eloqua_demo")
    return {
        "salesforce_demo": {r["Id"] for r in sf.connect().query_all("SELECT Id FROM Lead")["records"]},
        "marketo_demo": {str(r["id"]) for r in mkto.db.rows("SELECT id FROM leads")},
        "eloqua_demo": {str(i) for i in elq.state.contacts.ids()},
    }


def merged_records(world: World, source: str, leads: pd.DataFrame) -> set[str]:
    """Record ids whose every received row has the (email, campaign) of a stored lead of the source: merged into
    that lead by the source's uniqueness rule, as it says (intake_batches: received - stored - quarantined)."""
    store = LeadStore(world.store_url)
    try:
        with store.begin() as conn:
            rows = raw.source_rows(store, conn, source).to_pandas()
    finally:
        store.dispose()
    keys = set(zip(leads.email.str.lower(), leads.campaign.fillna(""), strict=True))
    rows["merged"] = [(str(e).lower(), c or "") in keys for e, c in zip(rows.Email, rows.CampaignName, strict=True)]
    merged = rows.groupby("Id").merged.all()
    return set(merged[merged].index)


def check_records(world: World, dropped: dict[str, int]) -> list[str]:
    """`dropped`: file name -> data rows, for every file put on the SFTP inbox (-1: a file that must go to error/)."""
    f = _frames(world)
    leads, quarantine, files = f["leads"], f["quarantine"], f["files"]
    bad = []
    twice = leads.groupby(["source", "lead_key"]).size()
    bad += [f"{s}: lead key {k} stored as {n} leads" for (s, k), n in twice[twice > 1].items()]
    both = leads.merge(quarantine, on=["batch_id", "row_number"])
    bad += [f"{r.batch_id} row {r.row_number}: both a lead and a quarantine row" for r in both.itertuples()]
    for source, ids in sandbox_record_ids(world).items():
        mine = leads[leads.source == source]
        q = quarantine[quarantine.source == source]
        q_ids = Counter(str(json.loads(p).get(RECORD_ID[source])) for p in q.payload)
        counts = Counter(mine.source_record_id.astype(str)) + q_ids
        missing = ids - set(counts)
        if source == "salesforce_demo":  # uniqueness email + campaign: a record may merge into an earlier lead
            missing -= merged_records(world, source, mine)
        bad += [f"{source} record {i}: never became a lead or a quarantine row" for i in sorted(missing)]
        bad += [f"{source}: lead from record {i}, which the source does not hold" for i in sorted(set(counts) - ids)]
        if source in EVERY_RECORD:
            bad += [f"{source} record {i}: {n} leads/quarantine rows" for i, n in counts.items() if n > 1]
    sftp = leads[leads.source == "sftp_demo"]
    for name, rows in sorted(dropped.items()):
        got = files[(files.source == "sftp_demo") & (files.file_name == name)]
        if len(got) != 1:
            bad.append(f"sftp file {name}: received {len(got)} times")
            continue
        batch = got.iloc[0]
        if rows < 0:
            if batch.status != "error":
                bad.append(f"sftp file {name}: should have gone to error/, is {batch.status}")
            continue
        positions = sorted([*sftp[sftp.batch_id == batch.batch_id].row_number,
                            *quarantine[quarantine.batch_id == batch.batch_id].row_number])
        if positions != list(range(1, rows + 1)):
            bad.append(f"sftp file {name}: {rows} rows, {len(positions)} leads + quarantine rows "
                       f"({len(set(range(1, rows + 1)) - set(positions))} rows missing)")
    left = sorted(p.name for p in (world.server("sftp_demo").root / "inbox").glob("*") if p.is_file())
    bad += [f"sftp file {n}: still in the inbox after the clean runs" for n in left]
    return bad


def check_decisions(world: World) -> list[str]:
    f = _frames(world)
    routed = f["leads"][~f["leads"].segregated.fillna(False).astype(bool)]
    per_lead = f["assignments"].lead_id.value_counts()
    bad = [f"lead {lid}: {n} current decisions" for lid, n in per_lead[per_lead > 1].items()]
    bad += [f"lead {lid}: no current decision" for lid in sorted(set(routed.lead_id) - set(per_lead.index))]
    bad += [f"decision for lead {lid}, which does not exist" for lid in sorted(set(per_lead.index) - set(f["leads"].lead_id))]
    return bad


def check_outbox(world: World) -> list[str]:
    """Events queued before the last run began must be sent; the last run may queue new ones (an auto-accepted
    lead's "Accepted" after its source's writeback ran), which its successor sends."""
    frames = _frames(world)
    outbox = frames["outbox"]
    last_start = pd.Timestamp(world.runs[-1].started_at)
    created = pd.to_datetime(outbox.created_at, utc=True)
    unsent = outbox[(outbox.state != "sent") & (created < last_start)]
    bad = [f"outbox event {r.event_id} ({r.source}, {r.kind}): {r.state} after the clean runs, last error "
           f"{r.last_error!r}" for r in unsent.itertuples()]
    # an event counted as sent or prepared is in a batch: the spans' rule (writeback/outbox.py) counts an event
    # at or below its source's top as held by a span without naming the span, and no batch would ever take one
    # that turned up there after its span was made
    orphans = outbox[(outbox.state != "pending") & ~outbox.event_id.isin(frames["in_batches"].event_id)]
    bad += [f"outbox event {r.event_id} ({r.source}, {r.kind}): {r.state}, yet in no batch"
            for r in orphans.itertuples()]
    maple = next(p for p in load_partners(world.paths.partners_file).partners if p.id == "maple")
    key = maple.crm.external_id_field  # leadsync's lead id on the record it created
    created = world.server("maple").connect().query_all(f"SELECT Id, {key} FROM Lead")["records"]
    seen = Counter(r[key] for r in created if r[key])
    bad += [f"maple's CRM org holds leadsync lead {lid} {n} times" for lid, n in seen.items() if n > 1]
    return bad


def check_mail(world: World) -> list[str]:
    sent = Counter()
    for path in Path(world.sandboxes.get("smtp").server.folder).glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes())
        sent[(msg["Message-ID"], msg["X-Envelope-To"])] += 1
    return [f"email {mid} to {to} sent {n} times" for (mid, to), n in sent.items() if n > 1]


def violations(world: World, dropped: dict[str, int]) -> dict[str, list[str]]:
    return {"records": check_records(world, dropped), "decisions": check_decisions(world),
            "outbox": check_outbox(world), "writes": check_target_writes(world), "mail": check_mail(world)}
