"""A Marketo instance on loopback: Marketo's REST, Asset and Bulk Extract wire format over seeded data,
with Marketo's limits and a set of fault switches. marketorestpython works against it unchanged once its
`host` points here (`sandbox.client()` does that).

    with MarketoSandbox(seed_leads=1000) as mkto:
        mc = mkto.client()                              # a marketorestpython MarketoClient
        mc.execute("get_lead_by_id", id=1)
        mkto.clock.advance(3600)                         # move time (token expiry, windows, quotas)
        mkto.faults.force_error("606", times=2)          # Marketo-specific faults ...
        mkto.http_faults.fail_next(1, status=503)        # ... and the generic HTTP ones

Run it in the foreground for demos (state kept in DIR across restarts):
    python -m leadsync.connectors.marketo.sandbox --data-dir DIR --port 8444 --seed-leads 20000
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import pyarrow

from leadsync.connectors.http_sandbox import FaultSwitches, HttpSandbox
from leadsync.connectors.marketo.sandbox.activities import CustomActivityType
from leadsync.connectors.marketo.sandbox.api import MarketoApi
from leadsync.connectors.marketo.sandbox.clock import SandboxClock
from leadsync.connectors.marketo.sandbox.fields import FieldDef
from leadsync.connectors.marketo.sandbox.limits import MarketoLimits
from leadsync.connectors.marketo.sandbox.objects import ObjectType
from leadsync.connectors.marketo.sandbox.routes import build_routes
from leadsync.connectors.marketo.sandbox.seed import SeedSummary, seed_demo_data
from leadsync.connectors.marketo.sandbox.state import MarketoState
from leadsync.connectors.sandbox_writes import WriteKey

if TYPE_CHECKING:
    from marketorestpython.client import MarketoClient

DEFAULT_CLIENT_ID = "leadsync-sandbox"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
DEFAULT_MUNCHKIN_ID = "123-SBX-456"
DEFAULT_API_USER = "leadsync-api@sandbox.example"


class MarketoSandbox:
    """One sandboxed Marketo instance. Construct, then `start()` (or use as a context manager).

    `extra_lead_fields`, `custom_objects`, `custom_activity_types`, `program_member_fields` extend the
    defaults (leadsync's lead fields, the `leadsyncAssignment_c` custom object, the `leadsyncPartnerEvent`
    activity type). `limits` holds every Marketo limit, changeable while running. `data_dir` keeps the data
    (a DuckDB file and the export files) across restarts; without it everything lives in memory.
    """

    def __init__(self, *, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET,
                 munchkin_id: str = DEFAULT_MUNCHKIN_ID, api_user: str = DEFAULT_API_USER,
                 more_credentials: dict[str, str] | None = None, data_dir: Path | str | None = None,
                 port: int = 0, host: str = "127.0.0.1", tls: bool = False, tls_dir: Path | None = None,
                 seed_leads: int = 0, seed: int = 7, extra_lead_fields: list[FieldDef] | tuple = (),
                 custom_objects: list[ObjectType] | tuple = (),
                 custom_activity_types: list[CustomActivityType] | tuple = (),
                 program_member_fields: list[FieldDef] | tuple = (), limits: MarketoLimits | None = None,
                 clock: SandboxClock | None = None):
        self.client_id, self.client_secret, self.munchkin_id = client_id, client_secret, munchkin_id
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.data_dir = Path(data_dir) if data_dir else None
        if self.data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="leadsync-marketo-")
        files = self.data_dir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.state = state = MarketoState.create(
            files, self.data_dir is not None, {client_id: client_secret, **(more_credentials or {})}, api_user,
            extra_lead_fields, custom_objects, custom_activity_types, program_member_fields, limits, clock)
        # the state's parts, by the names tests and callers use (mkto.leads, mkto.faults, mkto.clock, ...)
        self.clock, self.limits, self.schema, self.db = state.clock, state.limits, state.schema, state.db
        self.tokens, self.meter, self.faults = state.tokens, state.meter, state.faults
        self.activities, self.leads, self.programs = state.activities, state.leads, state.programs
        self.lists, self.objects, self.exports = state.lists, state.objects, state.exports
        self.api = MarketoApi(state, build_routes(state))
        self.http = HttpSandbox(self.api.app, port=port, host=host, tls=tls, tls_dir=tls_dir, name="marketo")
        self._seed_on_start = (seed_leads, seed)
        self.seeded: SeedSummary | None = None
        self._started = False

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        if self._started:
            return self
        count, seed = self._seed_on_start
        if count and self.leads.count() == 0:  # a data dir that already holds leads keeps them
            self.seeded = self.seed(count, seed)
        self.exports.start()
        self.http.start()
        self._started = True
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self.http.stop()
        self.exports.stop()
        self.db.checkpoint()
        self.db.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------------------ data and clients

    def seed(self, leads: int, seed: int = 7, until: datetime | None = None) -> SeedSummary:
        """Add `leads` generated leads (plus programs, memberships, activities); deterministic for
        (leads, seed, until); `until` defaults to the sandbox clock's now."""
        first = int(self.db.scalar("SELECT coalesce(max(id), 0) FROM leads")) + 1
        summary = seed_demo_data(self.leads, self.programs, self.activities, leads, seed, until)
        new_ids = range(first, first + leads)  # two static lists over the new leads, for list-based pulls
        self.lists.create("Newsletter Subscribers", list(new_ids[::5]), "Opted in to the monthly newsletter")
        self.lists.create("Partner Program Invitees", list(new_ids[::9]), "Invited to the partner program")
        pyarrow.default_memory_pool().release_unused()  # hand the generation buffers back to the system
        return summary

    @property
    def url(self) -> str:
        """The base URL; a client's `host` (Marketo's `https://<munchkin>.mktorest.com`)."""
        return self.http.url

    @property
    def identity_url(self) -> str:
        return f"{self.url}/identity/oauth/token"

    @property
    def ca_pem_path(self) -> Path | None:
        return self.http.ca_pem_path

    def write_counts(self, object_name: str | None = None) -> dict[WriteKey, int]:
        """Writes served over the API so far, per (object, record id, field). Objects: "lead" (Sync Leads: each
        field a record set; Delete Leads: "deleted"), "programMember" (status changes: progressionStatus; removals:
        "deleted"; record id "<programId>:<leadId>"), "staticListMember" (adds and removes: "member"; record id
        "<listId>:<leadId>"), "activity" (custom activities added, per attribute; record id the lead id), and each
        Lead Database object by name (opportunity, a custom object: each field synced; deletes: "deleted"; record
        id the marketoGUID)."""
        return self.state.writes.snapshot(object_name)

    @property
    def http_faults(self) -> FaultSwitches:
        """The generic switches of the HTTP base: fail_next(status), drop_next, latency_s."""
        return self.http.faults

    def client(self, max_retry_time: int = 10, requests_timeout: float | None = 30,
               client_id: str | None = None, client_secret: str | None = None) -> MarketoClient:
        """A marketorestpython MarketoClient for this sandbox (only its `host` changed). Keep
        `max_retry_time` small in tests: the client backs off on 606/615 for up to that many seconds."""
        from marketorestpython.client import MarketoClient

        client = MarketoClient(self.munchkin_id, client_id or self.client_id, client_secret or self.client_secret,
                               max_retry_time=max_retry_time, requests_timeout=requests_timeout)
        client.host = self.url
        return client


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the leadsync Marketo sandbox in the foreground (Ctrl-C stops).")
    parser.add_argument("--data-dir", type=Path, help="keep data here across restarts (default: in memory)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8444)
    parser.add_argument("--seed-leads", type=int, default=0, help="seed N generated leads when the store is empty")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generated data")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--munchkin-id", default=DEFAULT_MUNCHKIN_ID)
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA (path printed)")
    args = parser.parse_args(argv)

    sandbox = MarketoSandbox(client_id=args.client_id, client_secret=args.client_secret,
                             munchkin_id=args.munchkin_id, data_dir=args.data_dir, port=args.port, host=args.host,
                             tls=args.tls, tls_dir=args.data_dir / "tls" if args.data_dir and args.tls else None,
                             seed_leads=args.seed_leads, seed=args.seed)
    with sandbox:
        if sandbox.seeded:
            s = sandbox.seeded
            print(f"seeded {s.leads} leads, {s.programs} programs, {s.members} program members, "
                  f"{s.activities} activities")
        print(f"Marketo sandbox serving {sandbox.url}  ({sandbox.leads.count()} leads"
              f"{', data in ' + str(args.data_dir) if args.data_dir else ', in memory'})")
        print(f"munchkin id:   {sandbox.munchkin_id}   (point a client's host at the URL above)")
        print(f"client id:     {sandbox.client_id}")
        print(f"client secret: {sandbox.client_secret}")
        print(f"identity:      {sandbox.identity_url}?grant_type=client_credentials&client_id=...&client_secret=...")
        if sandbox.ca_pem_path:
            print(f"CA certificate: {sandbox.ca_pem_path}  (REQUESTS_CA_BUNDLE for requests-based clients)")
        print("marketorestpython: mc = MarketoClient(munchkin_id, client_id, client_secret); "
              f"mc.host = {sandbox.url!r}")
        print("Ctrl-C to stop", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping")

