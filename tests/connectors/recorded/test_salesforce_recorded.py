"""Salesforce's documented answers (salesforce.json) replayed to SalesforceSource over a loopback socket: each
error lands in its class, with the number of requests it costs and the watermark it leaves."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from replay_server import answer

from leadsync.connectors.api_client import ApiConfigError, ApiQuotaExhausted, ApiTransientError
from leadsync.connectors.salesforce.source import SalesforceSource
from leadsync.connectors.salesforce.source.settings import SalesforceSettings

FIELDS = ["Email"]
TOKEN = r"/services/oauth2/token$"
DESCRIBE = r"/sobjects/Lead/describe/?$"
QUERY = r"/services/data/v62\.0/query/?$"
NEXT_PAGE = r"/query/01gD0000002HU6KIAW-2000$"
JOBS = r"/services/data/v62\.0/jobs/query/?$"
JOB = r"/services/data/v62\.0/jobs/query/750R0000000zlh9IAA$"
RESULTS = r"/jobs/query/750R0000000zlh9IAA/results$"


def sf(answer_name: str, **overrides) -> dict:
    return answer("salesforce", answer_name, **overrides)


@pytest.fixture
def org(replay):
    """The replay server as an org: a token endpoint and describe of Lead."""
    replay.on("POST", TOKEN, sf("token"))
    replay.on("GET", DESCRIBE, sf("describe_lead"))
    return replay


@pytest.fixture
def source_for(org, fast_http, closing):
    return lambda **overrides: closing(SalesforceSource(SalesforceSettings(**{
        "login_url": org.url, "consumer_key": "key", "consumer_secret": "secret", "http": fast_http,
        "bulk_poll_s": 0, **overrides})))


def rest_pull(org) -> None:
    org.on("GET", QUERY, sf("count_three"), query="COUNT()")
    org.on("GET", QUERY, sf("query_page_1"), query="ORDER BY")
    org.on("GET", NEXT_PAGE, sf("query_page_2"))


def test_an_ended_session_logs_in_again_and_repeats_the_call_once(org, source_for):
    rest_pull(org)
    org.on("GET", NEXT_PAGE, sf("invalid_session"), sf("query_page_2"))

    batches = list(source_for().pull(FIELDS, None))

    assert [b.rows for b in batches] == [2, 1]
    assert batches[-1].watermark == datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert org.count("POST", TOKEN) == 2 and org.count("GET", NEXT_PAGE) == 2


def test_total_requests_limit_stops_the_pull_as_quota_though_the_last_header_showed_room(org, source_for):
    rest_pull(org)
    org.on("GET", NEXT_PAGE, sf("total_requests_exceeded"))
    kept = []

    with pytest.raises(ApiQuotaExhausted, match="TotalRequests Limit exceeded.*rolling 24-hour") as stopped:
        kept.extend(source_for().pull(FIELDS, None))

    assert stopped.value.vendor_code == "REQUEST_LIMIT_EXCEEDED"
    assert org.count("GET", NEXT_PAGE) == 1  # not retried: a retry cannot succeed today
    # the page read before is kept; its watermark stops short of its last stamp, the resume continues there
    assert [b.rows for b in kept] == [2]
    assert kept[0].watermark == datetime(2026, 11, 30, 10, tzinfo=UTC) and kept[0].resume["next"].endswith("-2000")


def test_a_concurrent_request_limit_is_transient_and_retried(org, source_for):
    rest_pull(org)
    org.on("GET", NEXT_PAGE, sf("concurrent_requests_exceeded"), sf("query_page_2"))

    batches = list(source_for().pull(FIELDS, None))

    assert [b.rows for b in batches] == [2, 1] and org.count("GET", NEXT_PAGE) == 2


@pytest.mark.parametrize("name, code", [("invalid_field", "INVALID_FIELD"), ("malformed_query", "MALFORMED_QUERY")])
def test_a_query_salesforce_refuses_is_a_configuration_error_sent_once(org, source_for, name, code):
    org.on("GET", QUERY, sf("count_three"), query="COUNT()")
    org.on("GET", QUERY, sf(name), query="ORDER BY")

    with pytest.raises(ApiConfigError) as refused:
        list(source_for().pull(FIELDS, None))

    assert refused.value.vendor_code == code and refused.value.status == 400
    assert org.count("GET", QUERY) == 2  # the count, and the query once


def test_a_login_the_token_endpoint_refuses_is_a_configuration_error_sent_once(org, source_for):
    org.on("POST", TOKEN, sf("token_invalid_grant"))

    with pytest.raises(ApiConfigError, match="invalid_grant"):
        list(source_for().pull(FIELDS, None))
    assert org.count("POST", TOKEN) == 1 and org.count("GET", QUERY) == 0  # not retried, nothing asked


def test_not_found_is_a_configuration_error_naming_the_fix(org, source_for):
    org.on("GET", DESCRIBE, sf("not_found"))

    with pytest.raises(ApiConfigError, match="check the object name and the API version"):
        source_for().check()
    assert org.count("GET", DESCRIBE) == 1


def test_server_unavailable_is_retried_then_transient(org, source_for):
    org.on("GET", DESCRIBE, sf("server_unavailable"))

    with pytest.raises(ApiTransientError, match="503"):
        source_for().check()
    assert org.count("GET", DESCRIBE) == 3  # FAST_RETRY's attempts


def bulk_pull(org, *job_states: dict) -> None:
    org.on("GET", QUERY, sf("count_many"), query="COUNT()")
    org.on("POST", JOBS, sf("bulk_job_created"))
    org.on("GET", JOB, *job_states)
    org.on("GET", RESULTS, sf("bulk_results"))
    org.on("DELETE", JOB, sf("bulk_job_deleted"))


def test_a_bulk_job_failed_on_a_field_is_a_configuration_error_naming_it_and_one_job(org, source_for):
    bulk_pull(org, sf("bulk_job_in_progress"), sf("bulk_job_failed_invalid_field"))

    with pytest.raises(ApiConfigError) as refused:
        list(source_for(bulk_threshold=10).pull(FIELDS, None))

    message = str(refused.value)
    assert refused.value.vendor_code == "INVALID_FIELD"
    assert "the field 'Emial' does not exist on Lead" in message and "fix 'column' in the source's mapping" in message
    assert org.count("POST", JOBS) == 1 and org.count("GET", RESULTS) == 0


def test_a_bulk_job_poll_that_fails_is_retried_without_a_new_job(org, source_for):
    bulk_pull(org, sf("server_unavailable"), sf("bulk_job_in_progress"), sf("bulk_job_complete"))

    [batch] = source_for(bulk_threshold=10).pull(FIELDS, None)

    assert batch.rows == 2 and batch.watermark == datetime(2026, 11, 30, 11, tzinfo=UTC)
    assert org.count("POST", JOBS) == 1 and org.count("GET", JOB) == 3 and org.count("DELETE", JOB) == 1


def test_a_bulk_job_salesforce_failed_itself_gets_one_new_job_then_is_transient(org, source_for):
    bulk_pull(org, sf("bulk_job_failed_internal"))

    with pytest.raises(ApiTransientError, match="InternalServerError"):
        list(source_for(bulk_threshold=10).pull(FIELDS, None))

    assert org.count("POST", JOBS) == 2  # bulk_job_attempts, not six


def test_a_bulk_job_refused_for_the_days_quota_stops_the_pull_as_quota_with_one_request(org, source_for):
    bulk_pull(org)
    org.on("POST", JOBS, sf("bulk_job_exceeded_quota"))

    with pytest.raises(ApiQuotaExhausted, match="24-hour") as stopped:
        list(source_for(bulk_threshold=10).pull(FIELDS, None))

    assert stopped.value.vendor_code == "ExceededQuota"
    assert org.count("POST", JOBS) == 1 and org.count("GET", JOB) == 0  # not retried: it cannot succeed today


def test_a_spent_per_app_quota_stops_the_next_call_before_it_is_sent(org, source_for):
    org.on("GET", DESCRIBE, sf("per_app_usage_spent"))
    source = source_for(daily_api_budget=100_000)
    source.check()  # Sforce-Limit-Info: api-usage=25/5000; per-app-api-usage=250/250

    with pytest.raises(ApiQuotaExhausted, match="daily API budget"):
        list(source.pull(FIELDS, None))
    assert org.count("GET", QUERY) == 0


def test_a_refused_record_in_a_collection_is_a_result_and_the_write_is_sent_once(org, source_for):
    upsert = r"/composite/sobjects/Lead/Id$"
    org.on("PATCH", r"/composite/sobjects$", sf("collections_upsert_partial"))
    org.on("PATCH", upsert, sf("collections_upsert_partial"))
    updates = pd.DataFrame({"key": ["k1", "k2"], "record_id": ["00QD000000Ybq1aMAB", "00QD000000Ybq1bMAB"],
                            "Email": ["ada@example.com", "bob@example.com"]})

    results = source_for().write_records(updates)

    assert results["ok"].tolist() == [True, False]
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in results["error"].iloc[1]
    assert org.count("PATCH", r"/composite/sobjects") == 1


def test_a_bulk_write_whose_poll_fails_is_uploaded_once_in_one_job(org, source_for):
    ingest = r"/services/data/v62\.0/jobs/ingest"
    job = rf"{ingest}/7505fEXAMPLE4C2AAM$"
    org.on("POST", rf"{ingest}/?$", sf("ingest_job_created"))
    org.on("PUT", rf"{ingest}/7505fEXAMPLE4C2AAM/batches/?$", sf("ingest_uploaded"))
    org.on("PATCH", job, sf("ingest_closed"))
    org.on("GET", job, sf("server_unavailable"), sf("ingest_in_progress"), sf("ingest_complete"))
    org.on("GET", r"/successfulResults/?$", sf("ingest_successful_results"))
    org.on("GET", r"/failedResults/?$", sf("ingest_failed_results"))
    updates = pd.DataFrame({"key": ["k1", "k2"], "record_id": ["00QD000000Ybq1aMAB", "00QD000000Ybq1bMAB"],
                            "Email": ["ada@example.com", "bob@"]})

    results = source_for(write_bulk_threshold=1).write_records(updates)

    assert results["ok"].tolist() == [True, False]
    assert results["error"].iloc[1] == "INVALID_EMAIL_ADDRESS: Email: invalid email address: bob@ [Email]"
    assert org.count("POST", rf"{ingest}/?$") == 1 and org.count("PUT", r"/batches/?$") == 1
    assert org.count("PATCH", job) == 1 and org.count("GET", job) == 3


def test_a_session_that_ends_while_a_bulk_job_runs_logs_in_again_and_keeps_the_job(org, source_for):
    bulk_pull(org, sf("bulk_job_in_progress"), sf("invalid_session"), sf("bulk_job_complete"))

    [batch] = source_for(bulk_threshold=10).pull(FIELDS, None)

    assert batch.rows == 2 and org.count("POST", JOBS) == 1 and org.count("POST", TOKEN) == 2
