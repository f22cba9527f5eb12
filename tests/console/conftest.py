"""Console fixtures: the repo's mappings in a temporary project (tests/conftest.py `project`) with the SFTP
source pointed at a real SFTP sandbox, the SMTP sandbox receiving sign-in emails, a console.yaml written by
the test, and the partner-response app (which mounts /portal and /console) served by uvicorn on loopback."""

from __future__ import annotations

import email
import email.policy
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from console_data import SUPPLIER, csrf_of
from leadsync.connectors.http_sandbox import HttpSandbox
from leadsync.connectors.loopback_ports import free_port
from leadsync.connectors.sftp.sandbox import SftpSandbox

from leadsync.config.loader import ProjectPaths, project_paths
from leadsync.console.config import ConsoleSetup, load_console
from leadsync.lifecycle.context import Lifecycle, load_lifecycle
from leadsync.lifecycle.web import create_app
from leadsync.pull.manual_entry import add_lead
from leadsync.store import LeadStore, tables

PASSWORD = "s3cret-for-tests"

# tests/conftest.py's stores, made cheaper: the portal's fresh_stores.py (loaded by its path, under its own name)
if "fresh_stores" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("fresh_stores", Path(__file__).parents[1] / "portal/fresh_stores.py")
    sys.modules["fresh_stores"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["fresh_stores"])
fresh_stores = sys.modules["fresh_stores"]
duckdb_template, duckdb_url = fresh_stores.duckdb_template, fresh_stores.duckdb_url
postgres_store, postgres_url = fresh_stores.postgres_store, fresh_stores.postgres_url


@pytest.fixture
def sftp(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"demo": PASSWORD}) as server:
        yield server


@pytest.fixture
def console_project(project, sftp, monkeypatch) -> Path:
    known_hosts = sftp.write_known_hosts(project / "known_hosts")
    path = project / "mappings/sources/sftp_demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["connection"].update(port=sftp.port, known_hosts=str(known_hosts))
    # an internal-only custom field, to search and segment by
    data["fields"].append({"column": "Lead Score", "field": "lead_score", "shared": False})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", PASSWORD)
    return project


@dataclass
class ConsoleWorld:
    ctx: Lifecycle
    paths: ProjectPaths
    base_url: str
    mail: object  # SmtpSandbox
    sftp: SftpSandbox

    @property
    def store(self) -> LeadStore:
        return self.ctx.store

    def add(self, values: dict, by: str = "seed") -> str:
        entry = add_lead(self.paths, self.store, "sftp_demo", values, by, write_back=False)
        assert entry.lead_id, entry.reason
        return entry.lead_id

    def assignment(self, lead_id: str) -> dict:
        a = tables.assignments
        with self.store.begin() as conn:
            return dict(conn.execute(sa.select(a).where(a.c.lead_id == lead_id)).mappings().one())

    def mails_to(self, address: str) -> list[email.message.EmailMessage]:
        found = []
        for path in self.mail.messages():
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address in msg["To"]:
                found.append(msg)
        return found

    def sign_in_link(self, address: str) -> str:
        mails = self.mails_to(address)
        assert mails, f"no email to {address}"
        text = mails[-1].get_body(("plain",)).get_content()
        found = re.search(r"http://\S+(/console/sign-in/link\?t=\S+)", text)
        assert found, text
        return found.group(1)


@pytest.fixture
def make_console(console_project, duckdb_url, mail_sandbox, sftp):
    """make_console(sso_proxies=None) -> ConsoleWorld served on loopback; console.yaml lists SUPPLIER and,
    with `sso_proxies`, trusts the X-Forwarded-Email header from those networks."""
    servers: list[HttpSandbox] = []

    def make(sso_proxies: list[str] | None = None) -> ConsoleWorld:
        port = free_port()
        mappings = console_project / "mappings"
        lifecycle = mappings / "lifecycle.yaml"
        data = yaml.safe_load(lifecycle.read_text())
        data["web"]["base_url"] = f"http://127.0.0.1:{port}"
        lifecycle.write_text(yaml.safe_dump(data, sort_keys=False))
        console = {"users": [{"email": SUPPLIER, "name": "Pat Ops"}]}
        if sso_proxies:
            console["sso"] = {"header": "X-Forwarded-Email", "trusted_proxies": sso_proxies}
        (mappings / "console.yaml").write_text(yaml.safe_dump(console))
        paths = project_paths(mappings)
        ctx = load_lifecycle(paths, LeadStore(duckdb_url))
        setup: ConsoleSetup = load_console(paths)
        app = create_app(ctx.store, ctx.partners, ctx.settings, ctx.sources, console=setup)
        servers.append(HttpSandbox(app, port=port, name="console-web").start())
        return ConsoleWorld(ctx, paths, f"http://127.0.0.1:{port}", mail_sandbox, sftp)
    yield make
    for server in servers:
        server.stop()


class ConsoleClient:
    """An httpx client of the served app with its own cookie jar (one browser)."""

    def __init__(self, world: ConsoleWorld, headers: dict | None = None):
        self.world = world
        self.http = httpx.Client(base_url=world.base_url, trust_env=False, timeout=20, headers=headers or {})

    def csrf(self, path: str = "/console/sign-in") -> str:
        return csrf_of(self.http.get(path).text)

    def sign_in(self, address: str = SUPPLIER) -> ConsoleClient:
        sent = self.http.post("/console/sign-in", data={"email": address, "csrf": self.csrf()})
        assert sent.status_code == 200 and 'id="sent"' in sent.text, sent.text
        page = self.http.get(self.world.sign_in_link(address))
        token = re.search(r'name="t" value="([^"]+)"', page.text)
        assert token, page.text
        done = self.http.post("/console/sign-in/link", data={"t": token.group(1), "csrf": csrf_of(page.text)})
        assert done.status_code == 303 and done.headers["location"] == "/console/queues", done.text
        return self

    def post(self, path: str, data: list[tuple[str, str]] | dict, csrf: str | None = "page") -> httpx.Response:
        items = list(data.items()) if isinstance(data, dict) else list(data)
        if csrf == "page":
            items.append(("csrf", self.csrf("/console/queues")))
        elif csrf is not None:
            items.append(("csrf", csrf))
        return self.http.post(path, content=str(httpx.QueryParams(items)).encode(),
                              headers={"content-type": "application/x-www-form-urlencoded"})

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def clients():
    made: list[ConsoleClient] = []

    def make(world: ConsoleWorld, headers: dict | None = None) -> ConsoleClient:
        made.append(ConsoleClient(world, headers))
        return made[-1]
    yield make
    for c in made:
        c.close()
