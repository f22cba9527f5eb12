"""`SalesforceSandbox`: the Salesforce org on loopback, as a context manager.

    with SalesforceSandbox(tls=True) as org:
        org.seed(leads=20_000)
        sf = org.connect()                          # simple_salesforce.Salesforce, client-credentials login
        sf.query("SELECT Id, Email FROM Lead LIMIT 5")
        org.faults.expire_tokens()                  # and the other switches in `faults`
        org.clock.freeze("2026-11-23T10:00:00Z")    # every write now shares one SystemModstamp

With `data_dir`, records are loaded from and saved to that folder (Parquet per object), so a demo org
keeps its state across restarts; `autosave_s` also saves periodically while running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from leadsync.connectors.http_sandbox import HttpSandbox
from leadsync.connectors.salesforce.sandbox import persistence
from leadsync.connectors.salesforce.sandbox.app import build_app
from leadsync.connectors.salesforce.sandbox.auth import (
    Authenticator,
    SandboxCredentials,
    SessionRegistry,
    generate_jwt_key_pair,
    public_key_pem,
)
from leadsync.connectors.salesforce.sandbox.bulk_jobs import JOB_PREFIX, BulkJobs
from leadsync.connectors.salesforce.sandbox.bulk_v1_jobs import BulkV1Jobs
from leadsync.connectors.salesforce.sandbox.client import connect_simple_salesforce, sandbox_session
from leadsync.connectors.salesforce.sandbox.clock import SandboxClock, normalize_datetime
from leadsync.connectors.salesforce.sandbox.context import Org
from leadsync.connectors.salesforce.sandbox.faults import RecordRejections, SalesforceFaults
from leadsync.connectors.salesforce.sandbox.limits import ApiBudget
from leadsync.connectors.salesforce.sandbox.rest_query import QueryCursors
from leadsync.connectors.salesforce.sandbox.schema import FieldSpec, Schema
from leadsync.connectors.salesforce.sandbox.seed import SeedSummary, seed_org, seed_users
from leadsync.connectors.salesforce.sandbox.store import RecordStore
from leadsync.connectors.salesforce.sandbox.writes import RecordWriter
from leadsync.connectors.sandbox_writes import WriteCounts, WriteKey

log = logging.getLogger(__name__)
DEFAULT_API_VERSION = "59.0"


class _HttpServer(HttpSandbox):
    def stop(self) -> None:
        # Over TLS, uvicorn's graceful shutdown waits for clients' idle keep-alive connections to finish
        # the TLS close handshake, which requests never does: stop() would hang for the base's 10 s join
        # timeout. A test server has nothing in flight worth waiting for once its owner stops it.
        if self._server is not None:
            self._server.force_exit = True
        super().stop()


class SalesforceSandbox:
    """A Salesforce org speaking the REST, Bulk API 2.0 and OAuth wire formats on 127.0.0.1.

    `schema` defaults to `Schema.default(extra_fields, picklists)`. `daily_api_limit` sizes the API budget;
    `session_timeout_s` ends sessions after that long (None: never). `tls=False` serves plain http (the
    clients from `session()`/`connect()` downgrade to it)."""

    def __init__(self, *, schema: Schema | None = None,
                 extra_fields: Mapping[str, Sequence[FieldSpec]] | None = None,
                 picklists: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
                 credentials: SandboxCredentials | None = None, data_dir: Path | None = None,
                 port: int = 0, host: str = "127.0.0.1", tls: bool = True, tls_dir: Path | None = None,
                 daily_api_limit: int = 100_000, session_timeout_s: float | None = None,
                 clock: SandboxClock | None = None, autosave_s: float | None = None,
                 jwt_private_key_pem: str | None = None):
        self.schema = schema or Schema.default(extra_fields, picklists)
        self.credentials = credentials or SandboxCredentials()
        # A key pair the sandbox trusts for JWT bearer logins (`connect("jwt")`); pass one to keep it
        # across restarts.
        if jwt_private_key_pem:
            self.jwt_private_key_pem, public_pem = jwt_private_key_pem, public_key_pem(jwt_private_key_pem)
        else:
            self.jwt_private_key_pem, public_pem = generate_jwt_key_pair()
        self.clock = clock or SandboxClock()
        self.store = RecordStore(self.schema)
        self.data_dir = Path(data_dir) if data_dir else None
        self.autosave_s = autosave_s
        self._saved_changes = -1
        self._stop_autosave = threading.Event()
        self._autosave_thread: threading.Thread | None = None

        self.sessions = SessionRegistry(self.credentials.org_id, session_timeout_s)
        self.auth = Authenticator(self.credentials, self.sessions, lambda: self.url)
        self.auth.add_jwt_certificate(public_pem)
        self.budget = ApiBudget(daily_api_limit)
        self.rejections = RecordRejections()
        # served writes are counted (write_counts()); the helpers below (insert, update, convert_lead) act as a
        # user in the org would, not through the API, and are not
        self.writes = WriteCounts()
        writer = RecordWriter(self.store, self.clock, self.credentials.user_id, check=self.rejections,
                              counts=self.writes)
        self._local_writer = RecordWriter(self.store, self.clock, self.credentials.user_id, check=self.rejections)
        bulk = BulkJobs(lambda: self.store.ids.new(JOB_PREFIX), self.clock.now_wire)
        self.org = Org(schema=self.schema, store=self.store, clock=self.clock, writer=writer,
                       credentials=self.credentials, sessions=self.sessions, auth=self.auth,
                       budget=self.budget, cursors=QueryCursors(), bulk=bulk, instance_url=lambda: self.url,
                       bulk_v1=BulkV1Jobs())
        self.http = _HttpServer(build_app(self.org), port=port, host=host, tls=tls, tls_dir=tls_dir,
                                name="salesforce")
        self.faults = SalesforceFaults(self.http.faults, self.sessions, self.budget, self.rejections)
        self.org.faults = self.faults

        if self.data_dir and self.data_dir.exists():
            loaded = persistence.load(self.store, self.data_dir)
            self._saved_changes = self.store.changes
            log.info("Salesforce sandbox loaded %s from %s", loaded, self.data_dir)
        self.rep_ids = seed_users(self.store, self.credentials.user_id, self.credentials.username,
                                  self.clock.now_wire())

    # ------------------------------------------------------------------------------ where it is

    @property
    def url(self) -> str:
        """The instance URL, e.g. "https://127.0.0.1:54321" (no trailing slash)."""
        return self.http.url

    @property
    def ca_pem_path(self) -> Path | None:
        """The test CA to trust (None without TLS)."""
        return self.http.ca_pem_path

    @property
    def my_domain(self) -> str:
        """The `domain` argument for simple-salesforce's client-credentials login."""
        return f"{self.credentials.my_domain}.my"

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        self.http.start()
        if self.data_dir and self.autosave_s:
            self._stop_autosave.clear()
            self._autosave_thread = threading.Thread(target=self._autosave, name="salesforce-autosave",
                                                     daemon=True)
            self._autosave_thread.start()
        return self

    def stop(self) -> None:
        self._stop_autosave.set()
        if self._autosave_thread is not None:
            self._autosave_thread.join(timeout=10)
            self._autosave_thread = None
        self.http.stop()
        self.org.bulk.wait_idle()
        if self.data_dir:
            self.save()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def save(self) -> None:
        """Write the records to `data_dir` now (if anything changed since the last save)."""
        if not self.data_dir:
            raise RuntimeError("this sandbox has no data_dir to save to")
        if self.store.changes == self._saved_changes:
            return
        changes = self.store.changes
        persistence.save(self.store, self.data_dir)
        self._saved_changes = changes

    def _autosave(self) -> None:
        while not self._stop_autosave.wait(self.autosave_s):
            try:
                self.save()
            except OSError:
                log.exception("Salesforce sandbox autosave to %s failed", self.data_dir)

    # ------------------------------------------------------------------------------ data

    def seed(self, leads: int = 1000, seed: int = 7, member_share: float = 0.6) -> SeedSummary:
        """Add generated leads (with campaigns, memberships, tasks, events; accounts, contacts and
        opportunities the first time), created over the 90 days before today (the sandbox clock's day).
        Deterministic for a seed on a fresh sandbox and a given day."""
        return seed_org(self.store, leads, self.clock.now(), seed=seed,
                        integration_user_id=self.credentials.user_id, member_share=member_share)

    def insert(self, object_name: str, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Create records directly (validated like an API insert, no API budget used); returns their ids."""
        with self.store.transaction():
            return [self._local_writer.create(object_name, record) for record in records]

    def update(self, object_name: str, record_id: str, values: Mapping[str, Any]) -> None:
        self._local_writer.update(object_name, record_id, values)

    def write_counts(self, object_name: str | None = None) -> dict[WriteKey, int]:
        """Writes served over the API so far, per (object, record Id, field): REST sObjects, collections,
        composite (tree, batch, graph), Bulk API 1.0 and 2.0 ingest. A create counts each field the client
        set, a delete counts IsDeleted; a write an all-or-none request rolled back is not counted."""
        return self.writes.snapshot(object_name)

    def get(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        """A record's current values (deleted records too, with IsDeleted true), or None."""
        table = self.store.table(object_name)
        if table is None:
            raise KeyError(object_name)
        with self.store.lock:
            row = table.row(record_id)
            return None if row is None else table.record(row)

    def set_fields(self, object_name: str, record_ids: Sequence[str], **values: Any) -> None:
        """Set any fields, system fields included, without validation or a new SystemModstamp: e.g.
        `set_fields("Lead", ids, SystemModstamp="2026-11-23T10:00:00Z")` to build records that share
        a timestamp. Date-times are normalised to the wire format."""
        table = self.store.table(object_name)
        if table is None:
            raise KeyError(object_name)
        normalized = {}
        for name, value in values.items():
            spec = table.spec.field(name)
            if spec is None:
                raise KeyError(f"{object_name}.{name}")
            normalized[spec.name] = normalize_datetime(value) if spec.type == "datetime" and value else value
        with self.store.lock:
            for record_id in record_ids:
                row = table.row(record_id)
                if row is None:
                    raise KeyError(record_id)
                for name, value in normalized.items():
                    self.store.set_value(table, row, name, value)

    def convert_lead(self, lead_id: str, opportunity: Mapping[str, Any] | None = None,
                     converted_status: str = "Closed - Converted") -> dict[str, str | None]:
        """Convert a lead as a user does in the org (Salesforce's Lead Convert): an Account (the lead's
        company), a Contact and, unless `opportunity` is None, an Opportunity with those fields (Name,
        StageName, CloseDate, Amount…) are created, and the lead gets `converted_status`, IsConverted,
        ConvertedDate and the three Converted…Id fields, with a new SystemModstamp. Returns the new ids."""
        lead = self.get("Lead", lead_id)
        if lead is None or lead.get("IsDeleted"):
            raise KeyError(lead_id)
        if lead.get("IsConverted"):
            raise ValueError(f"lead {lead_id} is already converted")
        with self.store.transaction():
            writer = self._local_writer
            account = writer.create("Account", {"Name": lead.get("Company") or lead.get("LastName")})
            contact = writer.create("Contact", {"AccountId": account, "LastName": lead["LastName"],
                                                "FirstName": lead.get("FirstName"), "Email": lead.get("Email")})
            opp = None
            if opportunity is not None:
                opp = writer.create("Opportunity", {"AccountId": account, **opportunity})
            writer.update("Lead", lead_id, {"Status": converted_status})
            self.set_fields("Lead", [lead_id], IsConverted=True, ConvertedDate=self.clock.now().date().isoformat(),
                            ConvertedAccountId=account, ConvertedContactId=contact, ConvertedOpportunityId=opp)
        return {"account": account, "contact": contact, "opportunity": opp}

    def count(self, object_name: str, include_deleted: bool = False) -> int:
        return self.store.count(object_name, include_deleted)

    # ------------------------------------------------------------------------------ clients

    def issue_token(self) -> str:
        """A valid access token without a login round trip."""
        return self.sessions.issue(self.credentials.user_id).token

    def session(self):
        """A requests.Session that trusts the sandbox and routes *.salesforce.com to it."""
        return sandbox_session(self.url, self.ca_pem_path)

    def connect(self, flow: str = "client_credentials", version: str = DEFAULT_API_VERSION, session=None):
        """A ready `simple_salesforce.Salesforce` logged in to the sandbox with `flow`: client_credentials,
        jwt, password (OAuth username-password), soap (username + password + security token), or session
        (a token issued directly, no login; such a client cannot log in again after its session ends)."""
        http = session or self.session()
        if flow == "session":
            from simple_salesforce import Salesforce

            return Salesforce(instance_url=self.url, session_id=self.issue_token(), session=http,
                              version=version)
        return connect_simple_salesforce(self.url, self.ca_pem_path, self.credentials, flow,
                                         jwt_private_key=self.jwt_private_key_pem, version=version,
                                         session=http)
