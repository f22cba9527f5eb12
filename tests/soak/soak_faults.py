"""The faults a soak round throws, through the sandboxes' own switches and from outside the run's process.

Each fault kind is a function (world, rng) -> Armed: what it armed, a thread to run beside the run (a kill, a
lock held, a connection cut at some moment) and, after the run, how many of its faults actually fired (a queued
503 the run never asked for did not fire). Kinds:

  http_5xx, http_429, dropped    vendor HTTP answers 5xx / 429 / a cut connection (Salesforce, Marketo, Eloqua,
                                 Maple's CRM org)
  timeout                        a vendor request held past the client's timeout
  token_expiry                   every session ends (Salesforce source and CRM org, Marketo)
  partial_batch                  one record of a write batch refused (Salesforce, Marketo, Eloqua, the CRM org)
  sftp_drop                      SFTP connections refused at the handshake and cut mid-transfer
  smtp_down                      the SMTP server stopped from before the run until some seconds into it
  store_locked                   another process holds the DuckDB store for a few seconds
  kill_in_step, kill_between     SIGKILL of the run process while a vendor call is in flight / after n steps
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlalchemy as sa
from soak_world import TIMEOUT_S, World, kill

from leadsync.store import LeadStore, tables

API = ("salesforce_demo", "marketo_demo", "eloqua_demo", "maple")


@dataclass
class Armed:
    kind: str
    armed: int
    detail: str
    beside: Callable | None = None  # (process, world) -> None, on a thread beside the run
    fired: Callable[[], int] | None = None  # after the run: how many fired (default: all armed)
    snapshot: Callable[[], None] | None = None  # once every fault of the round is armed
    thread: threading.Thread | None = None  # its `beside`, once the run started
    after: Callable[[], None] | None = None  # after the run: switch it off
    target: str | None = None  # the sandbox it hit, where one (the soak's write invariant reads timeouts by it)

    def count_fired(self) -> int:
        return self.fired() if self.fired is not None else self.armed


def http_switches(world: World, name: str):
    server = world.server(name)
    if name == "marketo_demo":
        return server.http_faults
    if name == "eloqua_demo":
        return server.faults
    return server.http.faults


def _queued(switches) -> int:
    return len(switches._queued)


def http_errors(world: World, rng: random.Random, status_choices: tuple[int, ...], kind: str) -> Armed:
    name = rng.choice(API)
    switches = http_switches(world, name)
    n, status = rng.randint(1, 3), rng.choice(status_choices)
    headers = {"Retry-After": "1"} if status == 429 else None
    count = _FifoShare(lambda: _queued(switches), n)
    switches.fail_next(n, status=status, headers=headers)
    return Armed(kind, n, f"{name}: next {n} requests answer {status}", snapshot=count.snapshot, fired=count.fired,
                 after=switches.clear)


class _FifoShare:
    """How many of one fault's n entries in a sandbox's FIFO queue of faults were taken: the queue's length is
    read before arming, once all faults are armed (snapshot) and after the run; entries leave from the front."""

    def __init__(self, length: Callable[[], int], n: int):
        self.length, self.n, self.before, self.total = length, n, length(), None

    def snapshot(self) -> None:
        self.total = self.length()

    def fired(self) -> int:
        taken = (self.total if self.total is not None else self.before + self.n) - self.length()
        return max(0, min(self.n, taken - self.before))


def http_5xx(world, rng):
    return http_errors(world, rng, (500, 502, 503, 504), "http_5xx")


def http_429(world, rng):
    return http_errors(world, rng, (429,), "http_429")


def dropped(world: World, rng: random.Random) -> Armed:
    name = rng.choice(API)
    switches = http_switches(world, name)
    n = rng.randint(1, 2)
    count = _FifoShare(lambda: switches._drop_next, n)
    switches.drop_next(n)
    return Armed("dropped", n, f"{name}: next {n} connections cut mid-response", snapshot=count.snapshot,
                 fired=count.fired, after=switches.clear)


def timeout(world: World, rng: random.Random) -> Armed:
    name = rng.choice(API)
    gate = http_switches(world, name).hold_next("/", skip=rng.randint(0, 30))

    def beside(process, _world):
        if gate.wait_reached(300):
            time.sleep(TIMEOUT_S + 1)  # the client has given up by now
        gate.release()

    return Armed("timeout", 1, f"{name}: one request held {TIMEOUT_S + 1}s", beside=beside,
                 fired=lambda: int(gate.reached.is_set()), after=gate.release, target=name)


def token_expiry(world: World, rng: random.Random) -> Armed:
    name = rng.choice(("salesforce_demo", "marketo_demo", "maple"))
    server = world.server(name)
    delay = rng.uniform(0, 20)

    def beside(process, _world):
        time.sleep(delay)
        if process.poll() is None:
            server.faults.expire_tokens()
            fired[0] = 1

    fired = [0]
    server.faults.expire_tokens()
    return Armed("token_expiry", 2, f"{name}: sessions ended before the run and {delay:.0f}s into it",
                 beside=beside, fired=lambda: 1 + fired[0])


def _some_emails(world: World, rng: random.Random, source: str, n: int) -> list[str]:
    if not Path(world.store_url.removeprefix("duckdb:///")).exists():  # before the first run: no lead yet
        return []
    store = LeadStore(world.store_url)
    try:
        with store.begin() as conn:
            emails = [e for (e,) in conn.execute(sa.select(tables.leads.c.email).where(
                tables.leads.c.source == source, tables.leads.c.email.is_not(None)))]
    finally:
        store.dispose()
    return rng.sample(sorted(emails), min(n, len(emails)))


def partial_batch(world: World, rng: random.Random) -> Armed:
    name = rng.choice(("salesforce_demo", "marketo_demo", "eloqua_demo", "maple"))
    source = "salesforce_demo" if name == "maple" else name
    emails = _some_emails(world, rng, source, rng.randint(1, 3))
    server = world.server(name)
    faults = server.state.faults if name == "eloqua_demo" else server.faults
    first_rule = len(faults._rejections._rules) if name in ("salesforce_demo", "maple") else 0
    for email in emails:
        if name == "marketo_demo":
            faults.bad_record(email, times=1)
        elif name == "eloqua_demo":
            faults.reject_next_import_of(email)
        else:
            faults.reject_records(emails=[email], times=1)

    def fired() -> int:  # the refusals not taken are still armed
        if name == "eloqua_demo":
            return sum(e.lower() not in faults._bad_records for e in emails)
        if name == "marketo_demo":
            return sum(not faults._bad_records.get(e.lower()) for e in emails)
        return sum(rule["times"] == 0 for rule in faults._rejections._rules[first_rule:first_rule + len(emails)])

    # cleared after the round: an unfired refusal must not leak into the next run (or the clean ones)
    return Armed("partial_batch", len(emails), f"{name}: writes of {len(emails)} records refused once",
                 fired=fired, after=faults.clear)


def sftp_drop(world: World, rng: random.Random) -> Armed:
    server = world.server("sftp_demo")
    n, cut_at = rng.randint(1, 2), rng.uniform(0.5, 8)
    # the sandbox's switch sets a count: a second sftp_drop of the round adds to the first's, which queue up
    count = _FifoShare(lambda: server._drop_next, n)
    server.drop_next_connections(server._drop_next + n)
    cut = [0]

    def beside(process, _world):
        time.sleep(cut_at)
        if process.poll() is None and server._connections:  # sessions open right now: cut them
            server.disconnect_all()
            cut[0] = 1

    return Armed("sftp_drop", n + 1, f"sftp: {n} connections refused, open sessions cut {cut_at:.1f}s in",
                 beside=beside, snapshot=count.snapshot, fired=lambda: count.fired() + cut[0],
                 after=lambda: server.drop_next_connections(0))


def smtp_down(world: World, rng: random.Random) -> Armed:
    """The SMTP server stopped before the run and started again `back` seconds into it (or after the run): a
    delivery step that meets it fails and is retried by its retry policy (30 s, then 60 s, 120 s). Down for a
    part of the run rather than all of it, so a round costs about a minute, not the six of three retries."""
    server = world.sandboxes.get("smtp").server
    server.stop()
    back = rng.uniform(3, 45)
    up = threading.Lock()
    stopped = [True]

    def back_up() -> None:
        with up:
            if not stopped[0]:
                return
            # an aiosmtpd controller does not start twice: the same sandbox object (the one the world stops at
            # the end) gets a fresh one, on the same port and mailbox folder
            server.__init__(server.folder, port=server.port, host=server.host)
            server.start()
            stopped[0] = False

    def beside(process, _world):
        deadline = time.monotonic() + back
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        back_up()

    return Armed("smtp_down", 1, f"smtp: server stopped until {back:.0f}s into the run", beside=beside,
                 after=back_up)


def store_locked(world: World, rng: random.Random) -> Armed:
    path = world.store_url.removeprefix("duckdb:///")
    delay, hold = rng.uniform(2, 20), rng.uniform(1, 3)
    fired = [0]

    def beside(process, _world):
        time.sleep(delay)
        while process.poll() is None:
            try:
                con = duckdb.connect(path)
            except duckdb.IOException:  # the run holds it right now: try again
                time.sleep(0.1)
                continue
            fired[0] = 1
            time.sleep(hold)
            con.close()
            return

    return Armed("store_locked", 1, f"store held {hold:.1f}s from {delay:.0f}s into the run", beside=beside,
                 fired=lambda: fired[0])


def kill_in_step(world: World, rng: random.Random) -> Armed:
    name = rng.choice(API[:3])  # a source's calls: every run makes them (Maple's CRM is called only with news)
    gate = http_switches(world, name).hold_next("/", skip=rng.randint(0, 15))
    fired = [0]

    def beside(process, _world):
        if gate.wait_reached(300):
            fired[0] = int(kill(process))
        gate.release()  # the held call now reaches the vendor although its caller is gone

    return Armed("kill_in_step", 1, f"SIGKILL while a {name} call is in flight", beside=beside,
                 fired=lambda: fired[0], after=gate.release)


def kill_between(world: World, rng: random.Random) -> Armed:
    steps = rng.randint(1, 30)
    fired = [0]

    def beside(process, w: World):
        while process.poll() is None:
            with w.instance() as instance:
                runs = instance.get_runs(limit=1)
                if runs and runs[0].status.value == "STARTED":
                    done = instance.get_records_for_run(
                        runs[0].run_id, of_type=_step_success()).records
                    if len(done) >= steps:
                        fired[0] = int(kill(process))
                        return
            time.sleep(0.2)

    return Armed("kill_between", 1, f"SIGKILL after step {steps} succeeded", beside=beside,
                 fired=lambda: fired[0])


def _step_success():
    from dagster._core.events import DagsterEventType

    return DagsterEventType.STEP_SUCCESS


KINDS: dict[str, Callable[[World, random.Random], Armed]] = {
    "http_5xx": http_5xx, "http_429": http_429, "dropped": dropped, "timeout": timeout,
    "token_expiry": token_expiry, "partial_batch": partial_batch, "sftp_drop": sftp_drop, "smtp_down": smtp_down,
    "store_locked": store_locked, "kill_in_step": kill_in_step, "kill_between": kill_between,
}
KILLS = ("kill_in_step", "kill_between")


def arm_round(world: World, rng: random.Random, faults: int, kill_chance: float) -> list[Armed]:
    """`faults` faults of kinds drawn at random (at most one kill, with probability `kill_chance`)."""
    kinds = [k for k in KINDS if k not in KILLS]
    chosen = [rng.choice(kinds) for _ in range(faults)]
    if "smtp_down" in chosen:  # one stop is the fault; twice would stop a stopped server
        chosen = [k for k in chosen if k != "smtp_down"] + ["smtp_down"]
    if rng.random() < kill_chance:
        chosen.append(rng.choice(KILLS))
    armed = [KINDS[k](world, rng) for k in chosen]
    for a in armed:
        if a.snapshot is not None:
            a.snapshot()
    return armed


def run_beside(armed: list[Armed]) -> Callable:
    """One killer for World.run: every armed fault's thread, started together."""
    def beside(process, world):
        for a in armed:
            if a.beside is not None:
                a.thread = threading.Thread(target=a.beside, args=(process, world), daemon=True)
                a.thread.start()
    return beside


def disarm(armed: list[Armed]) -> dict[str, int]:
    """Switch every fault off (and wait for the threads still at work, a store lock still held); returns how many
    fired, per kind."""
    fired: dict[str, int] = {}
    for a in armed:  # all counted before any is cleared: faults of one sandbox share its queue
        fired[a.kind] = fired.get(a.kind, 0) + a.count_fired()
    for a in armed:
        if a.after is not None:
            a.after()
    for a in armed:
        if a.thread is not None and a.kind != "timeout" and not a.kind.startswith("kill"):
            a.thread.join(30)  # gate threads end on their own once released; the others within seconds
    return fired
