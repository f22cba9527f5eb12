"""MarketoSource.pull against the Marketo sandbox over real sockets: Bulk Extract for the first pull and for
large deltas, REST for small ones, watermarks that never pass what was yielded, and resuming an export."""

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest

from leadsync.connectors.api_client import ApiConfigError, ApiError
from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.marketo.sandbox.clock import SandboxClock, naive_utc
from leadsync.connectors.marketo.source import MarketoSource
from leadsync.connectors.marketo.source.bulk import LeadExports, export_windows
from leadsync.connectors.marketo.source.pull import _rest_watermark
from leadsync.connectors.marketo.source.records import parse_time
from leadsync.connectors.marketo.source.settings import sandbox_settings

START = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
LEADS = 3000
FIELDS = ["email", "Title", "company", "annualRevenue", "numberOfEmployees", "createdAt"]


@pytest.fixture
def big_sandbox():
    """3,000 leads created over the 180 days before START; the clock runs from START."""
    with MarketoSandbox(seed_leads=LEADS, clock=SandboxClock(start=START)) as server:
        yield server


def source_for(sandbox, **overrides) -> MarketoSource:
    return MarketoSource(sandbox_settings(sandbox, first_pull_days=200, **overrides), clock=sandbox.clock.now)


def ids(batches) -> list[int]:
    return [int(i) for batch in batches for i in batch.records["id"]]


def update(sandbox, lead_ids, **values) -> None:
    """Change leads through the sandbox's Sync Leads (which writes Change Data Value activities)."""
    results = sandbox.leads.sync([{"id": i, **values} for i in lead_ids], "updateOnly", "id")
    assert {r["status"] for r in results} == {"updated"}


def export_specs(sandbox) -> list[dict]:
    return [json.loads(r["spec"]) for r in sandbox.db.rows("SELECT spec FROM export_jobs ORDER BY createdAt")]


def db_ids(sandbox, where: str = "TRUE", params=()) -> set[int]:
    return {r["id"] for r in sandbox.db.rows(f"SELECT id FROM leads WHERE {where}", list(params))}


def test_first_pull_bulk_extracts_every_lead_in_31_day_windows_as_text(big_sandbox):
    big_sandbox.clock.freeze(START)
    with source_for(big_sandbox, bulk_chunk_rows=400) as source:
        batches = list(source.pull(FIELDS, None))

    assert {b.kind for b in batches} == {"bulk"}
    assert sorted(ids(batches)) == list(range(1, LEADS + 1))
    assert len({b.key for b in batches}) == len(batches) and all(len(b.records) <= 400 for b in batches)
    first = batches[0].records
    assert list(first.columns) == ["id", "updatedAt", "email", "title", "company", "annualRevenue",
                                   "numberOfEmployees", "createdAt"]
    assert all(isinstance(v, str) for v in first.iloc[0])

    windows = [spec["filter"]["updatedAt"] for spec in export_specs(big_sandbox)]
    assert len(windows) == 7  # 200 days in 31-day windows
    assert windows[0]["startAt"] == "2026-04-16T12:00:00Z" and windows[-1]["endAt"] == "2026-11-02T12:00:00Z"
    for earlier, later in itertools.pairwise(windows):
        assert later["startAt"] == earlier["endAt"]
    assert all(parse_time(w["endAt"]) - parse_time(w["startAt"]) <= timedelta(days=31) for w in windows)


def test_bulk_watermarks_only_move_past_complete_windows_and_end_at_the_latest_update(big_sandbox):
    with source_for(big_sandbox, bulk_chunk_rows=200) as source:
        batches = list(source.pull(FIELDS, None))

    seen_max = None
    previous = None
    for batch in batches:
        newest = max(parse_time(u) for u in batch.records["updatedAt"])
        seen_max = newest if seen_max is None else max(seen_max, newest)
        if batch.watermark is not None:
            assert batch.watermark <= seen_max  # never beyond what has been yielded
            assert previous is None or batch.watermark >= previous
            previous = batch.watermark
    assert batches[-1].watermark == seen_max
    assert batches[-1].resume is None
    chunked = [b for b in batches if b.resume and b.resume["export_id"]]
    assert chunked, "some window spans several chunks"
    # Within a window, only its last chunk moves the watermark.
    for batch in chunked:
        following = batches[batches.index(batch) + 1]
        assert following.key.split(":")[1:7] == batch.key.split(":")[1:7]


