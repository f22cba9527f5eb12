"""Lifecycle fixtures: partners and a source mapping built in the test, a real SMTP server on loopback
(aiosmtpd), the partner-response web app served by uvicorn on loopback, and a `world` that puts leads in
the store and routes them. Folders here have no __init__ files, so helpers are fixtures."""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from aiosmtpd.controller import Controller
from leadsync.connectors.http_sandbox import HttpSandbox
from leadsync.connectors.loopback_ports import free_port

from leadsync.assign import route_new_leads
from leadsync.config.partners import PartnersConfig
from leadsync.config.schema import SOURCE_MODELS
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.settings import LifecycleSettings
from leadsync.lifecycle.smtp import Mailer
from leadsync.lifecycle.web import create_app
from leadsync.store import LeadStore, tables
from leadsync.writeback.events import fields_of

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SECRET = "test-secret-0123456789-abcdefghij"

PARTNERS = {
    "partners": [
        {"id": "north", "name": "Northwind Networks", "countries": ["US", "FR"],
         "reps": [{"name": "Nora West", "email": "nora@northwind.example"}],
         "users": [{"name": "Lead Desk", "email": "leads@northwind.example"},
                   {"name": "Ops", "email": "ops@northwind.example"}]},
        {"id": "blue", "name": "Blue Peak Security", "countries": ["GB", "FR"],
         "users": [{"name": "Sales Desk", "email": "sales@bluepeak.example", "default": False},
                   {"name": "Dana Reyes", "email": "dana@bluepeak.example"}]},
        {"id": "maple", "name": "Maple Systems", "countries": ["CA"], "auto_accept": True,
         "users": [{"name": "Maple Desk", "email": "desk@maple.example"}]},
        {"id": "cascade", "name": "Cascade Secure", "countries": ["DE"], "closed_loop": False,
         "users": [{"name": "Inbound", "email": "inbound@cascade.example"}]},
        {"id": "lonely", "name": "Lonely IT", "countries": ["JP"]},
    ],
    "routing": {"accept_within_days": 5, "rule_groups": [
        {"name": "country", "rules": [{"field": "country", "op": "in", "partner_attribute": "countries"}]}]},
}


def settings_dict(smtp_port: int, base_url: str) -> dict:
    data = yaml.safe_load((REPO / "mappings/lifecycle.yaml").read_text())
    data["smtp"].update(host="127.0.0.1", port=smtp_port, security="plain", retries=0, timeout_s=5)
    data["web"].update(base_url=base_url, secret_env="LEADSYNC_TEST_LIFECYCLE_SECRET")
    data["closed_loop"]["stale_after_days"] = 0
    return data


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.message.get_body(("html",)).get_content()

    def link(self, action: str) -> str:
        found = re.search(rf"(http://\S+/lead/{action}\?t=\S+)", self.text)
        assert found, f"no {action} link in:\n{self.text}"
        return found.group(1)


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


class PickyInbox(Inbox):
    """An Inbox whose server refuses recipients nobody@… for good (550) and busy@… for now (450)."""

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        if address.startswith("busy@"):
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def _served(inbox: Inbox):
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    controller.inbox = inbox
    yield controller
    controller.stop()


@pytest.fixture
def smtp_server():
    """A plain SMTP server on loopback; `.inbox.messages` holds what it received."""
    yield from _served(Inbox())


@pytest.fixture
def picky_smtp_server():
    """smtp_server refusing some recipients (PickyInbox)."""
    yield from _served(PickyInbox())


@pytest.fixture
def source():
    """The demo SFTP mapping plus internal-only custom fields (lead_score, internal_note) and a shared one."""
    data = yaml.safe_load((REPO / "mappings/sources/sftp_demo.yaml").read_text())
    data["fields"].append({"column": "Lead Score", "field": "lead_score", "type": "number", "shared": False})
    data["fields"].append({"column": "Internal Note", "field": "internal_note", "shared": False})
    data["fields"].append({"column": "Industry", "field": "industry", "label": "Industry"})
    return SOURCE_MODELS["sftp"].model_validate(data)


@pytest.fixture
def partners() -> PartnersConfig:
    return PartnersConfig.model_validate(PARTNERS)


