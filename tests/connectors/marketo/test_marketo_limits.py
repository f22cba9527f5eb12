"""Marketo's limits and token rules as a client meets them: 601/602 with HTTP 200 and the client's
refresh, identity answers, 606 in a sliding window, 615 for the eleventh concurrent call, 607 until
midnight Central Time, and the forced-error switch."""

import threading
import time
from datetime import datetime, timedelta

import pytest
import requests
from marketorestpython.client import MarketoClient

from leadsync.connectors.marketo.sandbox.clock import CENTRAL


def identity(sandbox, secret=None):
    return requests.get(sandbox.identity_url, params={
        "grant_type": "client_credentials", "client_id": sandbox.client_id,
        "client_secret": secret or sandbox.client_secret})


def test_unknown_and_expired_tokens_are_601_and_602_with_http_200(wire, sandbox):
    bogus = wire.raw("GET", "/rest/v1/lead/1.json", headers={"Authorization": "Bearer not-a-token"})
    assert bogus.status_code == 200
    body = bogus.json()
    assert body["success"] is False and body["errors"] == [{"code": "601", "message": "Access token invalid"}]
    assert body["requestId"].count("#") == 1

    as_query = requests.get(f"{sandbox.url}/rest/v1/lead/1.json", params={"access_token": wire.token})
    assert as_query.json()["success"]  # the deprecated query parameter still works
    sandbox.faults.expire_tokens()
    expired = wire.raw("GET", "/rest/v1/lead/1.json").json()
    assert expired["errors"] == [{"code": "602", "message": "Access token expired"}]


def test_identity_returns_the_same_token_counting_down_then_a_new_one(sandbox):
    sandbox.clock.freeze()
    first = identity(sandbox).json()
    assert first["token_type"] == "bearer" and first["expires_in"] == 3600 and first["scope"]
    sandbox.clock.advance(100)
    second = identity(sandbox).json()
    assert second["access_token"] == first["access_token"] and second["expires_in"] == 3500
    sandbox.clock.advance(3500)
    assert identity(sandbox).json()["access_token"] != first["access_token"]

    refused = identity(sandbox, secret="wrong")
    assert refused.status_code == 401
    assert refused.json() == {"error": "invalid_client", "error_description": "Bad client credentials"}
    with pytest.raises(Exception, match="Bad client credentials"):
        sandbox.client(client_secret="wrong").execute("get_lead_by_id", id=1)


def test_a_client_holding_a_bad_token_gets_601(sandbox):
    client = MarketoClient(sandbox.munchkin_id, access_token="not-a-token", max_retry_time=1)
    client.host = sandbox.url
    with pytest.raises(Exception) as refused:
        client.execute("get_lead_by_id", id=1)
    assert refused.value.args[0] == {"message": "Access token invalid", "code": "601"}


def test_the_client_reauthenticates_after_602_once_its_token_nears_expiry(sandbox):
    sandbox.limits.token_ttl_s = 61  # marketorestpython refreshes only within 60 s of the advertised expiry
    client = sandbox.client(max_retry_time=2)
    client.execute("get_lead_by_id", id=1)
    sandbox.clock.advance(62)  # the server's clock passes the expiry while the client thinks 61 s remain
    time.sleep(0.3)
    sandbox.http_faults.latency_s = 0.8  # by the time the 602 arrives, the client is inside its 60 s
    (lead,) = client.execute("get_lead_by_id", id=2)  # 602, re-authenticate, retry
    assert lead["id"] == 2 and sandbox.tokens.issued == 2 and sandbox.api.errors_answered["602"] == 1


def test_a_token_dead_long_before_the_client_expects_makes_it_give_up(sandbox, client):
    client.execute("get_lead_by_id", id=1)
    sandbox.faults.expire_tokens()
    # marketorestpython re-authenticates only near its own expiry: ten 602s, then it returns None.
    assert client.execute("describe") is None and sandbox.api.errors_answered["602"] == 10


def test_rate_limit_is_a_sliding_window_and_refused_calls_do_not_count(wire, sandbox):
    sandbox.clock.freeze()
    sandbox.limits.rate_limit_calls = 5
    for _ in range(3):
        assert wire.get("/rest/v1/lead/1.json")["success"]
    sandbox.clock.advance(10)
    for _ in range(2):
        assert wire.get("/rest/v1/lead/1.json")["success"]
    for _ in range(3):
        refused = wire.get("/rest/v1/lead/1.json")
        assert refused["errors"] == [{"code": "606", "message": "Max rate limit '5' exceeded with in '20' secs"}]
    sandbox.clock.advance(10.5)  # the first three calls leave the window; the refused ones never counted
    assert [wire.get("/rest/v1/lead/1.json")["success"] for _ in range(4)] == [True, True, True, False]


def test_the_client_backs_off_on_606_and_615_then_succeeds(sandbox, client):
    sandbox.faults.force_error("606")
    sandbox.faults.force_error("615")
    (lead,) = client.execute("get_lead_by_id", id=4)
    assert lead["id"] == 4 and sandbox.faults.take_forced("/rest") is None


def test_the_eleventh_concurrent_call_gets_615(sandbox, wire):
    sandbox.faults.call_duration_s = 1.0
    start = threading.Barrier(12)
    answers = []

    def call():
        session = requests.Session()
        start.wait()
        answers.append(session.get(f"{sandbox.url}/rest/v1/lead/1.json",
                                   headers={"Authorization": f"Bearer {wire.token}"}).json())

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(a["errors"][0]["code"] if not a["success"] else "ok" for a in answers)
    assert codes == ["615", "615"] + ["ok"] * 10
    assert sandbox.meter.peak_in_flight == 10
    assert {"code": "615", "message": "Concurrent access limit '10' reached"} in [
        e for a in answers for e in a.get("errors", [])]


def test_daily_quota_runs_out_with_607_until_midnight_central(wire, sandbox, client):
    sandbox.faults.set_remaining_daily_quota(2)
    assert wire.get("/rest/v1/lead/1.json")["success"] and wire.get("/rest/v1/lead/2.json")["success"]
    assert wire.get("/rest/v1/lead/3.json")["errors"] == [{"code": "607", "message": "Daily quota reached"}]
    started = time.monotonic()
    with pytest.raises(Exception) as refused:
        client.execute("get_lead_by_id", id=1)
    assert refused.value.args[0]["code"] == "607" and time.monotonic() - started < 1.5  # not retried

    now = sandbox.clock.now().astimezone(CENTRAL)
    sandbox.clock.set(datetime(now.year, now.month, now.day, tzinfo=CENTRAL) + timedelta(days=1, seconds=5))
    wire.token = wire.new_token()
    assert wire.get("/rest/v1/lead/3.json")["success"]
    assert wire.get("/rest/v1/stats/usage.json")["result"][0]["total"] == 2  # this call and the one before


def test_forced_errors_fail_whole_calls_without_counting(wire, sandbox):
    sandbox.faults.force_error("611", times=2, path_prefix="/rest/v1/leads")
    assert wire.get("/rest/v1/lead/1.json")["success"]  # another path: unaffected
    for _ in range(2):
        assert wire.post("/rest/v1/leads.json", {"input": [{"email": "a@b.example"}]})["errors"] == [
            {"code": "611", "message": "System error"}]
    assert wire.post("/rest/v1/leads.json", {"input": [{"email": "a@b.example"}]})["result"][0]["status"] == "created"
    assert sandbox.meter.calls_today() == 2
