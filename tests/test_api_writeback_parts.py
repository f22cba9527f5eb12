"""An API source's writeback batch is read and sent in parts of about PART_EVENTS events (a frame of a million
events would take gigabytes), cut by lead id so that every event of a lead lands in one part: what is decided
per lead or record (the latest field values, nurture's latest status, a record created before the lead's other
events go to it) is the same as for one part."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from leadsync.store import LeadStore, tables
from leadsync.writeback import api_sink
from leadsync.writeback.outbox import Batch

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
# lead id → how many events it has in the batch (a lead with many events straddles several cut points)
EVENTS_PER_LEAD = {"L01": 1, "L02": 3, "L03": 1, "L04": 9, "L05": 2, "L06": 1, "L07": 4, "L08": 1, "L09": 2}


def bound_batch(store: LeadStore) -> tuple[Batch, pd.DataFrame]:
    """An outbox of the events above (and one event of another batch), the batch holding them bound."""
    rows = [{"event_id": f"e-{lead}-{i}", "source": "crm", "lead_id": lead, "kind": "sales_status",
             "created_at": NOW + timedelta(seconds=10 * i + n)}
            for n, (lead, count) in enumerate(EVENTS_PER_LEAD.items()) for i in range(count)]
    outbox = pd.DataFrame(rows + [{"event_id": "e-other", "source": "crm", "lead_id": "L05", "kind": "sales_status",
                                   "created_at": NOW}])
    with store.begin() as conn:
        store.insert_frame(conn, tables.writeback_outbox, outbox)
        o = tables.writeback_outbox
        seq = dict(conn.execute(sa.select(o.c.event_id, o.c.seq)).all())
        store.insert_frame(conn, tables.writeback_bindings, pd.DataFrame(
            {"event_id": [r["event_id"] for r in rows], "batch_id": "b1", "seq": [seq[r["event_id"]] for r in rows]}))
    return Batch("b1", "crm", "crm:b1", len(rows), NOW), pd.DataFrame(rows)


@pytest.mark.parametrize("store_url", ["duckdb", "postgres"], indirect=True)
@pytest.mark.parametrize("size", [1, 2, 4, 7, 100])
def test_parts_hold_every_event_once_and_never_split_a_lead(store_url, monkeypatch, size):
    store = LeadStore(store_url)
    batch, events = bound_batch(store)
    monkeypatch.setattr(api_sink, "PART_EVENTS", size)
    parts = list(api_sink._event_parts(store, batch))
    store.dispose()

    got = pd.concat([p for p in parts if len(p)])["event_id"].tolist()  # (the last range may be empty)
    assert sorted(got) == sorted(events["event_id"])  # every event of the batch once, none of another batch
    leads_per_part = [set(p["lead_id"]) for p in parts]
    for i, mine in enumerate(leads_per_part):  # no lead in two parts
        assert not mine & set().union(*leads_per_part[:i], *leads_per_part[i + 1:])
    largest = max(EVENTS_PER_LEAD.values())
    assert all(len(p) < size + largest for p in parts)  # about `size`: a part ends with its last lead's events
    if size < len(events):
        assert len(parts) > 1
    for p in parts:  # each in the order the events were made
        assert p["created_at"].is_monotonic_increasing