@dataclass
class World:
    ctx: Lifecycle
    smtp: Controller | None
    source: object
    base_url: str
    mailer: Mailer
    counter: list = field(default_factory=lambda: [0])

    @property
    def store(self) -> LeadStore:
        return self.ctx.store

    @property
    def inbox(self) -> Inbox:
        return self.smtp.inbox

    def add_leads(self, records: list[dict], at: datetime = T0, route: bool = True) -> list[str]:
        """Store leads (standard fields as columns, lead_score/industry as attributes) and route them."""
        self.counter[0] += 1
        batch = f"b{self.counter[0]}"
        rows = []
        for i, rec in enumerate(records):
            rec = dict(rec)
            attrs = {k: rec.pop(k) for k in ("lead_score", "internal_note", "industry") if k in rec}
            rows.append({"email": f"{batch}-{i}@example.com", **rec,
                         "attributes": json.dumps(attrs) if attrs else None})
        frame = pd.DataFrame(rows)
        n = len(frame)
        frame["lead_id"] = [f"sftp_demo-{batch}-{i:04d}" for i in range(n)]
        frame["source"], frame["batch_id"], frame["row_number"] = "sftp_demo", batch, range(1, n + 1)
        frame["lead_key"] = frame["lead_id"]
        frame["received_at"] = frame["updated_at"] = at
        with self.store.begin() as conn:
            self.store.insert_frame(conn, tables.leads, frame)
        if route:
            self.route(at)
        return frame["lead_id"].tolist()

    def route(self, at: datetime = T0) -> None:
        route_new_leads(self.source, self.ctx.partners, self.store, at)

    def assignment(self, lead_id: str) -> dict:
        with self.store.begin() as conn:
            return dict(conn.execute(sa.select(tables.assignments).where(tables.assignments.c.lead_id == lead_id))
                        .mappings().all()[0])

    def frame(self, table: sa.Table, *where) -> pd.DataFrame:
        with self.store.begin() as conn:
            return self.store.read_frame(conn, sa.select(table).where(*where) if where else sa.select(table))

    def outbox(self, lead_id: str | None = None) -> pd.DataFrame:
        o = tables.writeback_outbox
        frame = self.frame(o, o.c.lead_id == lead_id) if lead_id else self.frame(o)
        frame["data"] = [fields_of(r) for r in frame.to_dict("records")]
        return frame.sort_values(["created_at", "event_id"]).reset_index(drop=True)

    def events(self, lead_id: str) -> pd.DataFrame:
        e = lt.lifecycle_events
        return self.frame(e, e.c.lead_id == lead_id).sort_values(["occurred_at", "event_id"]).reset_index(drop=True)

    def wait_for_mail(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.inbox.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)


def _world(store_url: str, partners: PartnersConfig, source, smtp_port: int, base_url: str, overrides: dict,
           smtp=None) -> World:
    data = settings_dict(smtp_port, base_url)
    for key, value in overrides.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    settings = LifecycleSettings.model_validate(data)
    ctx = Lifecycle(LeadStore(store_url), partners, settings, {"sftp_demo": source})
    return World(ctx, smtp, source, base_url, Mailer(settings.smtp))


@pytest.fixture
def make_world(duckdb_url, partners, source, smtp_server, monkeypatch):
    """make_world(**settings overrides) -> World on DuckDB with the SMTP server (no web app)."""
    monkeypatch.setenv("LEADSYNC_TEST_LIFECYCLE_SECRET", SECRET)

    def make(**overrides) -> World:
        return _world(duckdb_url, partners, source, smtp_server.port, "http://127.0.0.1:9", overrides, smtp_server)
    return make


@pytest.fixture
def world(make_world) -> World:
    return make_world()


@pytest.fixture
def store_world(store_url, partners, source, monkeypatch) -> World:
    """A World on each store (DuckDB, Postgres), without SMTP or web server: for store-only behaviour."""
    monkeypatch.setenv("LEADSYNC_TEST_LIFECYCLE_SECRET", SECRET)
    return _world(store_url, partners, source, free_port(), "http://127.0.0.1:9", {})


def served_worlds(store_url: str, partners, source, smtp_server, monkeypatch):
    """The make_served factory over one store (a generator: stops the servers when it resumes)."""
    monkeypatch.setenv("LEADSYNC_TEST_LIFECYCLE_SECRET", SECRET)
    servers: list[HttpSandbox] = []

    def make(clock=None, **overrides) -> World:
        port = free_port()
        w = _world(store_url, partners, source, smtp_server.port, f"http://127.0.0.1:{port}", overrides, smtp_server)
        app = create_app(w.store, w.ctx.partners, w.ctx.settings, w.ctx.sources, clock=clock)
        server = HttpSandbox(app, port=port, name="lifecycle-web").start()
        servers.append(server)
        return w
    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def make_served(duckdb_url, partners, source, smtp_server, monkeypatch):
    """make_served(clock=None, **settings overrides) -> World whose web app is served on loopback."""
    yield from served_worlds(duckdb_url, partners, source, smtp_server, monkeypatch)


@pytest.fixture
def served(make_served) -> World:
    return make_served()
