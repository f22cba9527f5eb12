"""Eloqua accounts as stored records (issue 18), through a client written here from Oracle's documented
flow: `/id` for the base URLs, Bulk API 2.0 account imports (definition, data upload, sync, logs, rejects)
and the Application API's `data/accounts`, `data/account/{id}` (GET, PUT) and `data/account` (POST). What one
path writes, the others read: an imported account in `data/accounts`, in an account export and in a contact
export's linked-account statements; a REST-created account in a Bulk export."""

from __future__ import annotations

import pytest
import requests
from documented_client import DocumentedClient as BaseClient

from leadsync.connectors.eloqua.sandbox import EloquaSandbox

LINKED_CITY = "{{Contact.Account.Field(M_City)}}"


class DocumentedClient(BaseClient):
    """The documented client, with the calls of this file."""

    def import_accounts(self, fields: dict, identifier: str, rows: list[dict]) -> tuple[dict, requests.Response]:
        definition = self.http.post(f"{self.bulk}/accounts/imports", json={
            "name": "Accounts from the CRM", "fields": fields, "identifierFieldName": identifier})
        assert definition.status_code == 201, definition.text
        upload = self.http.post(f"{self.bulk}{definition.json()['uri']}/data", json=rows)
        return definition.json(), upload

    def accounts(self, **params) -> dict:
        answer = self.http.get(f"{self.rest}/data/accounts", params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()
@pytest.fixture
def sandbox():
    with EloquaSandbox(seed_contacts=60, sync_delay_s=0.001) as server:
        yield server


@pytest.fixture
def eloqua(sandbox) -> DocumentedClient:
    return DocumentedClient(sandbox)


def _a_company(eloqua: DocumentedClient) -> tuple[str, list[str]]:
    """A seeded company and the emails of its contacts."""
    rows = eloqua.export("contacts", {"Email": "{{Contact.Field(C_EmailAddress)}}",
                                      "Company": "{{Contact.Field(C_Company)}}"})
    company = next(r["Company"] for r in rows if r["Company"])
    return company, [r["Email"] for r in rows if r["Company"] == company]


def test_accounts_are_seeded_from_the_contacts_companies_and_listed_by_the_application_api(eloqua):
    company, _ = _a_company(eloqua)
    page = eloqua.accounts(search=f"name='{company}'", depth="partial")
    first = eloqua.accounts(count=2, page=1, depth="minimal")
    answer = eloqua.http.get(f"{eloqua.rest}/data/account/{page['elements'][0]['id']}")

    assert page["total"] == 1 and page["elements"][0]["name"] == company
    assert {"address1", "address3", "city", "province", "postalCode", "country", "businessPhone"} <= set(
        page["elements"][0]) and "fieldValues" not in page["elements"][0]
    assert first["page"] == 1 and first["pageSize"] == 2 and len(first["elements"]) == 2 and first["total"] > 2
    assert set(first["elements"][0]) == {"type", "id", "createdAt", "depth", "description", "name", "updatedAt"}
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    account = answer.json()
    assert account["type"] == "Account" and account["depth"] == "complete" and account["createdAt"].isdigit()
    values = {v["id"]: v.get("value") for v in account["fieldValues"]}
    assert values["100091"] == account["id"]  # Eloqua Company ID
    assert eloqua.http.get(f"{eloqua.rest}/data/account/99999").status_code == 404


def test_an_account_import_updates_and_creates_accounts_that_every_path_reads(eloqua, sandbox):
    company, emails = _a_company(eloqua)
    fields = {"Name": "{{Account.Field(M_CompanyName)}}", "City": "{{Account.Field(M_City)}}",
              "Industry": "{{Account.Field(M_Industry)}}"}
    definition, upload = eloqua.import_accounts(fields, "Name", [
        {"Name": company.upper(), "City": "Tromsø", "Industry": "Fisheries"},  # matched whatever the case
        {"Name": "Northwind Traders", "City": "Calgary", "Industry": "Retail"}])

    assert definition["uri"].startswith("/accounts/imports/") and definition["updateRule"] == "always"
    assert definition["isSyncTriggeredOnImport"] is False and definition["dataRetentionDuration"] == "P7D"
    assert upload.status_code == 204 and upload.content == b""
    sync = eloqua.sync(definition["uri"])
    assert sync["status"] == "success" and sync["syncedInstanceUri"] == definition["uri"]
    logs = eloqua.http.get(f"{eloqua.bulk}{sync['uri']}/logs").json()["items"]
    assert {(log["statusCode"], log["message"], log["count"]) for log in logs} >= {
        ("ELQ-00001", "Total records processed.", 2), ("ELQ-00005", "Accounts created.", 1),
        ("ELQ-00023", "Accounts updated.", 1)}

    # the Application API
    (updated,) = eloqua.accounts(search=f"name='{company}'", depth="complete")["elements"]
    (created,) = eloqua.accounts(search="name='Northwind*'", depth="complete")["elements"]
    assert updated["city"] == "Tromsø" and created["city"] == "Calgary" and created["name"] == "Northwind Traders"
    assert {v["id"]: v.get("value") for v in created["fieldValues"]}["100089"] == "Retail"
    # a contact export's linked-account statements
    linked = eloqua.export("contacts", {"Email": "{{Contact.Field(C_EmailAddress)}}", "AccountCity": LINKED_CITY,
                                        "AccountIndustry": "{{Contact.Account.Field(M_Industry)}}"})
    assert {(r["AccountCity"], r["AccountIndustry"]) for r in linked if r["Email"] in emails} == {
        ("Tromsø", "Fisheries")}
    # an account export
    exported = eloqua.export("accounts", {"Id": "{{Account.Id}}", "Name": "{{Account.Field(M_CompanyName)}}",
                                          "City": "{{Account.Field(M_City)}}", "Updated": "{{Account.UpdatedAt}}"},
                             filter="'{{Account.Field(M_City)}}' = 'Calgary'")
    assert [(r["Id"], r["Name"]) for r in exported] == [(created["id"], "Northwind Traders")] and exported[0]["Updated"]


def test_an_import_by_account_id_rejects_unknown_accounts_and_leaves_read_only_fields_alone(eloqua):
    known = eloqua.accounts(count=1)["elements"][0]  # depth minimal, the listing's default
    definition, upload = eloqua.import_accounts(
        {"AccountId": "{{Account.Id}}", "Phone": "{{Account.Field(M_Business_Phone)}}"}, "AccountId",
        [{"AccountId": known["id"], "Phone": "+47 22 00 00 00"}, {"AccountId": "987654", "Phone": "1"}])
    sync = eloqua.sync(definition["uri"])
    rejects = eloqua.http.get(f"{eloqua.bulk}{sync['uri']}/rejects").json()
    refused = eloqua.http.post(f"{eloqua.bulk}/accounts/imports", json={
        "name": "bad", "fields": {"Name": "{{Account.Field(M_CompanyName)}}", "Id": "{{Account.Field(M_CompanyID)}}",
                                  "Shoe": "{{Account.Field(M_ShoeSize)}}"}, "identifierFieldName": "Name"})

    assert upload.status_code == 204 and sync["status"] == "warning"
    assert rejects["totalResults"] == 1 and rejects["items"][0] == {
        "fieldValues": {"AccountId": "987654", "Phone": "1"}, "message": "Account does not exist.",
        "statusCode": "ELQ-00034", "recordIndex": 2, "invalidFields": ["AccountId"], "syncUri": sync["uri"]}
    assert eloqua.http.get(f"{eloqua.rest}/data/account/{known['id']}").json()["businessPhone"] == "+47 22 00 00 00"
    assert refused.status_code == 400
    assert {f["field"] for f in refused.json()["failures"]} == {"fields.Id", "fields.Shoe"}


def test_accounts_created_and_updated_through_the_application_api_reach_bulk_exports(eloqua, sandbox):
    created = eloqua.http.post(f"{eloqua.rest}/data/account", json={
        "name": "Contoso Pharmaceuticals", "city": "Basel", "country": "Switzerland",
        "fieldValues": [{"type": "FieldValue", "id": "100090", "value": "120000000"}]})
    assert created.status_code == 201 and created.headers["Content-Type"].startswith("application/json")
    account = created.json()
    assert (account["type"], account["name"], account["city"], account["address2"]) == (
        "Account", "Contoso Pharmaceuticals", "Basel", "")
    contact = eloqua.http.post(f"{eloqua.rest}/data/contact", json={
        "emailAddress": "ana@contoso.example", "accountName": "Contoso Pharmaceuticals"})
    assert contact.status_code == 201

    sandbox.clock.advance(60)
    put = eloqua.http.put(f"{eloqua.rest}/data/account/{account['id']}", json={
        "name": "Contoso Pharmaceuticals", "city": "Zürich"})
    assert put.status_code == 200 and put.json()["city"] == "Zürich" and put.json()["country"] == ""  # full update
    assert int(put.json()["updatedAt"]) > int(account["updatedAt"])

    (row,) = eloqua.export("contacts", {"Email": "{{Contact.Field(C_EmailAddress)}}", "City": LINKED_CITY,
                                        "Revenue": "{{Contact.Account.Field(M_Annual_Revenue)}}"},
                           filter="'{{Contact.Field(C_EmailAddress)}}' = 'ana@contoso.example'")
    assert (row["City"], row["Revenue"]) == ("Zürich", "120000000")
    exported = eloqua.export("accounts", {"Id": "{{Account.Id}}", "City": "{{Account.Field(M_City)}}"},
                             filter=f"'{{{{Account.Id}}}}' = '{account['id']}'")
    assert exported == [{"Id": account["id"], "City": "Zürich"}]


def test_application_api_account_validation(eloqua):
    nameless = eloqua.http.post(f"{eloqua.rest}/data/account", json={"city": "Oslo"})
    too_long = eloqua.http.put(f"{eloqua.rest}/data/account/1", json={"name": "X", "city": "c" * 101})

    assert nameless.status_code == 400
    assert nameless.json() == [{"type": "ObjectValidationError",
                                "container": {"type": "ObjectKey", "objectType": "Account"}, "property": "name",
                                "requirement": {"type": "NotNullRequirement"}, "value": "<null>"}]
    assert too_long.status_code == 400 and too_long.json()[0]["property"] == "city"
    assert too_long.json()[0]["requirement"] == {"type": "ValidTextLengthRequirement", "minimum": 0, "maximum": 100}


def test_accounts_survive_a_restart_and_an_older_save_gets_its_companies_accounts(tmp_path):
    with EloquaSandbox(seed_contacts=20, data_dir=tmp_path, sync_delay_s=0) as first:
        eloqua = DocumentedClient(first)
        created = eloqua.http.post(f"{eloqua.rest}/data/account", json={"name": "Kept Across Restarts"}).json()
        seeded = eloqua.accounts()["total"]
    with EloquaSandbox(data_dir=tmp_path) as second:
        eloqua = DocumentedClient(second)
        assert eloqua.http.get(f"{eloqua.rest}/data/account/{created['id']}").json()["name"] == "Kept Across Restarts"
        assert eloqua.accounts()["total"] == seeded
    (tmp_path / "accounts.parquet").unlink()  # as saved before accounts were stored
    with EloquaSandbox(data_dir=tmp_path) as third:
        assert DocumentedClient(third).accounts()["total"] == seeded - 1  # the companies' accounts only