def test_a_second_pull_uses_rest_and_returns_exactly_the_leads_changed_since(big_sandbox):
    with source_for(big_sandbox) as source:
        first = list(source.pull(FIELDS, None))
        watermark = first[-1].watermark
        by_bulk = {r["id"]: r for b in first for r in b.records.to_dict("records")}

        big_sandbox.clock.advance(3600)  # the token expires on the sandbox clock as well
        changed = [7, 70, 700, 2999]
        update(big_sandbox, changed, title="Chief Partner Officer")
        created = big_sandbox.leads.sync([{"email": "new.lead@example.com", "company": "Initech"}])[0]["id"]
        second = list(source.pull(FIELDS, watermark))

    assert {b.kind for b in second} == {"rest"}
    look_back = naive_utc(watermark - timedelta(seconds=300))
    assert set(ids(second)) == db_ids(big_sandbox, "updatedAt >= ?", [look_back])
    assert set(changed) | {created} <= set(ids(second))
    records = {r["id"]: r for b in second for r in b.records.to_dict("records")}
    assert records["700"]["title"] == "Chief Partner Officer"
    assert records[str(created)]["company"] == "Initech" and records[str(created)]["email"] == "new.lead@example.com"
    # REST renders every value as Bulk Extract does.
    for column in ("email", "company", "annualRevenue", "numberOfEmployees", "createdAt"):
        assert records["700"][column] == by_bulk["700"][column]
    # The watermark is the newest update returned. The sandbox clock runs in real time, so the update and the
    # create may fall in different seconds: compare with the newest of all, not with one lead's.
    assert second[-1].watermark == max(parse_time(r["updatedAt"]) for r in records.values())
    assert second[-1].watermark >= parse_time(records["700"]["updatedAt"])


def test_leads_sharing_the_watermark_second_are_not_lost(sandbox):
    sandbox.clock.freeze(START + timedelta(hours=1))
    with source_for(sandbox, look_back_s=0) as source:
        baseline = list(source.pull(["email"], None))[-1].watermark
        update(sandbox, [11], title="VP Sales")
        first = list(source.pull(["title"], baseline))
        at_baseline = db_ids(sandbox, "updatedAt = ?", [naive_utc(baseline)])  # the lower bound is inclusive
        assert set(ids(first)) == {11} | at_baseline and first[-1].watermark == START + timedelta(hours=1)

        update(sandbox, [12], title="VP Marketing")  # the same second, after that pull
        second = list(source.pull(["title"], first[-1].watermark))

    assert sorted(ids(second)) == [11, 12]
    again = second[0].records.set_index("id").loc["11"]
    assert again["updatedAt"] == first[0].records.set_index("id").loc["11", "updatedAt"]  # a duplicate to drop


def test_rest_batches_split_inside_a_second_do_not_move_the_watermark_past_it(sandbox):
    sandbox.clock.freeze(START + timedelta(hours=1))
    with source_for(sandbox, look_back_s=0, rest_batch_size=2) as source:
        baseline = list(source.pull(["email"], None))[-1].watermark
        update(sandbox, [1, 2, 3], title="Buyer")
        sandbox.clock.advance(1)
        update(sandbox, [4], title="Buyer")
        since = baseline + timedelta(seconds=1)  # leave out the leads of the baseline second
        batches = list(source.pull(["title"], since))

    assert [sorted(b.records["id"].astype(int)) for b in batches] == [[1, 2], [3, 4]]
    assert batches[0].watermark == since  # unchanged: lead 3 changed in the same second as 1 and 2
    assert batches[1].watermark == START + timedelta(hours=1, seconds=1)
    later = [parse_time(u) for u in batches[1].records["updatedAt"]]
    assert all(u > batches[0].watermark for u in later)


def test_more_changed_leads_than_the_threshold_switch_the_pull_to_bulk(big_sandbox):
    with source_for(big_sandbox, bulk_threshold=20) as source:
        watermark = list(source.pull(FIELDS, None))[-1].watermark
        big_sandbox.clock.advance(600)
        update(big_sandbox, range(100, 130), leadsyncPartner="Northwind")
        jobs_before = len(export_specs(big_sandbox))
        batches = list(source.pull(FIELDS, watermark))

    assert {b.kind for b in batches} == {"bulk"}
    assert set(range(100, 130)) <= set(ids(batches))
    (spec,) = export_specs(big_sandbox)[jobs_before:]
    assert parse_time(spec["filter"]["updatedAt"]["startAt"]) == watermark - timedelta(seconds=300)
    assert batches[-1].watermark == max(parse_time(u) for b in batches for u in b.records["updatedAt"])


