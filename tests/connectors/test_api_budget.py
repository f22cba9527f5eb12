"""The shared API budget (connectors/api_budget/) against a real Redis, real worker processes and real
HTTP: the Marketo sandbox enforces Marketo's own limits (606 past the window, 615 past the in-flight limit)
and counts what it served, so "zero 606/615 and every call served" is the vendor's verdict, not ours.

Each test uses its own key prefix in Redis (LEADSYNC_BUDGET_PREFIX) and deletes its keys afterwards.
Workers are `python -c WORKER` subprocesses: separate interpreters, as Celery workers are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from leadsync.connectors.api_budget import (
    ApiBudget,
    BudgetLimits,
    LocalStore,
    MidnightIn,
    RedisStore,
    Rolling24h,
    budget_key,
)
from leadsync.connectors.api_client import ApiQuotaExhausted, ApiTransientError, HttpSettings, RetryPolicy
from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.marketo.source.client import MarketoClient
from leadsync.connectors.marketo.source.settings import MarketoSettings

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[2]
CENTRAL = ZoneInfo("America/Chicago")

# One worker process. argv[1]: JSON {mode, url, client_id, client_secret, threads, calls, limits...}.
# Prints "ready", waits for "go" on stdin (so every worker starts at once, after its imports), then
# prints one JSON line with what happened.
WORKER = r"""
import json, sys, threading, time
from leadsync.connectors.api_budget import ApiBudget, BudgetLimits
from leadsync.connectors.api_client import ApiError, ApiQuotaExhausted, HttpSettings, RetryPolicy
from leadsync.connectors.marketo.source.client import MarketoClient
from leadsync.connectors.marketo.source.settings import MarketoSettings

args = json.loads(sys.argv[1])
if args["mode"] == "hold":
    budget = ApiBudget(args["key"], BudgetLimits(max_concurrent=1, lease_ttl_s=args["ttl"]))
    budget.acquire(count_daily=False)
    print(json.dumps({"held_at": time.time()}), flush=True)
    time.sleep(600)  # killed long before
    sys.exit(0)

# One attempt per call: a 606/615 must surface here, not be retried away.
settings = MarketoSettings(args["url"], args["client_id"], args["client_secret"],
                           http=HttpSettings(timeout_s=5, retry=RetryPolicy(attempts=1)),
                           calls_per_20s=args["calls_per_window"], window_s=args["window_s"],
                           max_concurrent=args["max_concurrent"], daily_quota=args.get("daily_quota"))
client = MarketoClient(settings)
print("ready", flush=True)
sys.stdin.readline()
served, failures, refusals = [], [], []
lock = threading.Lock()

def work():
    for _ in range(args["calls"]):
        try:
            client.get("/rest/v1/stats/usage.json")
            with lock:
                served.append(time.time())
        except ApiQuotaExhausted as exc:
            with lock:
                refusals.append(str(exc))
            return
        except ApiError as exc:
            with lock:
                failures.append(f"{exc.vendor_code}: {exc}")

threads = [threading.Thread(target=work) for _ in range(args["threads"])]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"served": len(served), "failures": failures, "refusals": refusals,
                  "store": type(client.budget.store).__name__}), flush=True)
"""


@pytest.fixture
def redis_url():
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL} ({type(exc).__name__}: {exc}); the shared budget needs one")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url, monkeypatch):
    """A key prefix of this test's own, exported to workers and to default_store(); keys deleted after."""
    import redis

    name = f"leadsync-test:{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("LEADSYNC_REDIS_URL", redis_url)
    monkeypatch.setenv("LEADSYNC_BUDGET_PREFIX", name)
    yield name
    client = redis.Redis.from_url(redis_url)
    leftovers = list(client.scan_iter(match=f"{name}:*"))
    if leftovers:
        client.delete(*leftovers)


@pytest.fixture
def marketo():
    with MarketoSandbox() as sandbox:
        yield sandbox


def start_workers(count: int, args: dict, shared: bool = True) -> list[subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not shared:  # each worker keeps its own in-process budget: what leadsync did before
        env.pop("LEADSYNC_REDIS_URL", None)
    return [subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(args)], cwd=ROOT, env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(count)]


def ready(workers: list[subprocess.Popen]) -> list[subprocess.Popen]:
    for proc in workers:
        line = proc.stdout.readline()
        assert line.strip() == "ready", f"worker did not start: {line!r} {proc.stderr.read()}"
    return workers


