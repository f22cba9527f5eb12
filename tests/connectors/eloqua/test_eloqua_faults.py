"""Fault switches: throttling (429), server errors and dropped connections from the shared base."""

import time

import pytest
import requests


def test_throttle_switch_answers_429_for_the_next_calls(eloqua, conn):
    eloqua.throttle_next(2)
    url = f"{conn.rest()}/data/contact/1"
    answers = [conn.session.get(url) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].text == "Too Many Requests" and "Retry-After" not in answers[0].headers
    assert eloqua.state.faults.throttled == 2
    eloqua.state.faults.retry_after_s = 2
    eloqua.throttle_next()
    assert conn.session.get(url).headers["Retry-After"] == "2"


def test_discovery_is_not_throttled(eloqua, conn):
    eloqua.throttle_next(1)
    assert conn.session.get(f"{eloqua.url}/id").status_code == 200
    assert conn.session.get(f"{conn.bulk}/syncs").status_code == 429


def test_leaky_bucket_throttles_bursts_and_recovers(eloqua, conn):
    # drains one call a second: the burst of ten would have to take five seconds to escape the throttle (a
    # faster drain made the test depend on how quickly a busy machine sends the burst)
    eloqua.rate_limit(capacity=5, per_second=1)
    url = f"{conn.bulk}/contacts/fields"
    burst = [conn.session.get(url, params={"limit": 1}).status_code for _ in range(10)]
    assert burst[:5] == [200] * 5 and 429 in burst[5:]
    time.sleep(1.5)  # the bucket drains a call's room
    assert conn.session.get(url, params={"limit": 1}).status_code == 200
    eloqua.rate_limit(None)


def test_server_errors_and_slowness_from_the_base_switches(eloqua, conn):
    eloqua.faults.fail_next(1, status=503, path_prefix="/API/Bulk")
    assert conn.session.get(f"{conn.rest()}/data/contact/1").status_code == 200  # other paths unaffected
    assert conn.session.get(f"{conn.bulk}/syncs").status_code == 503
    assert conn.session.get(f"{conn.bulk}/syncs").status_code == 200


def test_a_dropped_connection_mid_data(eloqua, bulk, field):
    uri = bulk.export({"Email": field("C_EmailAddress")})
    eloqua.faults.drop_next(1)
    with pytest.raises(requests.exceptions.RequestException):
        bulk.data(uri, limit=100).json()
    assert bulk.data(uri, limit=100).json()["count"] == 100  # the retry reads the same page