def test_an_interrupted_bulk_pull_resumes_from_its_last_batch_with_the_same_export(big_sandbox):
    with source_for(big_sandbox, bulk_chunk_rows=200) as source:
        pull = source.pull(FIELDS, None)
        stored = []
        for batch in pull:
            stored.append(batch)
            if batch.resume and batch.resume["export_id"] and len(stored) > 2:
                break  # interrupted in the middle of a window
        pull.close()
        last = stored[-1]
        jobs = len(export_specs(big_sandbox))
        rest = list(source.pull(FIELDS, last.watermark, last.resume))

    assert sorted(ids(stored) + ids(rest)) == list(range(1, LEADS + 1))  # nothing lost, nothing twice
    assert len(export_specs(big_sandbox)) - jobs == 7 - 1 - last.resume["window"]  # the interrupted one reused
    assert not {b.key for b in stored} & {b.key for b in rest}


def test_asking_for_an_unknown_field_is_a_configuration_error(sandbox):
    with source_for(sandbox) as source, pytest.raises(ApiConfigError, match="shoeSize"):
        next(source.pull(["email", "shoeSize"], None))


def test_a_subscription_without_the_updated_at_export_filter_falls_back(big_sandbox):
    big_sandbox.limits.updated_at_export_filter = False
    with source_for(big_sandbox, bulk_threshold=5) as source:
        first = list(source.pull(["email"], None))  # createdAt windows cover every lead created since
        assert sorted(ids(first)) == list(range(1, LEADS + 1))
        big_sandbox.clock.advance(600)
        update(big_sandbox, range(1, 11), title="Analyst")
        second = list(source.pull(["title"], first[-1].watermark))  # too many for REST, but bulk cannot filter

    assert {b.kind for b in second} == {"rest"} and set(range(1, 11)) <= set(ids(second))


def test_export_windows_cover_the_period_with_shared_edges():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    windows = export_windows(start, start + timedelta(days=70), 31)
    assert [(w.start - start).days for w in windows] == [0, 31, 62]
    assert windows[-1].end == start + timedelta(days=70)
    assert export_windows(start, start, 31) == [export_windows(start, start, 31)[0]]


def test_rest_watermark_stops_before_a_second_split_between_batches():
    times = ["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z", "2026-01-01T00:00:02Z", "2026-01-01T00:00:03Z"]
    assert _rest_watermark(times, 1) == parse_time(times[0])
    assert _rest_watermark(times, 2) == parse_time(times[0])  # the third change shares the second's time
    assert _rest_watermark(times, 3) == parse_time(times[2])
    assert _rest_watermark(times, 4) == parse_time(times[3])
    assert _rest_watermark(times[1:], 1) is None


def test_a_paging_token_that_does_not_advance_is_an_error_not_a_hang(sandbox):
    # The sandbox's activity paging tokens keep whole seconds while it stamps activities to the microsecond:
    # more than a page of changes within one fractional second gets the same token back for ever.
    sandbox.clock.freeze(START + timedelta(hours=1, microseconds=500_000))
    update(sandbox, range(1, 301), title="Buyer")
    update(sandbox, range(301, 351), title="Buyer")
    with source_for(sandbox) as source, pytest.raises(ApiError, match="paging did not advance"):
        list(source.pull(["title"], START + timedelta(hours=1)))


def test_a_time_window_is_read_by_bulk_extract_within_its_bounds(big_sandbox):
    source = source_for(big_sandbox, look_back_s=0)
    start, end = START - timedelta(days=90), START - timedelta(days=30)
    batches = list(source.pull(FIELDS, start, None, until=end))
    assert all(b.kind == "bulk" for b in batches)
    windows = [spec["filter"]["updatedAt"] for spec in export_specs(big_sandbox)]
    assert parse_time(windows[0]["startAt"]) == start and parse_time(windows[-1]["endAt"]) <= end
    expected = db_ids(big_sandbox, "updatedAt >= ? AND updatedAt < ?", [naive_utc(start), naive_utc(end)])
    assert expected and set(ids(batches)) == expected


def test_the_next_window_is_exported_while_one_is_read_and_given_up_when_the_pull_stops(big_sandbox, monkeypatch):
    started = LeadExports.start

    def start_while_marketo_is_busy(self, *args):
        big_sandbox.faults.exports_paused = True  # the job started ahead stays queued: the cancel finds it so
        return started(self, *args)

    monkeypatch.setattr(LeadExports, "start", start_while_marketo_is_busy)
    with source_for(big_sandbox, bulk_chunk_rows=200) as source:
        pull = source.pull(FIELDS, None)
        first = next(pull)
        specs = export_specs(big_sandbox)
        assert len(specs) == 2  # window 0, being read, and window 1, started ahead
        assert specs[1]["filter"]["updatedAt"]["startAt"] == specs[0]["filter"]["updatedAt"]["endAt"]
        pull.close()  # stopped within window 0: the job started ahead is cancelled

    statuses = [r["status"] for r in big_sandbox.db.rows("SELECT status FROM export_jobs ORDER BY createdAt")]
    assert first.kind == "bulk" and statuses == ["Completed", "Canceled"]
