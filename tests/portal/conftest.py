"""Portal fixtures: the lifecycle fixtures (partners, a source mapping, a real SMTP server on loopback, the
partner-response app — which mounts the portal — served by uvicorn on loopback, on DuckDB and on PostgreSQL),
and a `portal` helper
that signs a member in from the link in the email the SMTP server received.

Every test gets a store as fresh as a new one (fresh_stores.py: a copy of a DuckDB file made once, a PostgreSQL
database emptied back to its just-created state); `shared_served` is one served World per module and store,
for tests that only add to it."""

from __future__ import annotations

import importlib.util
import re
import sys
from contextlib import ExitStack
from pathlib import Path

import fresh_stores
import httpx
import pytest
from databases import fresh_database, postgres_unreachable
from wider_scope import wrapped

from tests.portal.pages import csrf_of

# The lifecycle fixtures, loaded under a name of their own (test folders have no __init__ files).
_spec = importlib.util.spec_from_file_location("lifecycle_fixtures", Path(__file__).parents[1] / "lifecycle/conftest.py")
lifecycle_fixtures = importlib.util.module_from_spec(_spec)
sys.modules["lifecycle_fixtures"] = lifecycle_fixtures
_spec.loader.exec_module(lifecycle_fixtures)
smtp_server = lifecycle_fixtures.smtp_server
source = lifecycle_fixtures.source
partners = lifecycle_fixtures.partners
served = lifecycle_fixtures.served
T0 = lifecycle_fixtures.T0
# tests/conftest.py's stores, made cheaper (fresh_stores.py)
duckdb_template, duckdb_url = fresh_stores.duckdb_template, fresh_stores.duckdb_url
postgres_store, postgres_url = fresh_stores.postgres_store, fresh_stores.postgres_url


@pytest.fixture
def make_served(store_url, partners, source, smtp_server, monkeypatch):
    """make_served(clock=None, **settings overrides) -> World whose web app (with the portal) is served on
    loopback, over each store: every portal test runs on DuckDB and on PostgreSQL (`store_url`)."""
    yield from lifecycle_fixtures.served_worlds(store_url, partners, source, smtp_server, monkeypatch)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def shared_served(request, tmp_path_factory, duckdb_template):
    """One served World per module and store (the lifecycle fixtures' own bodies, at module scope): for tests
    that only add leads and sessions to it and assert on their own."""
    with ExitStack() as stack:
        if request.param == "duckdb":
            url = fresh_stores.duckdb_copy(duckdb_template, tmp_path_factory.mktemp("shared-store"))
        else:
            reason = postgres_unreachable()
            if reason:
                pytest.skip(reason)
            url = stack.enter_context(fresh_database())
        monkeypatch = stack.enter_context(pytest.MonkeyPatch.context())
        smtp = stack.enter_context(wrapped(lifecycle_fixtures.smtp_server.__wrapped__()))
        make = stack.enter_context(wrapped(lifecycle_fixtures.served_worlds(
            url, lifecycle_fixtures.partners.__wrapped__(), lifecycle_fixtures.source.__wrapped__(), smtp,
            monkeypatch)))
        yield make()


def sign_in_link(mail) -> str:
    found = re.search(r"(http://\S+/portal/sign-in/link\?t=\S+)", mail.text)
    assert found, f"no sign-in link in:\n{mail.text}"
    return found.group(1)


class PortalClient:
    """An httpx client of the served portal, with its own cookie jar (one browser)."""

    def __init__(self, world):
        self.world = world
        self.http = httpx.Client(base_url=world.base_url, trust_env=False, timeout=10)

    def csrf(self, path: str = "/portal/sign-in") -> str:
        return csrf_of(self.http.get(path).text)

    def request_link(self, email: str) -> httpx.Response:
        return self.http.post("/portal/sign-in", data={"email": email, "csrf": self.csrf()})

    def latest_link(self, email: str) -> str:
        mails = [m for m in self.world.inbox.to(email) if "/portal/sign-in/link" in m.text]
        assert mails, f"no sign-in email to {email}"
        return sign_in_link(mails[-1])

    def use_link(self, link: str) -> httpx.Response:
        page = self.http.get(link)
        token = re.search(r'name="t" value="([^"]+)"', page.text)
        assert token, page.text
        return self.http.post("/portal/sign-in/link", data={"t": token.group(1), "csrf": csrf_of(page.text)})

    def sign_in(self, email: str) -> PortalClient:
        assert self.request_link(email).status_code == 200
        done = self.use_link(self.latest_link(email))
        assert done.status_code == 303 and done.headers["location"] == "/portal/leads", done.text
        return self

    def post(self, path: str, data: dict | list, csrf: bool = True) -> httpx.Response:
        items = list(data.items()) if isinstance(data, dict) else list(data)
        if csrf:
            items.append(("csrf", self.csrf("/portal/leads")))
        return self.http.post(path, content=httpx.QueryParams(items).__str__().encode(),
                              headers={"content-type": "application/x-www-form-urlencoded"})

    def close(self) -> None:
        self.http.close()


def _sessions(default_world):
    clients: list[PortalClient] = []

    def make(world=None) -> PortalClient:
        clients.append(PortalClient(world or default_world))
        return clients[-1]
    yield make
    for c in clients:
        c.close()


@pytest.fixture
def browser_session(served):
    """browser_session(world=served) -> a new PortalClient of the served portal (closed at the end)."""
    yield from _sessions(served)


@pytest.fixture
def shared_session(shared_served):
    """shared_session() -> a new PortalClient of the module's `shared_served` portal (closed at the end)."""
    yield from _sessions(shared_served)


@pytest.fixture(scope="module")
def module_sessions(shared_served):
    """module_sessions() -> a new PortalClient of `shared_served` that lasts the module (closed at its end)."""
    yield from _sessions(shared_served)
