"""On DuckDB a part of a status file is written unsorted, from the outbox alone, only where the outbox holds the
batch's events in seq order and nothing else of the source in the part's range (writeback/status_scan_order.py);
otherwise it is sorted as before. On Postgres the file is one COPY cut into parts, its rows chosen by the outbox
alone where the batch holds all of its source's events in its range, else through the batch's bindings. Either way the file holds exactly the
batch's events, in seq order, with the same bytes the sorted way gives."""

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from leadsync.store import LeadStore, tables
from leadsync.writeback import outbox, sftp_status_file, status_scan_order

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(duckdb_store):
    return duckdb_store


def answers_of(monkeypatch, module, name: str) -> list[bool]:
    """What `module.name` answers, call by call (it still decides)."""
    taken: list[bool] = []
    real = getattr(module, name)

    def spy(*args, **kwargs):
        taken.append(real(*args, **kwargs))
        return taken[-1]

    monkeypatch.setattr(module, name, spy)
    return taken


def rendered_refusing(store, batch, monkeypatch, module, name: str) -> bytes:
    """The file as rendered when `module.name` answers False for every part: the reference."""
    with monkeypatch.context() as m:
        m.setattr(module, name, lambda *args, **kwargs: False)
        return sftp_status_file.render_status_csv(store, batch)


@pytest.fixture
def paths_taken(monkeypatch):
    """Per part rendered: True where it was written in scan order, False where it was sorted."""
    return answers_of(monkeypatch, sftp_status_file, "_copy_in_scan_order")


# Each engine's cheaper way to a part's rows, and what decides it: DuckDB writes unsorted from the outbox alone,
# Postgres reads the outbox alone (sorted); both fall back to the bindings joined and sorted.
CHEAP_WAY = {"duckdb": (sftp_status_file, "_copy_in_scan_order"),
             "postgres": (status_scan_order, "batch_alone_in_range")}


@dataclass
class Engine:
    store: LeadStore
    cheap: list[bool]  # per choice made: True where it took the cheaper way
    reference: Callable[[outbox.Batch], bytes]  # the file with every part the joined, sorted way
    per_part: bool  # DuckDB chooses part by part; Postgres once for the file (one COPY, cut into parts)


@pytest.fixture(params=sorted(CHEAP_WAY))
def engine(request, monkeypatch) -> Engine:
    store = request.getfixturevalue(f"{request.param}_store")
    module, name = CHEAP_WAY[request.param]
    return Engine(store, answers_of(monkeypatch, module, name),
                  lambda batch: rendered_refusing(store, batch, monkeypatch, module, name), request.param == "duckdb")


def queue(store: LeadStore, source: str, numbers, seq=None) -> None:
    with store.begin() as conn:
        store.insert_frame(conn, tables.writeback_outbox, events(source, numbers, seq))


def events(source: str, numbers, seq=None) -> pd.DataFrame:
    numbers = list(numbers)
    # values a spreadsheet would run, and a plain negative number it must not touch
    frame = pd.DataFrame({"event_id": [f"{source}-e{n:03d}" for n in numbers], "source": source,
                          "lead_id": [f"{source}-L{n:03d}" for n in numbers], "kind": "distribution_status",
                          "email": [f"=HYPERLINK(\"x\")-{n}" if n % 3 == 0 else f"lead{n}@example.com" for n in numbers],
                          "source_file": "leads.csv", "source_row": numbers,
                          "distribution_status": "Routed", "partner_name": [f"-{n}" for n in numbers],
                          "reason": [f"@rule {n}" for n in numbers], "created_at": NOW})
    if seq is not None:
        frame["seq"] = seq
    return frame


def prepare(store: LeadStore, source: str = "a", when: datetime = NOW) -> outbox.Batch:
    return outbox.prepare_batch(store, source, when, sftp_status_file.status_file_name(source))


def lead_ids(data: bytes) -> list[str]:
    return [line.split(",")[0] for line in data.decode().splitlines()[1:]]


def test_all_of_a_sources_events_take_the_cheaper_way_with_the_same_bytes(engine, monkeypatch):
    store = engine.store
    for n in range(12):  # two sources' events interleaved in the outbox
        queue(store, "a", [n])
        queue(store, "b", [n])
    batch = prepare(store)
    monkeypatch.setattr(sftp_status_file, "PART_ROWS", 5)
    data = sftp_status_file.render_status_csv(store, batch)
    assert engine.cheap == ([True, True, True] if engine.per_part else [True])
    assert data == engine.reference(batch)
    assert lead_ids(data) == [f"a-L{n:03d}" for n in range(12)]
    text = data.decode()
    assert "'=HYPERLINK" in text and ",'@rule 4," in text and ",-4," in text  # inert, and a number left as is


