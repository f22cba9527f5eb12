"""One API budget per source owner, shared by every thread, process and machine that calls it.

A vendor's limits belong to the vendor's account, not to our process: Marketo allows 100 calls per 20 s,
10 in flight and 50,000 a day *per instance*; Salesforce's daily request allocation is *per org*. With
several Dagster/Celery workers each limiting itself, two workers spend one budget twice over. `ApiBudget`
keeps the count where every worker sees it:

    budget = ApiBudget(budget_key("marketo", "123-abc-456.mktorest.com"),
                       BudgetLimits(calls_per_window=100, window_s=20, max_concurrent=10, lease_ttl_s=40,
                                    daily_limit=50_000, day=MidnightIn("America/Chicago", "US Central")))
    with budget.call() as call:            # waits for a window slot and an in-flight slot; refuses when
        response = session.get(...)        # the day's calls are spent (ApiQuotaExhausted)
        call.report_usage(used, maximum)   # what the vendor says was spent (Salesforce Sforce-Limit-Info)

Per budget key it enforces
- a sliding window: at most `calls_per_window` calls in any `window_s` seconds. A call is stamped when it
  is admitted and stamped again when it ends, so a call the vendor saw late still counts for a full window
  after it (the vendor cannot have seen it later than its answer arrived).
- at most `max_concurrent` calls in flight, held as leases that expire after `lease_ttl_s` (a bit longer
  than the HTTP timeout): a worker killed with SIGKILL frees its slots when they expire; a long download
  renews its lease (`call.renew()`).
- a daily cap, counted in buckets: `MidnightIn(tz)` is one bucket per local day (Marketo: midnight US
  Central); `Rolling24h` is one bucket per UTC hour, summed over the last 25 hours (Salesforce's allocation
  is a rolling 24 h; counting the current partial hour plus 24 whole ones over-counts by up to an hour's
  calls, never under-counts). The vendor's own report raises the count: `spent = max(our buckets, the
  highest usage the vendor reported in the last VENDOR_REPORT_TTL_S)`, and the vendor's maximum, once
  reported, lowers the cap. Reaching the cap raises ApiQuotaExhausted naming the budget, what was spent and
  when it resets. Window and concurrency wait (as SlidingWindowLimiter did); the daily cap refuses.

Where the count lives: Redis when LEADSYNC_REDIS_URL is set (redis://host:6379/0; every check-and-take is
one atomic Lua script, one round trip to acquire and one to release, the clock is Redis's own so workers'
clocks need not agree), else process memory (the embedded default needs no Redis; then the budget is
shared by the threads of one process, which is all a single process needs). Redis keys:
`{LEADSYNC_BUDGET_PREFIX or "leadsync:budget"}:{<budget key>}:win|lease|vused|vmax|d:<bucket>`, the budget key
in braces so one budget's keys share a Redis Cluster slot; every key expires on its own.

Budget keys name the limit's real owner, so two sources on the same account share one budget:
`marketo:<rest host>` (the munchkin id is the host), `salesforce:<instance host>` (the org's My Domain
host; login hosts carry no daily count), `eloqua:<login host>:<site>` (the company).
"""


from leadsync.connectors.api_budget.budget import ApiBudget, Call, default_store
from leadsync.connectors.api_budget.days import DayBoundary, MidnightIn, Rolling24h
from leadsync.connectors.api_budget.limits import (
    CONCURRENCY_POLL_S,
    DEFAULT_PREFIX,
    ENV_PREFIX,
    ENV_REDIS_URL,
    LEASE_MARGIN_S,
    VENDOR_MAX_TTL_S,
    VENDOR_REPORT_TTL_S,
    Admission,
    BudgetLimits,
    BudgetStore,
    Usage,
    budget_key,
    lease_ttl,
)
from leadsync.connectors.api_budget.local_store import LocalStore
from leadsync.connectors.api_budget.redis_store import RedisStore

__all__ = [
    "CONCURRENCY_POLL_S",
    "DEFAULT_PREFIX",
    "ENV_PREFIX",
    "ENV_REDIS_URL",
    "LEASE_MARGIN_S",
    "VENDOR_MAX_TTL_S",
    "VENDOR_REPORT_TTL_S",
    "Admission",
    "ApiBudget",
    "BudgetLimits",
    "BudgetStore",
    "Call",
    "DayBoundary",
    "LocalStore",
    "MidnightIn",
    "RedisStore",
    "Rolling24h",
    "Usage",
    "budget_key",
    "default_store",
    "lease_ttl",
]
