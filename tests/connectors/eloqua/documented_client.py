"""A client of Eloqua's APIs written from Oracle's documented flow, nothing from leadsync: Basic
`Site\\User:password`, `/id` for the REST and Bulk base URLs, then Bulk exports and syncs. Imported by name by the
sandbox tests that check what another tool sees (pytest puts this folder on sys.path)."""

from __future__ import annotations

import base64

import requests

from leadsync.connectors.eloqua.sandbox import EloquaSandbox


class DocumentedClient:
    """Oracle's steps: Basic `Site\\User:password`, `/id`, then REST and Bulk calls."""

    def __init__(self, sandbox: EloquaSandbox):
        self.sandbox = sandbox
        self.http = requests.Session()
        self.http.trust_env = False
        token = base64.b64encode(f"{sandbox.site}\\{sandbox.username}:{sandbox.password}".encode()).decode()
        self.http.headers.update({"Authorization": f"Basic {token}", "Accept": "application/json"})
        apis = self.http.get(f"{sandbox.url}/id").json()["urls"]["apis"]["rest"]
        self.rest = apis["standard"].replace("{version}", "1.0").rstrip("/")
        self.bulk = apis["bulk"].replace("{version}", "2.0").rstrip("/")

    def sync(self, definition_uri: str) -> dict:
        created = self.http.post(f"{self.bulk}/syncs", json={"syncedInstanceUri": definition_uri})
        assert created.status_code == 201, created.text
        assert self.sandbox.wait_for_syncs(10)
        return self.http.get(f"{self.bulk}{created.json()['uri']}").json()

    def export(self, entity: str, fields: dict, filter: str | None = None) -> list[dict]:
        created = self.http.post(f"{self.bulk}/{entity}/exports", json={
            "name": "read back", "fields": fields, **({"filter": filter} if filter else {})})
        assert created.status_code == 201, created.text
        sync = self.sync(created.json()["uri"])
        assert sync["status"] == "success"
        return self.http.get(f"{self.bulk}{sync['uri']}/data", params={"limit": 50000}).json()["items"]
