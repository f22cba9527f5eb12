"""Shared fixtures: a seeded Eloqua sandbox on loopback, a logged-in session, and Bulk API helpers.

Helpers are fixtures rather than imports because test folders here have no __init__ files.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
import requests

from leadsync.connectors.eloqua.sandbox import EloquaSandbox
from leadsync.connectors.eloqua.sandbox.session import EloquaConnection

SEEDED = 300


@pytest.fixture
def eloqua():
    with EloquaSandbox(seed_contacts=SEEDED, sync_delay_s=0.005) as sandbox:
        yield sandbox


@pytest.fixture
def conn(eloqua) -> EloquaConnection:
    return eloqua.session()


@dataclass
class BulkClient:
    """The Bulk API calls a connector makes, against `conn.bulk`."""

    conn: EloquaConnection

    @property
    def http(self) -> requests.Session:
        return self.conn.session

    def url(self, path: str) -> str:
        return f"{self.conn.bulk}{path}"

    def define(self, entity: str, kind: str, body: dict) -> dict:
        answer = self.http.post(self.url(f"/{entity}/{kind}"), json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def sync(self, definition_uri: str) -> dict:
        answer = self.http.post(self.url("/syncs"), json={"syncedInstanceUri": definition_uri})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def wait(self, sync_uri: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            body = self.http.get(self.url(sync_uri)).json()
            if body["status"] not in ("pending", "active"):
                return body
            assert time.monotonic() < deadline, f"sync {sync_uri} still {body['status']}"
            time.sleep(0.01)

    def export(self, fields: dict, filter: str | None = None, entity: str = "contacts", **extra) -> str:
        """Define, sync and wait; returns the finished sync's uri."""
        body = {"name": "test export", "fields": fields, **extra}
        if filter:
            body["filter"] = filter
        sync = self.sync(self.define(entity, "exports", body)["uri"])
        finished = self.wait(sync["uri"])
        assert finished["status"] == "success", finished
        return sync["uri"]

    def data(self, sync_uri: str, **params) -> requests.Response:
        return self.http.get(self.url(f"{sync_uri}/data"), params=params)

    def all_rows(self, sync_uri: str, limit: int = 1000) -> list[dict]:
        rows, offset = [], 0
        while True:
            page = self.data(sync_uri, limit=limit, offset=offset).json()
            rows += page["items"]
            offset += page["count"]
            if not page["hasMore"]:
                return rows

    def import_rows(self, fields: dict, identifier: str, rows: list[dict], entity: str = "contacts",
                    **extra) -> dict:
        """Define an import, upload the rows, sync and wait; returns the finished sync."""
        definition = self.define(entity, "imports", {"name": "test import", "fields": fields,
                                                      "identifierFieldName": identifier, **extra})
        upload = self.http.post(self.url(f"{definition['uri']}/data"), json=rows)
        assert upload.status_code == 204, upload.text
        return self.wait(self.sync(definition["uri"])["uri"])

    def rejects(self, sync_uri: str) -> list[dict]:
        return self.http.get(self.url(f"{sync_uri}/rejects")).json()["items"]

    def logs(self, sync_uri: str) -> list[dict]:
        return self.http.get(self.url(f"{sync_uri}/logs")).json()["items"]


@pytest.fixture
def bulk(conn) -> BulkClient:
    return BulkClient(conn)


@pytest.fixture
def bulk_client():
    """bulk_client(conn) -> BulkClient, for sandboxes a test starts itself."""
    return BulkClient


def contact_field(name: str) -> str:
    return "{{Contact.Field(%s)}}" % name  # noqa: UP031 - EML's braces


@pytest.fixture
def field():
    """field("C_EmailAddress") -> "{{Contact.Field(C_EmailAddress)}}"."""
    return contact_field
