"""MarketoSource meets Marketo's rules: credentials checked with a fix in the message, the envelope's error
codes (606 rate limit, 615 concurrency, 601/602 tokens, 607 daily quota, 1029 export quota), HTTP 5xx."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from leadsync.connectors.api_client import ApiConfigError, ApiQuotaExhausted, HttpSettings, RetryPolicy
from leadsync.connectors.loopback_ports import free_port
from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.marketo.sandbox.clock import CENTRAL, SandboxClock
from leadsync.connectors.marketo.source import MarketoSettings, MarketoSource
from leadsync.connectors.marketo.source.errors import quota_reset
from leadsync.connectors.marketo.source.settings import sandbox_settings

START = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def source_for(sandbox, **overrides) -> MarketoSource:
    return MarketoSource(sandbox_settings(sandbox, first_pull_days=200, **overrides), clock=sandbox.clock.now)


def ids(batches) -> list[int]:
    return [int(i) for batch in batches for i in batch.records["id"]]


def changed_since_start(sandbox, lead_ids, per_second: int = 300) -> datetime:
    """Update `lead_ids` from an hour after START, `per_second` leads a second; returns a `since` that selects
    exactly them. (The clock stands on whole seconds meanwhile: the sandbox's activity paging tokens keep
    whole seconds only, so more than a page of activities within one fractional second would page for ever.)"""
    since = START + timedelta(hours=1)
    sandbox.clock.freeze(since)
    for first in range(0, len(lead_ids), per_second):
        sandbox.leads.sync([{"id": i, "title": "Changed"} for i in lead_ids[first:first + per_second]],
                           "updateOnly", "id")
        sandbox.clock.advance(1)
    sandbox.clock.unfreeze()
    return since


@pytest.fixture
def thousand():
    with MarketoSandbox(seed_leads=1000, clock=SandboxClock(start=START)) as server:
        yield server


def test_check_passes_with_good_credentials(sandbox):
    with source_for(sandbox) as source:
        source.check()
        assert source.calls == 1 and sandbox.tokens.issued == 1


def test_check_names_the_url_and_the_fix_for_bad_credentials(sandbox):
    settings = MarketoSettings(sandbox.url, sandbox.client_id, "wrong-secret")
    with MarketoSource(settings) as source, pytest.raises(ApiConfigError) as refused:
        source.check()
    message = str(refused.value)
    assert sandbox.url in message and "client_id and client_secret" in message and "LaunchPoint" in message
    assert "wrong-secret" not in message and "wrong-secret" not in repr(settings)


def test_check_reports_an_unreachable_instance_as_a_configuration_error():
    port = free_port()
    quick = HttpSettings(timeout_s=5, retry=RetryPolicy(attempts=2, initial_s=0.01, max_s=0.05))
    settings = MarketoSettings(f"http://127.0.0.1:{port}", "id", "secret", http=quick)
    with MarketoSource(settings) as source, pytest.raises(ApiConfigError, match="unreachable.*check base_url"):
        source.check()


def test_a_606_waits_for_the_rate_window_then_succeeds(sandbox):
    sandbox.faults.force_error("606", times=3)
    with source_for(sandbox, rate_limit_wait_s=0.2) as source:
        started = time.monotonic()
        fields = source.available_fields()
    assert "leadsyncPartner" in fields and sandbox.api.errors_answered["606"] == 3
    assert time.monotonic() - started >= 0.6


def test_server_errors_and_transient_codes_are_retried(sandbox):
    sandbox.http_faults.fail_next(2, status=503)
    sandbox.faults.force_error("713")
    sandbox.faults.force_error("604")
    with source_for(sandbox) as source:
        assert source.available_fields()["email"] == "email"


def test_concurrent_rest_fetches_back_off_on_615_and_complete(thousand):
    thousand.limits.max_concurrent = 2  # the instance's other integrations hold the rest of the slots
    thousand.faults.call_duration_s = 0.05
    since = changed_since_start(thousand, list(range(1, 601)))
    patient = HttpSettings(retry=RetryPolicy(attempts=20, initial_s=0.02, max_s=0.2))
    with source_for(thousand, rest_batch_size=50, max_concurrent=6, http=patient) as source:
        batches = list(source.pull(["title"], since))
    assert sorted(ids(batches)) == list(range(1, 601))
    assert thousand.api.errors_answered["615"] > 0


def test_max_concurrent_keeps_calls_within_the_instance_limit(thousand):
    thousand.limits.max_concurrent = 2
    thousand.faults.call_duration_s = 0.05
    since = changed_since_start(thousand, list(range(1, 601)))
    with source_for(thousand, rest_batch_size=50, max_concurrent=2) as source:
        batches = list(source.pull(["title"], since))
    assert sorted(ids(batches)) == list(range(1, 601))
    assert thousand.api.errors_answered["615"] == 0 and thousand.meter.peak_in_flight == 2


def test_a_token_expiring_mid_bulk_pull_is_refreshed_and_the_call_repeated(thousand):
    with source_for(thousand, bulk_chunk_rows=100) as source:
        pull = source.pull(["email"], None)
        batches = [next(pull)]
        thousand.faults.expire_tokens()
        batches += list(pull)
    assert sorted(ids(batches)) == list(range(1, 1001))
    assert thousand.api.errors_answered["602"] == 1 and thousand.tokens.issued == 2


def test_a_token_outlived_by_the_clock_mid_rest_pull_is_refreshed(thousand):
    since = changed_since_start(thousand, list(range(1, 301)))
    with source_for(thousand, rest_batch_size=100, max_concurrent=1) as source:
        pull = source.pull(["title"], since)
        batches = [next(pull)]
        thousand.clock.advance(2 * 3600)
        batches += list(pull)
    assert sorted(ids(batches)) == list(range(1, 301)) and thousand.api.errors_answered["602"] >= 1


def test_daily_quota_stops_the_pull_between_batches_with_the_reset_time(thousand):
    since = changed_since_start(thousand, list(range(1, 1001)), per_second=100)
    with source_for(thousand, rest_batch_size=100, max_concurrent=2) as source:
        pull = source.pull(["title"], since)
        kept = [next(pull)]
        thousand.faults.set_remaining_daily_quota(0)
        with pytest.raises(ApiQuotaExhausted) as stopped:
            kept.extend(pull)  # keeps what came before the exception

    reset = quota_reset(thousand.clock.now())
    assert reset.astimezone(CENTRAL).hour == 0 and reset > thousand.clock.now()
    message = str(stopped.value)
    assert stopped.value.vendor_code == "607" and "midnight US Central" in message
    assert f"{reset:%Y-%m-%d %H:%M}" in message and "UTC" in message
    # Whatever was yielded is whole, and the watermark covers it and nothing more.
    assert 1 <= len(kept) < 10 and sorted(ids(kept)) == list(range(1, 100 * len(kept) + 1))
    assert [b.watermark for b in kept] == [since + timedelta(seconds=n) for n in range(len(kept))]


def test_export_quota_stops_a_first_pull_which_resumes_after_midnight(thousand):
    thousand.faults.set_remaining_export_quota_mb(0.03)  # about two windows' files
    with source_for(thousand) as source:
        pull = source.pull(["email"], None)
        kept = []
        with pytest.raises(ApiQuotaExhausted, match="1029.*midnight US Central"):
            kept.extend(pull)  # keeps what came before the exception
        assert kept and kept[-1].resume is not None

        now = thousand.clock.now().astimezone(CENTRAL)
        thousand.clock.set(datetime(now.year, now.month, now.day, tzinfo=CENTRAL) + timedelta(days=1, minutes=1))
        rest = list(source.pull(["email"], kept[-1].watermark, kept[-1].resume))
    assert sorted(ids(kept) + ids(rest)) == list(range(1, 1001))


def test_tls_trusts_the_configured_ca_and_names_the_fix_otherwise():
    with MarketoSandbox(seed_leads=5, tls=True) as sandbox:
        with MarketoSource(sandbox_settings(sandbox), clock=sandbox.clock.now) as source:
            source.check()
        untrusted = sandbox_settings(sandbox, http=HttpSettings(timeout_s=5))  # the system trust store only
        with MarketoSource(untrusted) as source, pytest.raises(ApiConfigError, match="TLS.*CA bundle"):
            source.check()
