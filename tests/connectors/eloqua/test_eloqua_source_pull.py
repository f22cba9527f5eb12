"""EloquaSource.pull: incremental contact exports, watermarks, resuming an interrupted export, failures."""

import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest
from leadsync.connectors.api_client import ApiConfigError, ApiError, ApiTransientError, poll_delays
from leadsync.connectors.eloqua.source import EloquaSource
from leadsync.connectors.eloqua.source import bulk as bulk_module
from leadsync.connectors.eloqua.source.sandbox_settings import sandbox_settings

FIELDS = ["C_EmailAddress", "C_FirstName", "C_LeadSync_Distribution_Status1"]


def source_for(eloqua, **overrides) -> EloquaSource:
    return EloquaSource(sandbox_settings(eloqua, **{"export_page_size": 100, **overrides}))


def ids_of(batches) -> list[str]:
    return [i for b in batches for i in b.records["ContactID"]]


def exports_defined(eloqua) -> int:
    return sum(1 for d in eloqua.state.definitions.values() if d.entity == "contacts" and d.kind == "exports")


def set_status(bulk, field, contact_ids: list[int], status: str) -> None:
    finished = bulk.import_rows({"Id": "{{Contact.Id}}", "S": field("C_LeadSync_Distribution_Status1")}, "Id",
                                [{"Id": str(i), "S": status} for i in contact_ids])
    assert finished["status"] == "success"


def test_a_first_pull_reads_every_contact_in_pages_with_the_watermark_on_the_last(eloqua):
    batches = list(source_for(eloqua).pull(FIELDS, None))
    assert [b.key for b in batches] == ["/syncs/1:0", "/syncs/1:100", "/syncs/1:200"]
    assert sorted(ids_of(batches), key=int) == [str(i) for i in range(1, 301)]
    first = batches[0].records
    assert list(first.columns) == ["ContactID", *FIELDS, "C_DateModified"]
    assert first["C_LeadSync_Distribution_Status1"].isna().all()  # Eloqua's "" arrives as None
    assert all(b.kind == "bulk" for b in batches)
    assert [b.watermark is None for b in batches] == [True, True, False]
    assert [b.resume is None for b in batches] == [False, False, True]
    newest = max(eloqua.state.contacts.table.column("C_DateModified").to_pylist())
    assert batches[-1].watermark == newest.replace(tzinfo=UTC)


def test_incremental_pulls_across_runs_read_what_changed_and_keep_the_boundary(eloqua, bulk, field):
    source = source_for(eloqua, look_back=timedelta(0))
    first = list(source.pull(FIELDS, None))
    watermark = first[-1].watermark
    assert ids_of(first) and watermark is not None

    eloqua.clock.freeze(datetime(2031, 3, 1, 9, 0, 0))
    set_status(bulk, field, [10, 20], "Distributed")
    second = list(source.pull(FIELDS, watermark))
    rows = {r["ContactID"]: r for b in second for r in b.records.to_dict("records")}
    assert {"10", "20"} <= set(rows) and rows["10"]["C_LeadSync_Distribution_Status1"] == "Distributed"
    at_old_mark = {str(r["id"]) for r in eloqua.state.contacts.table.to_pylist()
                   if r["C_DateModified"].replace(tzinfo=UTC) >= watermark}
    assert set(rows) == at_old_mark | {"10", "20"}  # inclusive: the contact exactly at the watermark is re-read
    assert second[-1].watermark == datetime(2031, 3, 1, 9, 0, 0, tzinfo=UTC)

    # Another contact changes in the same second as the watermark, after the second pull ran: not lost.
    set_status(bulk, field, [30], "Queued")
    third = list(source.pull(FIELDS, second[-1].watermark))
    assert sorted(ids_of(third), key=int) == ["10", "20", "30"]
    assert third[-1].watermark == second[-1].watermark

    eloqua.clock.advance(3600)
    assert list(source.pull(FIELDS, datetime(2031, 3, 2, tzinfo=UTC))) == []  # nothing changed: no batch


