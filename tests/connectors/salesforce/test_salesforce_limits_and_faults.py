"""The API budget and the fault switches: what a client sees when Salesforce refuses, fails or slows."""

from __future__ import annotations

import time

import pytest
import requests
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceRefusedRequest


def test_every_call_reports_api_usage(sf):
    sf.query("SELECT Id FROM Lead")
    first = sf.api_usage["api-usage"]
    sf.query("SELECT Id FROM Lead")

    assert sf.api_usage["api-usage"].used == first.used + 1
    assert first.total == 100_000


def test_an_exhausted_allocation_answers_403_request_limit_exceeded(org, sf):
    org.faults.exhaust_api_limit()

    with pytest.raises(SalesforceRefusedRequest) as failure:
        sf.query("SELECT Id FROM Lead")

    assert failure.value.status == 403
    assert failure.value.content == [{"message": "TotalRequests Limit exceeded.",
                                      "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_the_refusal_carries_sforce_limit_info(org):
    org.faults.reset_api_limit(used=0, daily_limit=2)
    headers = {"Authorization": f"Bearer {org.issue_token()}"}
    session = org.session()
    url = f"{org.url}/services/data/v59.0/limits"

    answers = [session.get(url, headers=headers) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 403]
    assert [a.headers["Sforce-Limit-Info"] for a in answers] == ["api-usage=1/2", "api-usage=2/2",
                                                                 "api-usage=2/2"]


def test_limit_exceeded_next_refuses_only_the_next_calls(org, sf):
    org.faults.limit_exceeded_next(2)

    for _ in range(2):
        with pytest.raises(SalesforceRefusedRequest):
            sf.query("SELECT Id FROM Lead")
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0


def test_server_errors_have_salesforces_body(org, sf):
    org.faults.server_error_next(1, status=503)

    with pytest.raises(SalesforceGeneralError) as failure:
        sf.query("SELECT Id FROM Lead")

    assert failure.value.status == 503
    assert failure.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.query("SELECT Id FROM Lead")["done"] is True


def test_server_errors_can_target_bulk_calls_only(org, sf):
    org.faults.server_error_next(1, status=500, path_prefix="/services/data/v59.0/jobs/")

    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 0
    with pytest.raises(SalesforceGeneralError):
        list(sf.bulk2.Lead.query("SELECT Id FROM Lead", wait=0))


def test_slow_responses(org, sf):
    org.faults.latency_s = 0.3
    started = time.perf_counter()
    sf.query("SELECT Id FROM Lead")

    assert time.perf_counter() - started >= 0.3


def test_a_dropped_connection(org, sf):
    org.faults.drop_next(1)

    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # the body stops mid-way
        sf.query("SELECT Id FROM Lead")
    assert sf.query("SELECT Id FROM Lead")["done"] is True


def test_clear_turns_every_switch_off(org, sf, make_leads):
    [lead] = make_leads(1)
    org.faults.exhaust_api_limit()
    org.faults.reject_records(ids=[lead])
    org.faults.latency_s = 1

    org.faults.clear()

    assert sf.Lead.update(lead, {"Title": "CIO"}) == 204
