"""The Eloqua sandbox as a client written from Oracle's documented flow sees it (issue 18): Basic auth as
`Site\\User:password` (or OAuth: authorize, code, refresh), base URL from login's `/id`, Bulk API 2.0 fields
discovery (contacts, accounts, activities per type, custom objects), then exports that use what discovery
returned, including linked-account statements (`{{Contact.Account.Field(M_CompanyName)}}`) in a contact
export and an account export."""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from leadsync.connectors.eloqua.sandbox import EloquaSandbox


class DocumentedBulkClient:
    """Oracle's steps, nothing from leadsync: /id, then {bulk}/…/fields, exports, syncs, sync data."""

    def __init__(self, login_url: str, site: str, user: str, password: str, ca: str):
        self.http = requests.Session()
        self.http.trust_env, self.http.verify = False, ca
        token = base64.b64encode(f"{site}\\{user}:{password}".encode()).decode()
        self.http.headers.update({"Authorization": f"Basic {token}", "Accept": "application/json"})
        identity = self.http.get(f"{login_url}/id")
        identity.raise_for_status()
        self.bulk = identity.json()["urls"]["apis"]["rest"]["bulk"].replace("{version}", "2.0").rstrip("/")

    def get(self, path: str, **params) -> requests.Response:
        return self.http.get(self.bulk + path, params=params)

    def listing(self, path: str, **params) -> list[dict]:
        items, offset = [], 0
        while True:
            page = self.get(path, limit=1000, offset=offset, **params).json()
            items += page["items"]
            if not page["hasMore"]:
                return items
            offset += page["count"]

    def export(self, entity: str, fields: dict, filter: str | None = None) -> list[dict]:
        definition = {"name": "documented flow", "fields": fields, **({"filter": filter} if filter else {})}
        created = self.http.post(f"{self.bulk}/{entity}/exports", json=definition)
        assert created.status_code == 201, created.text
        sync = self.http.post(f"{self.bulk}/syncs", json={"syncedInstanceUri": created.json()["uri"]})
        assert sync.status_code == 201, sync.text
        uri, deadline = sync.json()["uri"], time.monotonic() + 10
        while (status := self.get(uri).json()["status"]) in ("pending", "active"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert status == "success"
        return self.listing(f"{uri}/data")


@pytest.fixture(scope="module")
def client():
    with EloquaSandbox(seed_contacts=60, sync_delay_s=0.005, tls=True) as sandbox:
        yield sandbox, DocumentedBulkClient(sandbox.url, sandbox.site, sandbox.username, sandbox.password,
                                            str(sandbox.ca_pem_path))


def test_contact_export_with_linked_account_statements_from_discovered_fields(client):
    sandbox, eloqua = client
    contact = {f["internalName"]: f["statement"] for f in eloqua.listing("/contacts/fields")}
    account = {f["internalName"]: f["statement"] for f in eloqua.listing("/accounts/fields")}
    assert account["M_CompanyName"] == "{{Account.Field(M_CompanyName)}}"
    linked = {name: statement.replace("{{Account.", "{{Contact.Account.") for name, statement in account.items()}

    rows = eloqua.export("contacts", {"Email": contact["C_EmailAddress"], "Company": contact["C_Company"],
                                      "AccountName": linked["M_CompanyName"], "AccountCity": linked["M_City"],
                                      "AccountId": linked["M_CompanyID"]})

    assert len(rows) == 60
    assert all(r["AccountName"] == r["Company"] for r in rows)
    by_company: dict[str, set] = {}
    for r in rows:
        by_company.setdefault(r["Company"], set()).add((r["AccountCity"], r["AccountId"]))
    assert all(len(values) == 1 for values in by_company.values())  # one account per company
    first = min((sandbox.contact(r["Email"]) for r in rows if r["Company"] == rows[0]["Company"]),
                key=lambda c: int(c["id"]))
    assert rows[0]["AccountCity"] == (first["C_City"] or "")


def test_activity_fields_per_type_drive_an_activity_export(client):
    _, eloqua = client
    fields = eloqua.listing("/activities/fields", activityType="EmailOpen")
    every = eloqua.listing("/activities/fields")

    assert {"{{Activity.Id}}", "{{Activity.Field(EmailAddress)}}", "{{Activity.Field(IpAddress)}}"} <= {
        f["statement"] for f in fields}
    assert all("EmailOpen" in f["activityTypes"] for f in fields) and len(every) > len(fields)
    rows = eloqua.export("activities", {f["internalName"]: f["statement"] for f in fields},
                         filter="'{{Activity.Type}}' = 'EmailOpen'")
    assert rows and all(r["ActivityType"] == "EmailOpen" for r in rows)


def test_an_unknown_activity_type_is_a_validation_error(client):
    _, eloqua = client
    response = eloqua.get("/activities/fields", activityType="Telepathy")

    assert response.status_code == 400
    assert response.json()["failures"][0]["field"] == "activityType"


def test_custom_objects_listing_leads_to_their_fields(client):
    _, eloqua = client
    objects = eloqua.listing("/customObjects")

    assert [o["uri"] for o in objects] == ["/customObjects/1", "/customObjects/2"]
    assert objects[0]["name"] == "LeadSync Opportunity" and objects[0]["uniqueFieldUri"].startswith("/customObjects/1/")
    fields = eloqua.listing(f"{objects[0]['uri']}/fields")
    assert objects[0]["uniqueFieldUri"] in {f.get("uri") for f in fields}
    assert eloqua.get("/customObjects/99").status_code == 404


@pytest.mark.parametrize("path, params", [("/accounts/fields", {}), ("/activities/fields", {"activityType": "FormSubmit"}),
                                          ("/customObjects", {})])
def test_discovery_listings_answer_200_json_with_the_bulk_paging_envelope(client, path, params):
    _, eloqua = client
    response = eloqua.get(path, limit=2, offset=0, **params)

    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert {"items", "totalResults", "limit", "offset", "count", "hasMore"} <= body.keys()
    assert body["count"] == len(body["items"]) == 2 and body["hasMore"] is (body["totalResults"] > 2)
    assert all(item["uri"].startswith("/") for item in body["items"])


def test_account_export_from_discovered_fields_matches_the_linked_statements(client):
    _, eloqua = client
    account = {f["internalName"]: f["statement"] for f in eloqua.listing("/accounts/fields")}
    contacts = eloqua.export("contacts", {"Company": "{{Contact.Account.Field(M_CompanyName)}}",
                                          "AccountId": "{{Contact.Account.Field(M_CompanyID)}}",
                                          "Country": "{{Contact.Account.Field(M_Country)}}"})
    country = next(r["Country"] for r in contacts if r["Country"])

    accounts = eloqua.export("accounts", {"Id": "{{Account.Id}}", "Name": account["M_CompanyName"],
                                          "Country": account["M_Country"], "Created": "{{Account.CreatedAt}}"},
                             filter=f"'{account['M_Country']}' = '{country}'")

    linked = {(r["AccountId"], r["Company"]) for r in contacts if r["Country"] == country}
    assert {(r["Id"], r["Name"]) for r in accounts} == linked and all(r["Created"] for r in accounts)


def test_oauth_authorization_code_then_refresh_as_oracle_documents(client):
    sandbox, _ = client
    http = requests.Session()
    http.trust_env, http.verify = False, str(sandbox.ca_pem_path)
    basic = (sandbox.client_id, sandbox.client_secret)

    redirect = http.get(f"{sandbox.url}/auth/oauth2/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": sandbox.client_id, "redirect_uri": "https://tool.example/cb",
        "scope": "full", "state": "xyz"})
    back = parse_qs(urlsplit(redirect.headers["Location"]).query)
    tokens = http.post(f"{sandbox.url}/auth/oauth2/token", auth=basic, json={
        "grant_type": "authorization_code", "code": back["code"][0], "redirect_uri": "https://tool.example/cb"})
    refreshed = http.post(f"{sandbox.url}/auth/oauth2/token", auth=basic, json={
        "grant_type": "refresh_token", "refresh_token": tokens.json()["refresh_token"], "scope": "full",
        "redirect_uri": "https://tool.example/cb"})
    identity = http.get(f"{sandbox.url}/id", headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"})

    assert redirect.status_code == 302 and back["state"] == ["xyz"]
    assert tokens.status_code == 200 and tokens.json()["token_type"] == "bearer"
    assert refreshed.status_code == 200 and refreshed.json()["refresh_token"] != tokens.json()["refresh_token"]
    assert identity.status_code == 200 and identity.json()["site"]["name"] == sandbox.site