def test_the_filter_reaches_back_by_the_look_back(eloqua, bulk, field):
    eloqua.clock.freeze(datetime(2031, 3, 1, 9, 0, 0))
    set_status(bulk, field, [5], "Distributed")
    eloqua.clock.freeze(datetime(2031, 3, 1, 9, 4, 0))
    set_status(bulk, field, [6], "Distributed")
    since = datetime(2031, 3, 1, 9, 5, 0, tzinfo=UTC)
    assert ids_of(source_for(eloqua, look_back=timedelta(minutes=2)).pull(FIELDS, since)) == ["6"]
    naive = since.replace(tzinfo=None)  # read as UTC
    assert ids_of(source_for(eloqua, look_back=timedelta(minutes=2)).pull(FIELDS, naive)) == ["6"]
    assert sorted(ids_of(source_for(eloqua, look_back=timedelta(minutes=10)).pull(FIELDS, since))) == ["5", "6"]
    definition = list(eloqua.state.definitions.values())[-1].body
    assert definition["filter"] == "'{{Contact.Field(C_DateModified)}}' >= '2031-03-01 08:55:00'"


def test_an_interrupted_pull_resumes_at_the_offset_of_the_same_export(eloqua, bulk, field):
    source = source_for(eloqua)
    pulling = source.pull(FIELDS, None)
    first = next(pulling)
    pulling.close()  # the run stops after storing one batch
    assert first.watermark is None
    assert first.resume["sync"] == "/syncs/1" and first.resume["offset"] == 100
    assert first.resume["definition"].startswith("/contacts/exports/") and first.resume["until"]
    set_status(bulk, field, [250], "Changed meanwhile")  # the staged export does not move under us

    exports, syncs = exports_defined(eloqua), len(eloqua.state.syncs)
    rest = list(source.pull(FIELDS, None, resume=first.resume))
    assert exports_defined(eloqua) == exports and len(eloqua.state.syncs) == syncs  # no new export
    assert [b.key for b in rest] == ["/syncs/1:100", "/syncs/1:200"]
    assert sorted(ids_of([first, *rest]), key=int) == [str(i) for i in range(1, 301)]
    assert set(ids_of(rest)).isdisjoint(ids_of([first]))
    assert rest[-1].watermark is not None and rest[0].watermark is None

    again = list(source.pull(FIELDS, None, resume=first.resume))  # the same resume gives the same batches
    assert [b.key for b in again] == [b.key for b in rest]


def test_the_watermark_of_a_resumed_pull_covers_the_rows_read_before_the_interruption(eloqua, bulk, field):
    eloqua.clock.freeze(datetime(2031, 3, 1, 9, 0, 0))
    set_status(bulk, field, [3], "Newest")  # contact 3 is in the first page and is the newest of all
    pulling = source_for(eloqua).pull(FIELDS, None)
    first = next(pulling)
    pulling.close()
    rest = list(source_for(eloqua).pull(FIELDS, None, resume=first.resume))
    assert rest[-1].watermark == datetime(2031, 3, 1, 9, 0, 0, tzinfo=UTC)


def test_a_resume_whose_export_data_expired_starts_a_new_export_from_the_same_since(eloqua):
    source = source_for(eloqua, export_retention="PT1H")
    since = datetime(2000, 1, 1, tzinfo=UTC)
    pulling = source.pull(FIELDS, since)
    first = next(pulling)
    pulling.close()
    eloqua.clock.advance(2 * 3600)  # the staging area is purged
    exports = exports_defined(eloqua)
    batches = list(source.pull(FIELDS, None, resume=first.resume))
    assert exports_defined(eloqua) == exports + 1
    assert batches[0].key == "/syncs/2:0"
    assert sorted(ids_of(batches), key=int) == [str(i) for i in range(1, 301)]
    definition = list(eloqua.state.definitions.values())[-1].body
    assert definition["filter"].endswith(">= '1999-12-31 23:55:00'")  # the same since, less the look-back


