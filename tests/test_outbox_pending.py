"""Which outbox events are pending: not bound to a batch, or refused by the batch they went out in. The query is
an anti-join on both stores: Postgres turned the former `event_id NOT IN (bindings)` into a subplan scanned again
per outbox row once the bindings outgrew work_mem (a source's pending count ran for over 14 minutes with 250,000
events bound)."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from leadsync.store import LeadStore, tables
from leadsync.writeback import outbox

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def queue(store: LeadStore, source: str, count: int, start: int = 0) -> list[str]:
    ids = [f"{source}-e{i:06d}" for i in range(start, start + count)]
    with store.begin() as conn:
        store.insert_frame(conn, tables.writeback_outbox, pd.DataFrame(
            {"event_id": ids, "source": source, "lead_id": [f"L{i}" for i in range(start, start + count)],
             "kind": "distribution_status", "created_at": NOW}))
    return ids


def pending(store: LeadStore, source: str | None = None) -> set[str]:
    with store.begin() as conn:
        return set(conn.execute(sa.select(outbox.pending_events(source).subquery().c.event_id)).scalars())


@pytest.mark.parametrize("store_url", ["duckdb", "postgres"], indirect=True)
def test_an_event_is_pending_until_a_batch_takes_it_and_again_when_the_batch_refuses_it(store_url):
    store = LeadStore(store_url)
    first = queue(store, "crm", 5)
    other = queue(store, "files", 2)
    assert pending(store) == {*first, *other} and pending(store, "crm") == set(first)

    batch = outbox.prepare_batch(store, "crm", NOW, lambda batch_id, _now: f"crm:{batch_id}")
    assert batch.event_count == 5
    assert pending(store, "crm") == set() and pending(store) == set(other)  # prepared: taken
    later = queue(store, "crm", 2, start=5)
    assert pending(store, "crm") == set(later)

    outbox.mark_sent(store, batch, "3 sent, 2 refused", NOW + timedelta(minutes=1),
                     pd.DataFrame({"event_id": first[:2], "error": "locked by a validation rule"}))
    assert pending(store, "crm") == {*first[:2], *later}  # the refused ones are pending again

    again = outbox.prepare_batch(store, "crm", NOW + timedelta(minutes=2), lambda batch_id, _now: f"crm:{batch_id}")
    assert again.event_count == 4 and pending(store, "crm") == set()
    outbox.mark_sent(store, again, "4 sent", NOW + timedelta(minutes=3))
    assert pending(store, "crm") == set() and pending(store, "files") == set(other)
    store.dispose()


def test_on_postgres_the_pending_events_are_an_anti_join_not_a_subplan_per_row(postgres_url):
    store = LeadStore(postgres_url)
    queue(store, "crm", 3000)
    outbox.prepare_batch(store, "crm", NOW, lambda batch_id, _now: f"crm:{batch_id}")
    queue(store, "crm", 10, start=3000)
    with store.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
        query = sa.select(sa.func.count()).select_from(outbox.pending_events("crm").subquery())
        plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN {store.render(conn, query)}").scalars())
        assert conn.execute(query).scalar_one() == 10
    store.dispose()
    assert "Anti Join" in plan and "SubPlan" not in plan, plan


def test_on_postgres_the_event_states_are_joined_not_a_subplan_per_row(postgres_url):
    """Every event's state (sent, prepared, refused and pending again, pending) from one grouped relation of the
    bindings joined by seq: an EXISTS per state would run for every outbox row, each a scan of the bindings."""
    store = LeadStore(postgres_url)
    sent = queue(store, "crm", 3000)
    first = outbox.prepare_batch(store, "crm", NOW, lambda batch_id, _now: f"crm:{batch_id}")
    outbox.mark_sent(store, first, "ok", NOW, refused=pd.DataFrame({"event_id": [sent[0]], "error": ["locked"]}))
    later = queue(store, "crm", 5, start=3000)
    outbox.prepare_batch(store, "crm", NOW + timedelta(minutes=1), lambda batch_id, _now: f"crm:{batch_id}")
    waiting = queue(store, "crm", 2, start=3005)
    with store.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
        plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN {store.render(conn, outbox.event_states())}").scalars())
        listed = outbox.event_states().subquery()
        states = dict(conn.execute(sa.select(listed.c.event_id, listed.c.state)).all())
    store.dispose()
    assert "SubPlan" not in plan, plan
    assert {e for e, s in states.items() if s == "sent"} == set(sent[1:])
    assert {e for e, s in states.items() if s == "prepared"} == {sent[0], *later}  # refused, then bound again
    assert {e for e, s in states.items() if s == "pending"} == set(waiting)


@pytest.mark.parametrize("store_url", ["duckdb", "postgres"], indirect=True)
def test_a_batch_takes_its_sources_new_events_as_one_span_and_a_refused_one_on_its_own(store_url):
    """New events go in one span row however many they are (the other source's events between them aside); an
    event refused is sent again with a binding of its own; every event's state reads the same either way."""
    store = LeadStore(store_url)
    first = queue(store, "crm", 3) + queue(store, "files", 2) + queue(store, "crm", 3, start=3)
    crm, files = first[:3] + first[5:], first[3:5]
    name = lambda batch_id, _now: f"crm:{batch_id}"
    s, b, o = tables.writeback_spans, tables.writeback_bindings, tables.writeback_outbox

    def rows(table, batch) -> int:
        with store.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.batch_id == batch.batch_id)).scalar_one()

    def held(batch) -> list[str]:
        with store.begin() as conn:
            return sorted(conn.execute(sa.select(outbox.members(batch).subquery().c.event_id)).scalars())

    def states() -> dict[str, str]:
        with store.begin() as conn:
            listed = outbox.event_states().subquery()
            return dict(conn.execute(sa.select(listed.c.event_id, listed.c.state)).all())

    batch = outbox.prepare_batch(store, "crm", NOW, name)
    assert batch.event_count == 6 and held(batch) == crm
    assert rows(s, batch) == 1 and rows(b, batch) == 0  # one span, no binding
    assert outbox.prepared_batches(store, "crm") == [batch]
    outbox.mark_sent(store, batch, "5 sent, 1 refused", NOW, pd.DataFrame({"event_id": [crm[1]], "error": "locked"}))
    later = queue(store, "crm", 2, start=6)
    assert states() == {**dict.fromkeys(crm, "sent"), crm[1]: "pending", **dict.fromkeys([*files, *later], "pending")}

    again = outbox.prepare_batch(store, "crm", NOW + timedelta(minutes=1), name)
    assert again.event_count == 3 and held(again) == sorted([crm[1], *later])
    assert rows(s, again) == 1 and rows(b, again) == 1  # the new ones a span, the refused one bound
    with store.begin() as conn:
        seq = dict(conn.execute(sa.select(o.c.event_id, o.c.seq).where(o.c.event_id.in_(later))).all())
    assert again.span == (seq[later[0]], seq[later[1]])
    assert states() == {**dict.fromkeys(crm, "sent"), crm[1]: "prepared", **dict.fromkeys(later, "prepared"),
                        **dict.fromkeys(files, "pending")}
    outbox.mark_sent(store, again, "3 sent", NOW + timedelta(minutes=2))
    assert pending(store, "crm") == set() and pending(store) == set(files)
    assert outbox.prepare_batch(store, "crm", NOW + timedelta(minutes=3), name) is None
    with store.begin() as conn:
        sent = sa.select(outbox.sent_events().subquery().c.event_id)
        assert sorted(conn.execute(sent).scalars()) == sorted([*crm, *later])
    store.dispose()