def test_a_range_holding_events_an_earlier_batch_took_is_joined(engine, monkeypatch):
    store = engine.store
    queue(store, "a", range(10))
    first = prepare(store)
    outbox.mark_sent(store, first, "outbox/first.csv", NOW,
                     refused=pd.DataFrame({"event_id": ["a-e003"], "error": ["refused"]}))
    queue(store, "a", range(10, 15))
    batch = prepare(store, when=datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    queue(store, "a", range(15, 17))  # after the batch was bound: the next batch's
    monkeypatch.setattr(sftp_status_file, "PART_ROWS", 2)
    data = sftp_status_file.render_status_csv(store, batch)
    # the first part runs from event 3 to event 10: events 4-9 there went out in the first batch; the last part's
    # span ends at the batch's last event, before the events queued after it (Postgres: the file's range as a whole
    # holds them, so the whole file is joined)
    assert engine.cheap == ([False, True, True] if engine.per_part else [False])
    assert lead_ids(data) == ["a-L003", *[f"a-L{n:03d}" for n in range(10, 15)]]
    assert data == engine.reference(batch)


def test_events_stored_out_of_seq_order_are_sorted(store, paths_taken):
    queue(store, "a", range(5), seq=[50, 40, 30, 20, 10])  # the table holds them in the reverse of their seq
    batch = prepare(store)
    data = sftp_status_file.render_status_csv(store, batch)
    assert paths_taken == [False]
    assert lead_ids(data) == [f"a-L{n:03d}" for n in reversed(range(5))]


def test_events_queued_after_the_batch_are_not_in_its_file(store, paths_taken):
    queue(store, "a", range(5))
    batch = prepare(store)
    queue(store, "a", range(5, 8))  # after the batch was bound: the next batch's
    data = sftp_status_file.render_status_csv(store, batch)
    assert paths_taken == [True]
    assert lead_ids(data) == [f"a-L{n:03d}" for n in range(5)]


def test_a_plan_with_a_join_does_not_count_as_keeping_order(store):
    queue(store, "a", range(5))
    scan = "COPY (SELECT lead_id FROM writeback_outbox WHERE seq >= 2) TO '/dev/null' (FORMAT csv)"
    # an IN list of six constants: planned as a join, under a COPY that no longer keeps order
    joined = ("COPY (SELECT lead_id FROM writeback_outbox WHERE ascii(lead_id) IN (61, 43, 45, 64, 9, 13)) "
              "TO '/dev/null' (FORMAT csv)")
    with store.begin() as conn:
        assert not status_scan_order.plan_keeps_order(conn, scan)  # the store does not keep order by default
        conn.exec_driver_sql("SET preserve_insertion_order = true")
        try:
            assert status_scan_order.plan_keeps_order(conn, scan)
            assert not status_scan_order.plan_keeps_order(conn, joined)
        finally:
            conn.exec_driver_sql("RESET preserve_insertion_order")


def produce(store: LeadStore, source: str, numbers) -> None:
    """Queue events as leadsync's producers do: the source's order held from before their seqs are drawn."""
    with store.begin() as conn:
        outbox.hold_outbox_order(conn, [source])
        store.insert_frame(conn, tables.writeback_outbox, events(source, numbers))


def test_postgres_a_batch_waits_for_an_event_numbered_before_it_and_not_yet_committed(postgres_store):
    """A producer of the source's events holds its order from before their seqs are drawn until it commits, and a
    batch waits for the producers holding it: it waits for the event drawn a seq before the later ones and still
    uncommitted, then holds it. Without the wait the batch's span would cover that seq, the event would commit
    inside it unsent, and be counted as held by the span: never written back. Producers starting meanwhile are
    not kept waiting (nothing queues on the order), and their events go in the next batch."""
    store = postgres_store
    queue(store, "a", range(5))
    with store.engine.connect() as producer:
        with producer.begin():
            outbox.hold_outbox_order(producer, ["a"])
            store.insert_frame(producer, tables.writeback_outbox, events("a", [5]))  # its seq drawn now
            produce(store, "a", [6, 7])  # later events of the source, committed first
            made: dict = {}
            binder = threading.Thread(target=lambda: made.update(batch=prepare(store)))
            binder.start()
            binder.join(1.0)
            assert binder.is_alive()  # the batch waits for the producer in flight
            # a producer of the source starting now is not held up by the waiting batch (behind a lock asked for
            # alone it would wait until this test lets the first producer commit: never, within the join)
            later = threading.Thread(target=produce, args=(store, "a", [8]))
            later.start()
            later.join(30)
            assert not later.is_alive() and binder.is_alive()
        binder.join(30)
    batch = made["batch"]
    assert batch.event_count == 8
    assert lead_ids(sftp_status_file.render_status_csv(store, batch)) == [f"a-L{n:03d}" for n in range(8)]
    outbox.mark_sent(store, batch, "outbox/a.csv", NOW)
    with store.begin() as conn:
        states = dict(conn.execute(sa.select(outbox.event_states().subquery().c["event_id", "state"])).all())
    assert states == {**{f"a-e{n:03d}": "sent" for n in range(8)}, "a-e008": "pending"}
    later = prepare(store, when=datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    assert lead_ids(sftp_status_file.render_status_csv(store, later)) == ["a-L008"]
