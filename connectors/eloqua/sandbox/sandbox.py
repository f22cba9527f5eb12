"""An Oracle Eloqua instance on loopback, speaking Eloqua's wire format, for the demo and the tests.

    with EloquaSandbox(seed_contacts=1000) as eloqua:
        conn = eloqua.session()            # requests.Session with Basic auth; conn.base_url from /id
        conn.session.get(f"{conn.bulk}/contacts/fields")
        eloqua.throttle_next(2)            # the next two API calls answer 429
        eloqua.clock.advance(9 * 3600)     # bearer tokens issued now have expired

One server is both the login host (`/id`, `/auth/oauth2/token`) and the pod (`/API/REST/...`,
`/API/Bulk/2.0/...`); `/id` answers with this server's URL as `urls.base`. Generic faults (5xx, latency,
dropped connections) are `eloqua.faults`, as on every HttpSandbox.

Run it in the foreground for demos (state kept in DATA_DIR across restarts):
    python -m leadsync.connectors.eloqua.sandbox --data-dir DIR --port 8445 --seed-contacts 20000
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from types import TracebackType
from typing import Self

from leadsync.connectors.eloqua.sandbox import persistence
from leadsync.connectors.eloqua.sandbox.app import build_app
from leadsync.connectors.eloqua.sandbox.auth import EloquaUser
from leadsync.connectors.eloqua.sandbox.clock import SandboxClock
from leadsync.connectors.eloqua.sandbox.faults import DEFAULT_BAD_RECORD, DEFAULT_SYNC_FAILURE
from leadsync.connectors.eloqua.sandbox.schema import ContactField, CustomObject, CustomObjectField
from leadsync.connectors.eloqua.sandbox.session import EloquaConnection, basic_authorization, open_session
from leadsync.connectors.eloqua.sandbox.state import EloquaState
from leadsync.connectors.http_sandbox import FaultSwitches, HttpSandbox
from leadsync.connectors.sandbox_writes import WriteKey

DEMO_SITE, DEMO_USER, DEMO_PASSWORD = "LeadSyncDemo", "Demo.User", "demo-password"
DEMO_CLIENT_ID, DEMO_CLIENT_SECRET = "leadsync-demo-client", "leadsync-demo-secret"


class EloquaSandbox:
    def __init__(self, *, site: str = DEMO_SITE, username: str = DEMO_USER, password: str = DEMO_PASSWORD,
                 client_id: str = DEMO_CLIENT_ID, client_secret: str = DEMO_CLIENT_SECRET,
                 seed_contacts: int = 0, seed: int = 7, activities_per_contact: float = 2.0,
                 data_dir: Path | None = None, clock: SandboxClock | None = None, port: int = 0,
                 host: str = "127.0.0.1", tls: bool = False, pod_url: str | None = None,
                 sync_delay_s: float = 0.02, tls_dir: Path | None = None):
        self.site, self.username, self.password = site, username, password
        self.client_id, self.client_secret = client_id, client_secret
        self.clock = clock or SandboxClock()
        self.state = EloquaState(self.clock, site, [EloquaUser(314, username, password)],
                                 {client_id: client_secret})
        self.state.queue.pending_s = self.state.queue.active_s = sync_delay_s
        self.data_dir = Path(data_dir) if data_dir else None
        self.restored = bool(self.data_dir) and persistence.load(self.state, self.data_dir)
        if not self.restored and seed_contacts:
            self.state.seed(seed_contacts, seed, activities_per_contact)
        if self.data_dir:
            self.state.queue.on_finished = lambda _sync: self.save()
        self.pod_url = pod_url  # urls.base announced by /id; default: the URL the client reached us on
        self.http = HttpSandbox(build_app(self), port=port, host=host, tls=tls, tls_dir=tls_dir, name="eloqua")

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Login host and pod in one: call `{url}/id` to discover the base URL."""
        return self.http.url

    @property
    def ca_pem_path(self) -> Path | None:
        return self.http.ca_pem_path

    @property
    def faults(self) -> FaultSwitches:
        """Generic HTTP faults: fail_next(n, status=503), drop_next(n), latency_s."""
        return self.http.faults

    def start(self) -> Self:
        self.state.queue.start()
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()
        self.state.queue.stop()
        if self.data_dir:
            self.save()

    def save(self) -> None:
        """Write the state to data_dir (also done after every sync and on stop)."""
        if self.data_dir:
            persistence.save(self.state, self.data_dir)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ clients

    @property
    def authorization(self) -> str:
        """The Basic Authorization header value of the sandbox user (Site\\User:password)."""
        return basic_authorization(self.site, self.username, self.password)

    def session(self) -> EloquaConnection:
        """A logged-in requests.Session and the URLs discovered through /id."""
        return open_session(self.url, self.site, self.username, self.password, self.ca_pem_path)

    def authorization_code(self) -> str:
        """A code for the OAuth authorization-code grant, as if the user had accepted the app."""
        return self.state.auth.issue_authorization_code(self.username, self.client_id)

    # ------------------------------------------------------------------ data

    def seed(self, contacts: int, seed: int = 7, activities_per_contact: float = 2.0) -> None:
        """Replace the data with `contacts` generated contacts, 12 campaigns, activities and responses."""
        self.state.seed(contacts, seed, activities_per_contact)

    def add_contact_field(self, name: str, internal_name: str | None = None, data_type: str = "text",
                          **flags: bool) -> ContactField:
        """A new custom contact field (data_type: text, largeText, date, numeric, emailAddress)."""
        store = self.state.contacts
        internal = internal_name or "C_" + "".join(ch if ch.isalnum() else "_" for ch in name) + "1"
        new_id = max(f.id for f in store.fields) + 1
        return store.add_field(ContactField(new_id, name, internal, data_type, is_standard=False, **flags))

    def add_custom_object(self, name: str, fields: list[CustomObjectField | tuple], description: str = "",
                          unique_code_field: str | None = None) -> CustomObject:
        """A new custom object. Fields are CustomObjectField or (name, data_type[, unique]) tuples; their ids
        are assigned when given as tuples."""
        store = self.state.custom_objects
        next_field = store.next_field_id()
        built = []
        for spec in fields:
            if isinstance(spec, CustomObjectField):
                built.append(spec)
                continue
            field_name, data_type, *rest = spec
            unique = bool(rest and rest[0])
            internal = "".join(ch if ch.isalnum() else "_" for ch in field_name) + "1"
            built.append(CustomObjectField(next_field, field_name, internal, data_type, unique, unique))
            next_field += 1
        unique_id = next((f.id for f in built if f.name == unique_code_field or (unique_code_field is None
                                                                                  and f.unique)), None)
        return store.add(CustomObject(store.next_object_id(), name, description, built, unique_id))

    def contact(self, email: str) -> dict | None:
        """A contact's columns by email address (None when there is none), for assertions."""
        pos = int(self.state.contacts.positions_for_emails([email])[0])
        return self.state.contacts.row(pos) if pos >= 0 else None

    def contact_by_id(self, contact_id: int) -> dict | None:
        pos = int(self.state.contacts.positions_for_ids([contact_id])[0])
        return self.state.contacts.row(pos) if pos >= 0 else None

    def custom_object_records(self, object_id: int) -> list[dict]:
        """A custom object's records as {field name: value} plus id, contact_id, external_id."""
        data = self.state.custom_objects.get(object_id)
        names = {f.id: f.name for f in data.schema.fields}
        return [{"id": r.id, "contact_id": r.contact_id, "external_id": r.external_id,
                 **{names[k]: v for k, v in r.values.items()}} for r in data.records.values()]

    def write_counts(self, object_name: str | None = None) -> dict[WriteKey, int]:
        """Writes served over the API so far, per (object, record id, field). Bulk imports count each row
        applied under the definition's entity ("contacts", "accounts", "customObjects/<id>": the fields the row
        gave, by column; "activities": the activity type, on the contact); REST creates and updates count
        "contacts"/"accounts" per field set; contact list changes count "contactListMember" ("<list>:<contact>",
        "member"). Rejected rows and failed syncs count nothing."""
        return self.state.writes.snapshot(object_name)

    # ------------------------------------------------------------------ Eloqua fault switches

    def expire_tokens(self, refresh_tokens: bool = False) -> None:
        """End every OAuth access token now (and refresh tokens too, if asked)."""
        self.state.auth.expire_access_tokens()
        if refresh_tokens:
            self.state.auth.expire_refresh_tokens()

    def throttle_next(self, times: int = 1) -> None:
        """The next `times` API calls answer 429 Too Many Requests."""
        self.state.faults.throttle_next(times)

    def rate_limit(self, capacity: int | None, per_second: float = 1.0) -> None:
        """Throttle like Eloqua's leaky bucket: at most `capacity` calls in the bucket, draining per_second."""
        self.state.faults.rate_limit(capacity, per_second)

    def fail_next_sync(self, message: str = DEFAULT_SYNC_FAILURE, times: int = 1) -> None:
        """The next sync ends with status `error`; its logs carry `message`."""
        self.state.faults.fail_next_sync(message, times)

    def reject_next_import_of(self, email: str, message: str = DEFAULT_BAD_RECORD[1],
                              status_code: str = DEFAULT_BAD_RECORD[0]) -> None:
        """The next import sync that touches `email` rejects that row with `message`."""
        self.state.faults.reject_next_import_of(email, message, status_code)

    def hold_syncs(self) -> None:
        """New syncs stay `pending` until release_syncs()."""
        self.state.queue.hold()

    def release_syncs(self) -> None:
        self.state.queue.release()

    def wait_for_syncs(self, timeout: float = 30) -> bool:
        return self.state.queue.wait_idle(timeout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the leadsync Eloqua sandbox in the foreground (Ctrl-C stops).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8445)
    parser.add_argument("--data-dir", type=Path, help="keep the state here across restarts")
    parser.add_argument("--seed-contacts", type=int, default=0, help="generate N contacts (unless restored)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--site", default=DEMO_SITE)
    parser.add_argument("--user", default=DEMO_USER)
    parser.add_argument("--password", default=DEMO_PASSWORD)
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA")
    args = parser.parse_args(argv)

    sandbox = EloquaSandbox(site=args.site, username=args.user, password=args.password, port=args.port,
                            host=args.host, tls=args.tls, data_dir=args.data_dir, seed_contacts=args.seed_contacts,
                            seed=args.seed)
    if args.data_dir and not sandbox.restored:
        sandbox.save()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with sandbox:
        state = "restored from " + str(args.data_dir) if sandbox.restored else "new"
        print(f"Eloqua sandbox ({state}): {len(sandbox.state.contacts):,} contacts, "
              f"{len(sandbox.state.campaigns)} campaigns, {sandbox.state.activities.num_rows:,} activities")
        print(f"login host:     {sandbox.url}/id")
        print(f"OAuth token:    {sandbox.url}/auth/oauth2/token")
        print(f"REST API:       {sandbox.url}/API/REST/1.0/  and  /API/REST/2.0/")
        print(f"Bulk API:       {sandbox.url}/API/Bulk/2.0/")
        print(f"site / user:    {args.site} / {args.user}")
        print(f"password:       {args.password}")
        print(f"OAuth client:   {DEMO_CLIENT_ID} / {DEMO_CLIENT_SECRET}")
        print(f"Authorization:  {sandbox.authorization}")
        if sandbox.ca_pem_path:
            print(f"CA certificate: {sandbox.ca_pem_path}")
        print(f"try: curl -H 'Authorization: {sandbox.authorization}' {sandbox.url}/id")
        print("Ctrl-C to stop", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            print("stopping")

