"""The API pull stage on its own (leadsync/pull/api_records.py), with a scripted source: batches as Arrow
tables, the connector read ahead of the store, record versions and their dedup on both stores."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from jobs import raw_rows

from leadsync.connectors.api_client import ApiQuotaExhausted
from leadsync.connectors.source_api import PulledBatch
from leadsync.config.schema import SOURCE_MODELS
from leadsync.pull.api_records import pull_records, read_ahead, record_versions
from leadsync.store import LeadStore, tables

NOW = datetime(2026, 12, 1, tzinfo=UTC)


# ------------------------------------------------------------------------------------------ PulledBatch

def test_a_batch_given_as_arrow_reads_as_a_frame_of_text_and_none():
    table = pa.table({"Id": ["1", "2"], "Email": ["a@x.example", None]})
    batch = PulledBatch(key="k", records=table, watermark=None, kind="bulk")
    assert batch.rows == 2 and batch.table is table
    frame = batch.records
    assert frame.to_dict("list") == {"Id": ["1", "2"], "Email": ["a@x.example", None]}
    assert frame["Email"].dtype == object


def test_a_batch_given_as_a_frame_is_stored_as_text():
    frame = pd.DataFrame({"Id": ["1", "2"], "Active": [True, False], "Score": [3, None]}, dtype=object)
    frame["Active"] = frame["Active"].astype(bool)
    table = PulledBatch(key="k", records=frame, watermark=None).table
    assert table.schema.types == [pa.string()] * 3
    assert table.to_pydict() == {"Id": ["1", "2"], "Active": ["true", "false"], "Score": ["3", None]}


# ------------------------------------------------------------------------------------------ read_ahead

def test_read_ahead_keeps_order_and_raises_where_the_source_failed():
    def items():
        yield 1
        yield 2
        raise ApiQuotaExhausted("daily quota spent")

    got = []
    with pytest.raises(ApiQuotaExhausted, match="daily quota"):
        got.extend(read_ahead(items()))
    assert got == [1, 2]


def test_read_ahead_holds_at_most_the_current_item_and_the_next():
    started, lock = [], threading.Lock()
    live = {"now": 0, "most": 0}

    class Item:
        def __init__(self, n):
            self.n = n
            with lock:
                live["now"] += 1
                live["most"] = max(live["most"], live["now"])

        def __del__(self):
            with lock:
                live["now"] -= 1

    def items():
        for n in range(8):
            started.append(n)
            yield Item(n)

    seen = []
    for item in read_ahead(items()):
        time.sleep(0.02)  # storing: the reader runs ahead meanwhile
        assert max(started) <= item.n + 1  # never more than one item ahead
        seen.append(item.n)
        del item
    assert seen == list(range(8)) and live["most"] <= 3  # the generator's own reference to its last item


def test_read_ahead_by_bytes_runs_further_ahead_with_small_items_only():
    from leadsync.pull.api_records import ReadAhead

    def ahead_of_consumer(size: int) -> int:
        started = []

        def items():
            for n in range(12):
                started.append(n)
                yield n

        most = 0
        with ReadAhead(items(), ahead_bytes=10, size=lambda _: size) as reader:
            for n in range(12):
                time.sleep(0.03)  # storing: the reader runs ahead meanwhile
                most = max(most, max(started) + 1 - n)  # items read and not yet taken
                assert reader.get() == n
        return most

    assert ahead_of_consumer(4) == 3  # 0, 4 and 8 bytes waiting let it start one more each
    assert ahead_of_consumer(20) == 1  # one large item waiting: no more


def test_a_consumer_that_stops_early_closes_the_source():
    closed = threading.Event()

    def items():
        try:
            yield from range(100)
        finally:
            closed.set()

    for item in read_ahead(items()):
        if item == 3:
            break
    assert closed.wait(5)


# ------------------------------------------------------------------------------------------ record versions

def test_record_versions_hash_content_as_before_and_mark_the_last_copy():
    table = pa.table({"Id": ["a1", "a2", "a1", "a3"], "SystemModstamp": ["2026-01-01", "2026-01-01", "2026-01-01", None],
                      "Email": ["x@y.example", None, "x@y.example", 'Zoë "q"'], "Title": [None, "", "CEO", "CTO"]})
    versions = record_versions(table, "Id", "SystemModstamp").to_pydict()
    # the hashes a store written before the Arrow pull holds for these records
    assert versions == {"position": [0, 1, 2, 3], "record_id": ["a1", "a2", "a1", "a3"],
                        "modified": ["2026-01-01", "2026-01-01", "2026-01-01", ""],
                        "content_sha": ["59af319aa45db45d736b", "4a6e6bb7c6da646fd80e", "ed0336435f7842ef4faa",
                                        "8ba9e6e7bb357f0f6af2"],
                        "last": [False, True, True, True]}
    assert record_versions(table.slice(1), "Id", "SystemModstamp").column("last").to_pylist() == [True] * 3


# ------------------------------------------------------------------------------------------ the stage

class ScriptedSource:
    """A LeadSource whose pull yields the pages it is given, then raises `then` if set."""

    record_id_field, modified_field = "Id", "SystemModstamp"

    def __init__(self, pages: list[PulledBatch], then: Exception | None = None):
        self.pages, self.then = pages, then

    def check(self):
        pass

    def available_fields(self):
        return {"Email": "string", "Title": "string"}

    def pull(self, fields, since, resume=None, until=None):
        yield from self.pages
        if self.then is not None:
            raise self.then


def page(key: str, rows: list[tuple[str, str, str, str | None]], watermark: datetime | None = None) -> PulledBatch:
    ids, stamps, emails, titles = (list(c) for c in zip(*rows, strict=True))
    table = pa.table({"Id": ids, "SystemModstamp": stamps, "Email": emails, "Title": pa.array(titles, pa.string())})
    return PulledBatch(key=key, records=table, watermark=watermark, resume={"at": key}, kind="bulk")


def source_config():
    return SOURCE_MODELS["salesforce"].model_validate({
        "name": "sf_stage", "type": "salesforce",
        "connection": {"consumer_key_env": "X", "consumer_secret_env": "X"},
        "fields": [{"column": "Email", "field": "email"}, {"column": "Title", "field": "title"}]})


def stored(store: LeadStore) -> list[tuple[str, str | None]]:
    frame = raw_rows(store.url, "sf_stage")
    return sorted(zip(frame["Id"], frame["Title"], strict=True), key=lambda r: (r[0], r[1] or ""))


def watermark(store: LeadStore):
    w = tables.source_watermarks
    with store.begin() as conn:
        return conn.execute(sa.select(w.c.watermark, w.c.resume).where(w.c.source == "sf_stage")).one()


def test_versions_are_stored_once_echoes_are_skipped_and_the_watermark_follows(store_url):
    store, cfg = LeadStore(store_url), source_config()
    first = [page("p1", [("1", "t1", "a@x.example", "CEO"), ("2", "t1", "b@x.example", None),
                         ("1", "t1", "a@x.example", "CEO")]),  # the same version twice in a page: stored once
             page("p2", [("3", "t1", "c@x.example", "CTO")], watermark=datetime(2026, 11, 1, tzinfo=UTC))]
    report = pull_records(cfg, ScriptedSource(first), store, NOW, Path("sf_stage.yaml"))
    assert (report.received, report.stored, report.already_had, report.batches) == (4, 3, 1, 2)
    assert stored(store) == [("1", "CEO"), ("2", None), ("3", "CTO")]
    mark, resume = watermark(store)
    assert pd.Timestamp(mark) == pd.Timestamp("2026-11-01T00:00:00Z") and '"p2"' in resume

    # read again (look-back): known versions; an echo (new stamp, same content); a real change
    again = [page("p3", [("1", "t1", "a@x.example", "CEO"), ("2", "t2", "b@x.example", None),
                         ("3", "t2", "c@x.example", "CFO")])]
    report = pull_records(cfg, ScriptedSource(again), store, NOW, Path("sf_stage.yaml"))
    assert (report.stored, report.already_had) == (1, 2)
    assert stored(store) == [("1", "CEO"), ("2", None), ("3", "CFO"), ("3", "CTO")]

    # the same page once more (a retried run): nothing new, not even the echo's version
    report = pull_records(cfg, ScriptedSource(again), store, NOW, Path("sf_stage.yaml"))
    assert (report.stored, report.already_had) == (0, 3)
    with store.begin() as conn:
        versions = conn.execute(sa.select(sa.func.count()).select_from(tables.source_records)).scalar_one()
    assert versions == 5  # 1@t1, 2@t1, 3@t1, 2@t2 (the echo: a version, not a change), 3@t2
    store.dispose()


def test_a_quota_stop_keeps_what_was_stored_and_its_watermark(duckdb_url):
    store, cfg = LeadStore(duckdb_url), source_config()
    pages = [page("p1", [("1", "t1", "a@x.example", "CEO")], watermark=datetime(2026, 11, 1, tzinfo=UTC))]
    report = pull_records(cfg, ScriptedSource(pages, ApiQuotaExhausted("daily quota spent")), store, NOW,
                          Path("sf_stage.yaml"))
    assert report.stored == 1 and "daily quota spent" in report.stopped
    assert pd.Timestamp(watermark(store)[0]) == pd.Timestamp("2026-11-01T00:00:00Z")
    store.dispose()


def units(pages, got=None, **limits):
    """The store units of `pages`, gathered into `got` as they come (an error raised after the ones before)."""
    from leadsync.pull import api_records

    got = [] if got is None else got
    with api_records.ReadAhead(api_records._hashed(pages, "SystemModstamp")) as ahead:
        got.extend(api_records._units(ahead, "Id", "SystemModstamp", **limits))
    return got


def test_consecutive_batches_are_stored_together_up_to_a_unit():
    pages = [page(f"p{i}", [(str(i), "t1", f"{i}@x.example", None)]) for i in range(5)]
    got = units(iter(pages), rows=2)
    assert [[b.key for b in u.batches] for u in got] == [["p0", "p1"], ["p2", "p3"], ["p4"]]
    assert got[0].table.num_rows == 2 and got[0].versions.column("record_id").to_pylist() == ["0", "1"]
    assert got[0].versions.column("content_sha").to_pylist() == \
        record_versions(got[0].table, "Id", "SystemModstamp").column("content_sha").to_pylist()
    assert got[2].key == "p4"  # a unit of one batch keeps the batch's own key (and ledger entry)
    wide = PulledBatch(key="w", records=pa.table({"Id": ["9"], "SystemModstamp": ["t1"], "Extra": ["x"]}),
                       watermark=None)
    got = units(iter([pages[0], wide, pages[1]]), rows=10)
    assert [[b.key for b in u.batches] for u in got] == [["p0"], ["w"], ["p1"]]  # columns changed
    got = units(iter(pages), rows=10, size=pages[0].table.nbytes * 3)
    assert [len(u.batches) for u in got] == [3, 2]  # wide records: fewer to a unit


def test_a_slow_source_is_stored_as_it_comes_and_a_failing_one_up_to_its_error():
    def slow():
        yield page("p0", [("0", "t1", "a@x.example", None)])
        time.sleep(0.3)
        yield page("p1", [("1", "t1", "b@x.example", None)])
        raise ApiQuotaExhausted("daily quota spent")

    got = []
    with pytest.raises(ApiQuotaExhausted):
        units(slow(), got, rows=10, seconds=0.1)
    assert [[b.key for b in u.batches] for u in got] == [["p0"], ["p1"]]  # the second stored before the error


def test_a_unit_moves_the_last_watermark_and_resume_of_its_batches(duckdb_url):
    store, cfg = LeadStore(duckdb_url), source_config()
    pages = [page("p1", [("1", "t1", "a@x.example", "CEO")], watermark=datetime(2026, 10, 1, tzinfo=UTC)),
             page("p2", [("2", "t1", "b@x.example", "CTO")], watermark=datetime(2026, 11, 1, tzinfo=UTC)),
             page("p3", [("3", "t1", "c@x.example", None)])]  # no watermark of its own (REST: not yet safe)
    report = pull_records(cfg, ScriptedSource(pages), store, NOW, Path("sf_stage.yaml"))
    assert (report.batches, report.stored) == (3, 3)
    mark, resume = watermark(store)
    assert pd.Timestamp(mark) == pd.Timestamp("2026-11-01T00:00:00Z") and '"p3"' in resume
    with store.begin() as conn:
        ledger = conn.execute(sa.select(tables.source_files.c.file_name, tables.source_files.c.row_count)).all()
    assert ledger == [("p1 … p3 (3 batches)", 3)]
    store.dispose()


def test_the_sources_warnings_reach_the_report_once_and_the_runs_log_and_metadata(duckdb_url, capfd):
    import dagster as dg

    from leadsync.defs.source_assets import api_pull_result

    store, cfg = LeadStore(duckdb_url), source_config()
    warned = "Eloqua Bulk /syncs/1 of /contacts/exports/1: ELQ-00002 Invalid email addresses. (1 records)"
    pages = [page("p1", [("1", "t1", "a@x.example", "CEO")]), page("p2", [("2", "t1", "b@x.example", None)],
                                                                  watermark=datetime(2026, 11, 1, tzinfo=UTC))]
    pages = [PulledBatch(p.key, p.table, p.watermark, p.resume, p.kind, warnings=(warned,)) for p in pages]

    report = pull_records(cfg, ScriptedSource(pages), store, NOW, Path("sf_stage.yaml"))

    assert report.stored == 2 and report.warnings == [warned]  # the data is kept, the warning said once
    result = api_pull_result(dg.build_asset_context(), report)
    assert warned in result.metadata["source_warnings"].value
    assert f"WARNING - system - the source warned (its records are kept): {warned}" in capfd.readouterr().err


# ------------------------------------------------------------------------------------------ one store session

class FailingSource(ScriptedSource):
    """Yields its pages, then fails as a broken connection would (not a quota stop)."""

    def pull(self, fields, since, resume=None, until=None):
        yield from self.pages
        raise ConnectionError("the export's connection broke")


def test_a_crash_between_units_keeps_the_units_before_and_a_retry_adds_no_copy(store_url, monkeypatch):
    from leadsync.pull import api_records

    monkeypatch.setattr(api_records, "UNIT_ROWS", 1)  # each page a unit of its own, in one store session
    store, cfg = LeadStore(store_url), source_config()
    pages = [page("p1", [("1", "t1", "a@x.example", "CEO")], watermark=datetime(2026, 10, 1, tzinfo=UTC)),
             page("p2", [("2", "t1", "b@x.example", "CTO")], watermark=datetime(2026, 11, 1, tzinfo=UTC))]
    with pytest.raises(ConnectionError):
        pull_records(cfg, FailingSource(pages), store, NOW, Path("sf_stage.yaml"))
    assert stored(store) == [("1", "CEO"), ("2", "CTO")]
    assert pd.Timestamp(watermark(store)[0]) == pd.Timestamp("2026-11-01T00:00:00Z")

    # the retry reads both pages again (and one more): only the new record is stored
    again = [*pages, page("p3", [("3", "t1", "c@x.example", None)])]
    report = pull_records(cfg, ScriptedSource(again), store, NOW, Path("sf_stage.yaml"))
    assert (report.stored, report.already_had, report.batches) == (1, 2, 3)
    assert stored(store) == [("1", "CEO"), ("2", "CTO"), ("3", None)]
    with store.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.source_records)).scalar_one() == 3
    store.dispose()


def test_a_slow_source_lets_the_store_go_between_units(duckdb_url, monkeypatch):
    from filelock import FileLock, Timeout

    from leadsync.pull import api_records

    monkeypatch.setattr(api_records, "UNIT_ROWS", 1)
    store, cfg = LeadStore(duckdb_url), source_config()
    lock_path = sa.engine.make_url(duckdb_url).database + ".lock"
    free_while_waiting = []

    class SlowSource(ScriptedSource):
        def pull(self, fields, since, resume=None, until=None):
            yield page("p1", [("1", "t1", "a@x.example", "CEO")])
            time.sleep(1.6)  # the first unit is stored by now; the stage has waited over a second for this one
            try:
                with FileLock(lock_path, timeout=0.5, thread_local=False):
                    free_while_waiting.append(True)
            except Timeout:
                free_while_waiting.append(False)
            yield page("p2", [("2", "t1", "b@x.example", "CTO")])

    report = pull_records(cfg, SlowSource([]), store, NOW, Path("sf_stage.yaml"))
    assert report.stored == 2 and free_while_waiting == [True]
    store.dispose()


def test_idle_release_calls_back_only_after_waiting_long_enough():
    from leadsync.pull.api_records import END, NOT_YET, IdleRelease, ReadAhead

    def items():
        yield 1
        time.sleep(1.0)
        yield 2

    idle = []
    with ReadAhead(items()) as ahead:
        waiting = IdleRelease(ahead, lambda: idle.append(True), idle_s=0.5)
        assert waiting.get() == 1 and idle == []
        assert waiting.get(0.1) is NOT_YET and idle == []  # a short wait asked for: not idle
        assert waiting.get() == 2 and idle == [True]
        assert waiting.get() is END


@pytest.mark.parametrize(("limit", "connections"), [(1, 1 + 5), (1 << 40, 1 + 1)])
def test_the_store_session_is_opened_afresh_once_duckdb_holds_enough_unsaved(duckdb_url, monkeypatch, limit,
                                                                              connections):
    from leadsync.pull import api_records

    # an open DuckDB keeps what it committed in memory until a checkpoint: memory stays flat only if the file is
    # closed (checkpointed) now and then; here after every unit, or never within the pull
    monkeypatch.setattr(api_records, "UNIT_ROWS", 1)
    monkeypatch.setattr(api_records, "SESSION_UNSAVED_BYTES", limit)
    store, cfg = LeadStore(duckdb_url), source_config()
    opened = []
    sa.event.listen(store.engine, "connect", lambda *_: opened.append(1))
    pages = [page(f"p{i}", [(str(i), "t1", f"{i}@x.example", None)]) for i in range(5)]
    report = pull_records(cfg, ScriptedSource(pages), store, NOW, Path("sf_stage.yaml"))
    assert report.stored == 5 and report.batches == 5
    assert len(opened) == connections  # the watermark's read, then the units on one connection or on one each
    assert stored(store) == [(str(i), None) for i in range(5)]
    store.dispose()


def test_a_sessions_unsaved_bytes_grow_with_what_it_commits_and_go_with_the_checkpoint(duckdb_url):
    store = LeadStore(duckdb_url)
    with store.session() as session:
        assert session.unsaved_bytes() == 0  # nothing open yet
        with session.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE wide AS SELECT i, repeat('x', 40) || i AS t FROM range(10) r(i)")
        small = session.unsaved_bytes()
        for _ in range(5):  # units smaller than a row group (a large one DuckDB writes to the file at once)
            with session.begin() as conn:
                conn.exec_driver_sql("INSERT INTO wide SELECT i, repeat('y', 40) || i FROM range(40000) r(i)")
        held = session.unsaved_bytes()
        assert held > small + 4_000_000  # 200,000 rows of ~50 bytes, held uncompressed
        session.release()
        assert session.unsaved_bytes() == 0
        with session.begin() as conn:  # reopened: the close checkpointed them into the file
            assert conn.exec_driver_sql("SELECT count(*) FROM wide").scalar_one() == 200_010
        assert session.unsaved_bytes() < held / 10
    store.dispose()