def test_a_resume_for_another_field_list_starts_over(eloqua):
    source = source_for(eloqua)
    pulling = source.pull(FIELDS, None)
    first = next(pulling)
    pulling.close()
    batches = list(source.pull(["C_EmailAddress"], None, resume=first.resume))
    assert batches[0].key.endswith(":0") and batches[0].key != first.key
    assert len(ids_of(batches)) == 300


def test_a_failing_sync_raises_with_its_logs(eloqua):
    eloqua.fail_next_sync("Export failed: staging area full.")
    with pytest.raises(ApiError) as failure:
        list(source_for(eloqua).pull(FIELDS, None))
    assert "/syncs/1" in str(failure.value) and "Export failed: staging area full." in str(failure.value)
    assert "ELQ-00107" in str(failure.value)
    assert len(ids_of(source_for(eloqua).pull(FIELDS, None))) == 300  # the next run goes through


def test_a_missing_field_fails_before_any_export_with_a_clear_message(eloqua):
    with pytest.raises(ApiConfigError, match="Eloqua has no contact field 'C_NoSuchField'"):
        source_for(eloqua).pull(["C_EmailAddress", "C_NoSuchField"], None)
    assert exports_defined(eloqua) == 0


def test_fields_by_statement_and_custom_fields_added_later(eloqua):
    eloqua.add_contact_field("Partner Tier")
    batches = list(source_for(eloqua).pull(["{{Contact.Field(C_FirstName)}}", "C_Partner_Tier1"], None))
    assert list(batches[0].records.columns) == ["ContactID", "C_FirstName", "C_Partner_Tier1", "C_DateModified"]


def test_a_sync_that_never_finishes_times_out_as_transient(eloqua):
    eloqua.hold_syncs()
    try:
        with pytest.raises(ApiTransientError, match="still pending"):
            list(source_for(eloqua, sync_timeout_s=0.2).pull(FIELDS, None))
    finally:
        eloqua.release_syncs()


def test_a_time_window_reads_only_its_contacts_and_keeps_its_bound_when_exported_again(eloqua):
    stamps = sorted(r["C_DateModified"].replace(tzinfo=UTC) for r in eloqua.state.contacts.table.to_pylist())
    start, end = stamps[len(stamps) // 3], stamps[2 * len(stamps) // 3]  # the middle third
    source = source_for(eloqua, look_back=timedelta(0), export_page_size=40)
    batches = list(source.pull(FIELDS, start, None, until=end))
    expected = {str(r["id"]) for r in eloqua.state.contacts.table.to_pylist()
                if start <= r["C_DateModified"].replace(tzinfo=UTC) < end}
    assert set(ids_of(batches)) == expected and expected
    assert start <= batches[-1].watermark < end
    # an interrupted window resumes in the same bounded export
    first = next(iter(source.pull(FIELDS, start, None, until=end)))
    assert first.resume is not None and first.resume["before"] is not None
    rest = list(source.pull(FIELDS, start, first.resume, until=end))
    assert set(ids_of([first, *rest])) == expected


def test_a_sync_is_checked_soon_after_it_starts_then_less_often_up_to_the_interval():
    assert list(itertools.islice(poll_delays(0.05, 2.0), 8)) == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert list(itertools.islice(poll_delays(0.01, 0.01), 3)) == [0.01, 0.01, 0.01]  # never above the interval
    assert list(itertools.islice(poll_delays(0, 30.0), 3)) == [0, 0.05, 0.1]  # Salesforce's sandbox: at once first


def test_a_small_export_is_read_without_waiting_a_whole_poll_interval(eloqua, monkeypatch):
    """With a real instance's 30 s interval, the sandbox's syncs (which end within milliseconds) are seen at the
    first checks: the pull's waits are the short first ones, not 30 s per sync."""
    waits, real_sleep = [], time.sleep

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(bulk_module.time, "sleep", sleep)
    batches = list(source_for(eloqua, sync_poll_interval_s=30.0).pull(FIELDS, None))
    assert sorted(ids_of(batches), key=int) == [str(i) for i in range(1, 301)]
    # (time.sleep is the process's: other threads' short sleeps are among the waits too)
    assert bulk_module.FIRST_POLL_S in waits and max(waits) < 1.0