def release(workers: list[subprocess.Popen]) -> tuple[list[dict], float]:
    """Let ready workers go together; their reports and the seconds they took."""
    try:
        started = time.monotonic()
        for proc in workers:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = []
        for proc in workers:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports, time.monotonic() - started
    finally:
        stop(workers)


def stop(workers: list[subprocess.Popen]) -> None:
    for proc in workers:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def marketo_args(sandbox: MarketoSandbox, **extra) -> dict:
    return {"mode": "calls", "url": sandbox.url, "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret, **extra}


# ------------------------------------------------------------------------------------------ across processes

N, W, K = 20, 1.0, 3  # 20 calls per second, 3 in flight: small, so the test is quick and the limits bite


def limited(sandbox: MarketoSandbox) -> None:
    """The sandbox's own Marketo limits set to the budget's, each call taking 50 ms (so calls overlap)."""
    sandbox.limits.rate_limit_calls, sandbox.limits.rate_limit_window_s, sandbox.limits.max_concurrent = N, W, K
    sandbox.faults.call_duration_s = 0.05


def test_processes_sharing_one_budget_stay_within_marketos_window_and_in_flight_limits(prefix):
    with MarketoSandbox() as shared, MarketoSandbox() as separate:
        limited(shared)
        limited(separate)
        # 3 processes × 3 threads × 5 calls = 45 calls: more than two windows' worth, 9 threads wanting 3
        # slots. The same load runs twice: through one shared budget (Redis), and, as the control that shows
        # this test can fail, with each process limiting only itself (what leadsync did before). Both groups
        # start at once (interpreter start-up is most of the time), then run one after the other.
        args = {"threads": 3, "calls": 5, "calls_per_window": N, "window_s": W, "max_concurrent": K}
        one_budget = start_workers(3, marketo_args(shared, **args))
        own_budgets = start_workers(3, marketo_args(separate, **args), shared=False)
        try:
            ready(one_budget + own_budgets)
            reports, took = release(one_budget)
            control, _ = release(own_budgets)
        finally:
            stop(one_budget + own_budgets)

        assert {r["store"] for r in reports} == {"RedisStore"}
        assert [r["failures"] for r in reports] == [[]] * 3
        assert sum(r["served"] for r in reports) == 45 == shared.meter.calls_today()
        # Marketo's verdict: never more than N calls in a window (606) nor more than K in flight (615) ...
        assert shared.api.errors_answered["606"] == 0 and shared.api.errors_answered["615"] == 0
        # ... while the in-flight limit was used to the full, and the window made the run wait: 45 calls
        # (and 3 token calls) at 20 per second cannot finish before the third window opens.
        assert shared.meter.peak_in_flight == K
        assert 2 * W <= took < 15

        # The control: three processes with a budget each spend Marketo's limits three times over.
        assert {r["store"] for r in control} == {"LocalStore"}
        failures = [f for r in control for f in r["failures"]]
        assert failures and all(f.startswith(("606", "615")) for f in failures)
        assert separate.api.errors_answered["606"] + separate.api.errors_answered["615"] == len(failures)


def test_a_worker_killed_holding_a_lease_frees_it_after_the_ttl(prefix):
    ttl = 1.5
    key = budget_key("marketo", "killed.mktorest.com")
    (holder,) = start_workers(1, {"mode": "hold", "key": key, "ttl": ttl})
    try:
        line = holder.stdout.readline()
        assert line.startswith("{"), holder.stderr.read()
        held_at = json.loads(line)["held_at"]
        budget = ApiBudget(key, BudgetLimits(max_concurrent=1, lease_ttl_s=ttl))
        assert budget.in_flight() == 1
        holder.kill()  # SIGKILL: no finally, no release
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert holder.returncode == -9
    # Wait in a thread: were the dead worker's lease never to expire, this would wait for ever.
    got: dict[str, float] = {}

    def take() -> None:
        with budget.call():
            got["at"], got["in_flight"] = time.time(), budget.in_flight()

    blocked_from = time.monotonic()
    taker = threading.Thread(target=take, daemon=True)
    taker.start()
    taker.join(timeout=ttl + 3)
    assert "at" in got, "the dead worker's slot never came free"
    waited = time.monotonic() - blocked_from
    assert waited >= 0.5, "the dead worker's slot was free at once: the lease did not hold it"
    assert ttl - 0.05 <= got["at"] - held_at <= ttl + 0.5 and got["in_flight"] == 1
    assert budget.in_flight() == 0


def test_the_daily_cap_refuses_in_every_process_with_the_reset_time(prefix, marketo):
    cap = 25
    # Every thread calls until refused (1000 is only a safety bound).
    args = marketo_args(marketo, threads=2, calls=1000, calls_per_window=100, window_s=20, max_concurrent=10,
                        daily_quota=cap)
    reports, _ = release(ready(start_workers(3, args)))
    now = datetime.now(UTC)

    # Exactly the cap was spent across the three processes, and Marketo served exactly that many.
    assert sum(r["served"] for r in reports) == cap == marketo.meter.calls_today()
    assert [r["failures"] for r in reports] == [[]] * 3
    refusals = [m for r in reports for m in r["refusals"]]
    assert all(r["refusals"] for r in reports) and len(refusals) == 6  # every thread of every process
    local = now.astimezone(CENTRAL)
    reset = datetime(local.year, local.month, local.day, tzinfo=CENTRAL) + timedelta(days=1)
    for message in refusals:
        assert f"Marketo daily API budget of marketo:{marketo.url.split('://')[1]} is spent" in message
        assert f"{cap} calls counted on {local:%Y-%m-%d} (US Central day) against a cap of {cap}" in message
        assert f"resets at midnight US Central time, {reset:%Y-%m-%d %H:%M}" in message and "UTC" in message
    # A later worker (here: this process) is refused before sending anything.
    settings = MarketoSettings(marketo.url, marketo.client_id, marketo.client_secret, daily_quota=cap)
    with pytest.raises(ApiQuotaExhausted) as refused:
        MarketoClient(settings).get("/rest/v1/stats/usage.json")
    assert refused.value.resets_at == reset and marketo.meter.calls_today() == cap


# ------------------------------------------------------------------------------------------ Salesforce


def test_salesforce_usage_header_raises_the_shared_count_and_the_cap_stops_calls(prefix):
    from leadsync.connectors.salesforce.sandbox import SalesforceSandbox
    from leadsync.connectors.salesforce.source import SalesforceSource
    from leadsync.connectors.salesforce.source.settings import sandbox_settings

    with SalesforceSandbox() as org:
        org.faults.reset_api_limit(used=5000, daily_limit=20_000)  # other integrations spent 5,000 today
        with SalesforceSource(sandbox_settings(org, daily_api_budget=5003)) as source:
            source.client.count("SELECT COUNT() FROM Lead", "count leads")  # Salesforce: api-usage=5001/20000
            key = budget_key("salesforce", org.url.split("://")[1])
            # Another worker's view of the same org: the vendor's count, not our one call.
            other = ApiBudget(key, sandbox_settings(org, daily_api_budget=5003).budget_limits())
            assert other.spent() == 5001 and other.usage().vendor_max == 20_000
            source.client.count("SELECT COUNT() FROM Lead", "count leads")
            source.client.count("SELECT COUNT() FROM Lead", "count leads")  # 5003: leadsync's share is spent
            with pytest.raises(ApiQuotaExhausted) as refused:
                source.client.count("SELECT COUNT() FROM Lead", "count leads")
        # A second source on the same org (another YAML file, another worker) shares the budget.
        with SalesforceSource(sandbox_settings(org, daily_api_budget=5003)) as second, \
                pytest.raises(ApiQuotaExhausted):
            second.client.count("SELECT COUNT() FROM Lead", "count leads")
        assert org.budget.used == 5003  # refused here, never sent
    message = str(refused.value)
    assert f"Salesforce daily API budget of {key} is spent: 5,003 calls counted in the last 24 hours" in message
    assert "Salesforce itself reported 5,003 of 20,000" in message and "rolling 24 hours" in message
    assert refused.value.resets_at is not None and refused.value.resets_at > datetime.now(UTC)


# ------------------------------------------------------------------------------------------ both stores


@pytest.fixture(params=["redis", "local"])
def store(request):
    if request.param == "local":
        return LocalStore()
    request.getfixturevalue("prefix")
    return RedisStore(os.environ["LEADSYNC_REDIS_URL"], os.environ["LEADSYNC_BUDGET_PREFIX"])


def test_the_window_waits_instead_of_exceeding(store):
    budget = ApiBudget("test:window", BudgetLimits(calls_per_window=10, window_s=0.3), store=store)
    stamps = []
    for _ in range(25):
        with budget.call():
            stamps.append(time.monotonic())
    # Any 0.3 s holds at most 10 calls; 25 calls need the third window.
    assert all(stamps[i + 10] - stamps[i] >= 0.3 for i in range(len(stamps) - 10))
    # It waited, and no more than the span: time a busy machine spent between calls counts toward the window.
    span = stamps[-1] - stamps[0]
    assert 0.6 <= span < 2.0 and 0 < budget.waited_s <= span


def test_threads_never_hold_more_leases_than_allowed(store):
    budget = ApiBudget("test:leases", BudgetLimits(max_concurrent=2, lease_ttl_s=5), store=store)
    lock, now_in, peak = threading.Lock(), [0], [0]

    def work():
        for _ in range(5):
            with budget.call():
                with lock:
                    now_in[0] += 1
                    peak[0] = max(peak[0], now_in[0])
                time.sleep(0.01)
                with lock:
                    now_in[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2 and budget.in_flight() == 0


def test_the_vendor_report_is_a_floor_and_its_maximum_a_cap(store):
    budget = ApiBudget("test:vendor", BudgetLimits(daily_limit=100, day=Rolling24h(), vendor="Salesforce"),
                       store=store)
    with budget.call() as call:
        call.report_usage(60, 80)
    assert budget.spent() == 60
    with budget.call() as call:
        call.report_usage(40, 80)  # an older answer arriving late: never believe fewer
    assert budget.spent() == 60
    budget.report_usage(79, 80)
    with budget.call():  # 79 < min(100, 80)
        pass
    budget.report_usage(80, 80)
    with pytest.raises(ApiQuotaExhausted, match="80 calls counted in the last 24 hours against a cap of 80"):
        budget.acquire()


def test_a_marketo_day_is_a_us_central_day(store):
    clock = [datetime(2026, 11, 3, 5, 59, tzinfo=UTC)]  # 23:59 in Chicago (CST, UTC-6)
    budget = ApiBudget("test:day", BudgetLimits(daily_limit=2, day=MidnightIn("America/Chicago", "US Central"),
                                                vendor="Marketo"), store=store, clock=lambda: clock[0])
    with budget.call(), budget.call():
        pass
    with pytest.raises(ApiQuotaExhausted, match=r"resets at midnight US Central time, 2026-11-03 00:00 CST "
                                                r"\(2026-11-03 06:00 UTC\), in 0 h 01 min"):
        budget.acquire()
    clock[0] += timedelta(minutes=2)  # a new Central day: a fresh count
    with budget.call():
        pass
    assert budget.spent() == 1


def test_a_long_transfer_renews_its_lease(store):
    budget = ApiBudget("test:renew", BudgetLimits(max_concurrent=1, lease_ttl_s=0.3), store=store)
    with budget.call() as call:
        for _ in range(16):  # 0.8 s: past the lease's TTL and its key's expiry (twice the TTL)
            time.sleep(0.05)
            call.renew()
        assert budget.in_flight() == 1
    assert budget.in_flight() == 0


def test_an_unreachable_redis_is_a_transient_error_that_does_not_show_the_password():
    store = RedisStore("redis://:s3cret@127.0.0.1:1/0")
    budget = ApiBudget("test:down", BudgetLimits(max_concurrent=1), store=store)
    with pytest.raises(ApiTransientError, match=r"API budget store \(Redis 127\.0\.0\.1:1/0\) failed") as failed:
        budget.acquire()
    assert "s3cret" not in str(failed.value)


def test_the_in_process_fallback_is_what_clients_get_without_redis(monkeypatch, marketo):
    monkeypatch.delenv("LEADSYNC_REDIS_URL", raising=False)
    limited(marketo)
    settings = MarketoSettings(marketo.url, marketo.client_id, marketo.client_secret,
                               http=HttpSettings(retry=RetryPolicy(attempts=1)), calls_per_20s=N, window_s=W,
                               max_concurrent=K, daily_quota=30)
    client = MarketoClient(settings)
    assert isinstance(client.budget.store, LocalStore) and client.budget.key == f"marketo:{marketo.url[7:]}"
    client.budget.store.clear(client.budget.key)  # an earlier sandbox of this process may have had the port
    served, refused = [], []

    def work():
        try:
            for _ in range(1000):  # until refused
                client.get("/rest/v1/stats/usage.json")
                served.append(1)
        except ApiQuotaExhausted as exc:
            refused.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(served) == 30 == marketo.meter.calls_today() and len(refused) == 4
    assert marketo.api.errors_answered["606"] == 0 and marketo.api.errors_answered["615"] == 0
    assert marketo.meter.peak_in_flight == K
