"""The routed-batches ledger (tables.routing_batches): a routing run looks for undecided leads only in the batches
not recorded there, and records a batch only when the intake had finished it before the run looked and every
lead the run took from it is decided and committed. Nothing is left undecided by it, nothing decided twice."""

from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from leadsync import assign
from leadsync.assign import route_new_leads
from leadsync.store import LeadStore, tables
from tests import test_routing_store as routing_store
from tests.test_routing_store import T0, current, die_in_slice, outbox, put_leads

US = [{"country": "US"}] * 4
source, partners = routing_store.source, routing_store.partners  # the fixtures of test_routing_store.py


def slice_mapped(store: LeadStore, batch: str, first_row: int, last_row: int, source_name: str = "sftp_demo") -> None:
    """The intake's ledger rows for a slice it has stored (intake/walk.py): the pull's row for the batch (once)
    and the slice's."""
    with store.begin() as conn:
        if not conn.execute(sa.select(tables.source_files.c.batch_id)
                            .where(tables.source_files.c.batch_id == batch)).first():
            conn.execute(sa.insert(tables.source_files).values(
                batch_id=batch, source=source_name, file_name=f"{batch}.csv", content_sha256=batch, size_bytes=1,
                status="stored", row_count=last_row, received_at=T0))
        conn.execute(sa.insert(tables.intake_slices).values(
            batch_id=batch, first_row=first_row, last_row=last_row, received=last_row - first_row + 1,
            stored=last_row - first_row + 1, quarantined=0, mapped_at=T0))


def finish(store: LeadStore, batch: str, leads: int, source_name: str = "sftp_demo") -> None:
    """The intake's ledger row for `batch`: the intake has mapped all of it (intake/walk.py's last slice)."""
    with store.begin() as conn:
        conn.execute(sa.insert(tables.intake_batches).values(batch_id=batch, source=source_name, received=leads,
                                                             stored=leads, quarantined=0, mapped_at=T0))


def ledger(store: LeadStore) -> list[tuple[str, str]]:
    r = tables.routing_batches
    with store.begin() as conn:
        return [tuple(row) for row in conn.execute(sa.select(r.c.source, r.c.batch_id).order_by(r.c.batch_id))]


def looked_in(store: LeadStore, source_name: str = "sftp_demo") -> list[str] | None:
    """The batches the next routing run of the source would look in (None: all of them)."""
    with store.begin() as conn:
        batches, _finished = assign._waiting_in(store, conn, source_name)
    return batches


def test_a_routed_batch_is_recorded_and_later_runs_look_only_in_new_batches(store_url, source, partners):
    store = LeadStore(store_url)
    first = put_leads(store, "b0", US, T0)
    finish(store, "b0", len(first))
    finish(store, "empty", 0)  # every row quarantined: no lead, recorded all the same
    assert looked_in(store) is None  # the source's first run: the whole source
    assert route_new_leads(source, partners, store, T0).decided == 4
    assert ledger(store) == [("sftp_demo", "b0"), ("sftp_demo", "empty")]
    assert looked_in(store) == []
    assert route_new_leads(source, partners, store, T0).decided == 0

    second = put_leads(store, "b1", US[:3], T0 + timedelta(hours=1))
    finish(store, "b1", len(second))
    assert looked_in(store) == ["b1"]
    assert route_new_leads(source, partners, store, T0 + timedelta(hours=1)).decided == 3
    assert ledger(store) == [("sftp_demo", "b0"), ("sftp_demo", "b1"), ("sftp_demo", "empty")]
    decided = current(store)
    assert sorted(decided.index) == sorted(first + second) and decided.index.is_unique
    assert sorted(outbox(store)["lead_id"]) == sorted(first + second)


def test_a_batch_the_intake_is_still_mapping_is_not_recorded_and_its_later_leads_are_routed(store_url, source,
                                                                                            partners):
    """The intake stores a batch a slice at a time: a run that routes the first slice's leads must not record
    the batch, or the leads of its later slices would never be looked for."""
    store = LeadStore(store_url)
    finish(store, "b0", len(put_leads(store, "b0", US[:1], T0)))
    route_new_leads(source, partners, store, T0)
    early = put_leads(store, "b1", US[:2], T0)  # the first slice of b1: no intake_batches row yet
    slice_mapped(store, "b1", 1, 2)
    assert looked_in(store) == ["b1"]
    assert route_new_leads(source, partners, store, T0).decided == 2
    assert ledger(store) == [("sftp_demo", "b0")]

    frame = pd.DataFrame({"lead_id": ["sftp_demo-b1-late0", "sftp_demo-b1-late1"], "source": "sftp_demo",
                          "batch_id": "b1", "row_number": [3, 4], "country": "US",
                          "email": ["late0@example.com", "late1@example.com"],
                          "received_at": T0, "updated_at": T0})
    frame["lead_key"] = frame["lead_id"]
    with store.begin() as conn:  # the last slice, and with it the batch's ledger row
        store.insert_frame(conn, tables.leads, frame)
    slice_mapped(store, "b1", 3, 4)
    finish(store, "b1", 4)
    assert route_new_leads(source, partners, store, T0).decided == 2
    assert ledger(store) == [("sftp_demo", "b0"), ("sftp_demo", "b1")]
    assert sorted(current(store).index) == sorted(["sftp_demo-b0-0000000", *early, *frame["lead_id"]])


def test_a_run_that_dies_between_slices_records_nothing_and_the_next_run_finishes_and_records(
        store_url, source, partners, monkeypatch):
    monkeypatch.setattr(assign, "ROUTE_SLICE", 2)
    store = LeadStore(store_url)
    ids = put_leads(store, "b0", US + US, T0)
    finish(store, "b0", len(ids))
    real_route = die_in_slice(monkeypatch, 2)
    with pytest.raises(RuntimeError, match="worker lost"):
        route_new_leads(source, partners, store, T0)
    assert len(current(store)) == 2 and ledger(store) == []
    monkeypatch.setattr(assign, "route", real_route)
    assert route_new_leads(source, partners, store, T0).decided == 6
    assert ledger(store) == [("sftp_demo", "b0")]
    assert sorted(current(store).index) == sorted(ids)


def test_sources_keep_ledgers_of_their_own_and_a_long_list_looks_everywhere(store_url, source, partners,
                                                                             monkeypatch):
    store = LeadStore(store_url)
    finish(store, "b0", len(put_leads(store, "b0", US[:1], T0)))
    route_new_leads(source, partners, store, T0)
    for batch in ("b1", "b2", "b3"):
        finish(store, batch, len(put_leads(store, batch, US[:1], T0)))
    put_leads(store, "x0", US[:1], T0, source="other")
    finish(store, "x0", 1, source_name="other")
    assert sorted(looked_in(store)) == ["b1", "b2", "b3"]
    monkeypatch.setattr(assign, "BATCH_LIST_MAX", 2)
    assert looked_in(store) is None  # three batches waiting, more than the list takes: the whole source
    assert route_new_leads(source, partners, store, T0).decided == 3
    assert [b for _s, b in ledger(store)] == ["b0", "b1", "b2", "b3"]
    assert looked_in(store, "other") is None  # another source's batch is not this source's to record
    assert {s for s, _b in ledger(store)} == {"sftp_demo"}
