"""Marketo's documented answers (marketo.json) replayed to MarketoSource over a loopback socket: each error
code lands in its class, with the number of requests it costs and the watermark it leaves."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from replay_server import answer

from leadsync.connectors.api_client import ApiConfigError, ApiQuotaExhausted, ApiTransientError
from leadsync.connectors.marketo.source import MarketoSettings, MarketoSource

NOW = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
SINCE = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TOKEN = r"^/identity/oauth/token$"
DESCRIBE = r"^/rest/v1/leads/describe\.json$"
LEADS = r"^/rest/v1/leads\.json$"
EXPORT = "ce45a7a1-f19d-4ce2-882c-a3c795940a7d"
CREATE = r"^/bulk/v1/leads/export/create\.json$"
ENQUEUE = rf"^/bulk/v1/leads/export/{EXPORT}/enqueue\.json$"
STATUS = rf"^/bulk/v1/leads/export/{EXPORT}/status\.json$"
FILE = rf"^/bulk/v1/leads/export/{EXPORT}/file\.json$"


def mk(name: str, **overrides) -> dict:
    return answer("marketo", name, **overrides)


@pytest.fixture
def instance(replay):
    replay.on("GET", TOKEN, mk("token"))
    replay.on("GET", DESCRIBE, mk("describe"))
    return replay


@pytest.fixture
def source_for(instance, fast_http, tmp_path, closing):
    return lambda **overrides: closing(MarketoSource(MarketoSettings(**{
        "base_url": instance.url, "client_id": "id", "client_secret": "secret", "http": fast_http,
        "rate_limit_wait_s": 0.01, "export_poll_s": 0.01, "export_queue_wait_s": 0.01, "first_pull_days": 1,
        "work_dir": tmp_path, **overrides}), clock=lambda: NOW))


def test_lead_reads_by_id_follow_next_page_token_and_the_watermark_covers_only_what_was_read(instance, source_for):
    instance.on("GET", r"^/rest/v1/activities/pagingtoken\.json$", mk("paging_token"))
    instance.on("GET", r"^/rest/v1/activities\.json$", mk("lead_changes"))
    instance.on("POST", LEADS, mk("leads_page_1"), mk("leads_page_2"))

    [batch] = source_for().pull(["email"], SINCE)

    assert sorted(batch.records["id"]) == ["1", "2", "3"]
    assert batch.watermark == datetime(2026, 11, 30, 12, tzinfo=UTC)
    first, second = instance.requests("POST", LEADS)
    assert first.form["filterValues"] == ["1,2,3"] and "nextPageToken" not in first.form
    assert second.form["nextPageToken"] == [mk("leads_page_1")["json"]["nextPageToken"]]


def test_more_results_without_a_token_fails_the_batch_rather_than_moving_the_watermark(instance, source_for):
    instance.on("GET", r"^/rest/v1/activities/pagingtoken\.json$", mk("paging_token"))
    instance.on("GET", r"^/rest/v1/activities\.json$", mk("lead_changes"))
    broken = mk("leads_page_1")
    broken["json"] = {k: v for k, v in broken["json"].items() if k != "nextPageToken"}
    instance.on("POST", LEADS, broken)

    with pytest.raises(ApiTransientError, match="moreResult is true but no nextPageToken"):
        list(source_for().pull(["email"], SINCE))


@pytest.mark.parametrize("code", ["access_token_invalid", "access_token_expired"])
def test_a_refused_token_is_renewed_once_and_the_call_repeated(instance, source_for, code):
    instance.on("GET", DESCRIBE, mk(code), mk("describe"))

    source_for().check()

    assert instance.count("GET", TOKEN) == 2 and instance.count("GET", DESCRIBE) == 2


@pytest.mark.parametrize("code", ["rate_limit", "system_error", "concurrent_access"])
def test_busy_codes_are_transient_and_retried(instance, source_for, code):
    instance.on("GET", DESCRIBE, mk(code), mk("describe"))

    source_for().check()

    assert instance.count("GET", DESCRIBE) == 2


def test_the_daily_quota_stops_at_once_saying_when_it_resets(instance, source_for):
    instance.on("GET", DESCRIBE, mk("daily_quota"))

    with pytest.raises(ApiQuotaExhausted, match="607.*midnight US Central") as stopped:
        source_for().check()

    assert stopped.value.resets_at == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # midnight CST
    assert instance.count("GET", DESCRIBE) == 1


def test_access_denied_is_a_configuration_error(instance, source_for):
    instance.on("GET", DESCRIBE, mk("access_denied"))

    with pytest.raises(ApiConfigError, match="603.*permissions"):
        source_for().check()
    assert instance.count("GET", DESCRIBE) == 1


def test_a_slow_host_is_transient_not_a_wrong_base_url(instance, source_for, fast_http):
    instance.on("GET", DESCRIBE, mk("describe", delay_s=0.4))

    with pytest.raises(ApiTransientError, match="ReadTimeout") as slow:
        source_for(http=replace(fast_http, timeout_s=0.15)).check()

    assert not isinstance(slow.value, ApiConfigError) and "check base_url" not in str(slow.value)
    assert instance.count("GET", DESCRIBE) == 3


def bulk(instance, *enqueue: dict) -> None:
    instance.on("POST", CREATE, mk("export_created"))
    instance.on("POST", ENQUEUE, *enqueue)
    instance.on("GET", STATUS, mk("export_queued"), mk("export_completed"))
    instance.on("GET", FILE, mk("export_file"))


def test_a_full_export_queue_waits_and_enqueues_the_same_export_again(instance, source_for):
    bulk(instance, mk("export_queue_full"), mk("export_queue_full"), mk("export_queued"))

    [batch] = source_for().pull(["email"], None)

    assert batch.records["id"].tolist() == ["1", "2"] and batch.records["email"].tolist() == ["ada@example.com", None]
    assert batch.watermark == datetime(2026, 11, 30, 11, tzinfo=UTC)
    assert instance.count("POST", CREATE) == 1 and instance.count("POST", ENQUEUE) == 3


def test_a_queue_that_stays_full_past_the_deadline_is_transient_with_one_export(instance, source_for):
    bulk(instance, mk("export_queue_full"))

    with pytest.raises(ApiTransientError, match="Too many jobs in queue.*export_timeout_s"):
        list(source_for(export_timeout_s=0.05, export_attempts=3).pull(["email"], None))

    assert instance.count("POST", CREATE) == 1


def test_the_daily_export_quota_stops_the_pull_as_quota(instance, source_for):
    bulk(instance, mk("export_daily_quota"))
    kept = []

    with pytest.raises(ApiQuotaExhausted, match="Export daily quota exceeded.*500 MB") as stopped:
        kept.extend(source_for().pull(["email"], None))

    assert stopped.value.vendor_code == "1029" and kept == []  # nothing read: the watermark stays
    assert instance.count("POST", CREATE) == 1 and instance.count("POST", ENQUEUE) == 1


def test_a_job_already_queued_is_waited_for_not_enqueued_again(instance, source_for):
    bulk(instance, mk("export_already_queued"))

    [batch] = source_for().pull(["email"], None)

    assert batch.rows == 2 and instance.count("POST", ENQUEUE) == 1 and instance.count("POST", CREATE) == 1


def test_the_daily_export_quota_on_create_stops_before_any_export_exists(instance, source_for):
    instance.on("POST", CREATE, mk("export_daily_quota"))

    with pytest.raises(ApiQuotaExhausted, match="Export daily quota exceeded"):
        list(source_for().pull(["email"], None))
    assert instance.count("POST", CREATE) == 1 and instance.count("POST", ENQUEUE) == 0
