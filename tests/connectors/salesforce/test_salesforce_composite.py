"""Composite resources through simple-salesforce (`sf.restful("composite", method="POST", json=...)`, and its
own `_call_salesforce` where the status and headers matter): subrequests with `@{ref.field}` references,
allOrNone, `/composite/batch` with haltOnError, `/composite/tree/{sObject}` with nested children; what one
path writes, another reads back."""

from __future__ import annotations

import json

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

V = "/services/data/v59.0"
ROLLED_BACK = [{"errorCode": "PROCESSING_HALTED",
                "message": "The transaction was rolled back since another operation in the same transaction failed."}]


def _sub(ref: str, method: str, url: str, body: dict | None = None) -> dict:
    return {"referenceId": ref, "method": method, "url": V + url, **({"body": body} if body is not None else {})}


def _post(sf, path: str, body: dict):
    """The raw answer (status, headers), through simple-salesforce's own request method."""
    return sf._call_salesforce("POST", sf.base_url + path, json=body)


def test_composite_chains_references_and_answers_each_subrequest(org, sf):
    used = org.budget.used
    answer = _post(sf, "composite", {"allOrNone": False, "compositeRequest": [
        _sub("newAccount", "POST", "/sobjects/Account", {"Name": "Northwind", "BillingCity": "Calgary"}),
        _sub("newContact", "POST", "/sobjects/Contact", {"LastName": "Ito", "AccountId": "@{newAccount.id}",
                                                         "Email": "ito@northwind.example"}),
        _sub("readBack", "GET", "/sobjects/Contact/@{newContact.id}?fields=LastName,AccountId"),
        _sub("listed", "GET", "/query?q=SELECT+Id,Name+FROM+Account+WHERE+Name='Northwind'"),
        _sub("renamed", "PATCH", "/sobjects/Account/@{listed.records[0].Id}", {"Name": "@{readBack.LastName} Inc"}),
    ]})

    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Sforce-Limit-Info"] == f"api-usage={used + 1}/{org.budget.daily_limit}"  # one call
    results = answer.json()["compositeResponse"]
    assert [(r["referenceId"], r["httpStatusCode"]) for r in results] == [
        ("newAccount", 201), ("newContact", 201), ("readBack", 200), ("listed", 200), ("renamed", 204)]
    account_id, contact_id = results[0]["body"]["id"], results[1]["body"]["id"]
    assert results[0]["body"] == {"id": account_id, "success": True, "errors": []}
    assert results[0]["httpHeaders"] == {"Location": f"{V}/sobjects/Account/{account_id}"}
    assert results[2]["body"]["AccountId"] == account_id and results[2]["httpHeaders"] == {}
    assert results[3]["body"]["totalSize"] == 1 and results[4]["body"] is None
    # written through composite, read through the plain REST paths
    assert sf.Contact.get(contact_id)["AccountId"] == account_id
    assert sf.query(f"SELECT Name FROM Account WHERE Id = '{account_id}'")["records"][0]["Name"] == "Ito Inc"


def test_all_or_none_rolls_every_subrequest_back(sf):
    results = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        _sub("newAccount", "POST", "/sobjects/Account", {"Name": "Rolled Back Ltd"}),
        _sub("badContact", "POST", "/sobjects/Contact", {"LastName": "Ito", "Email": "Not a real email address",
                                                         "AccountId": "@{newAccount.id}"}),
        _sub("never", "POST", "/sobjects/Account", {"Name": "Never Run Ltd"}),
    ]})["compositeResponse"]

    assert [(r["referenceId"], r["httpStatusCode"]) for r in results] == [
        ("newAccount", 400), ("badContact", 400), ("never", 400)]
    assert results[0]["body"] == ROLLED_BACK and results[2]["body"] == ROLLED_BACK
    assert results[1]["body"] == [{"message": "Email: invalid email address: Not a real email address",
                                   "errorCode": "INVALID_EMAIL_ADDRESS", "fields": ["Email"]}]
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0


def test_without_all_or_none_a_reference_to_a_failed_subrequest_halts_only_its_dependents(sf):
    results = sf.restful("composite", method="POST", json={"compositeRequest": [
        _sub("badAccount", "POST", "/sobjects/Account", {"Description": "no name"}),
        _sub("dependent", "POST", "/sobjects/Contact", {"LastName": "Ito", "AccountId": "@{badAccount.id}"}),
        _sub("independent", "POST", "/sobjects/Account", {"Name": "Kept Ltd"}),
        _sub("collection", "POST", "/composite/sobjects", {"allOrNone": True, "records": [
            {"attributes": {"type": "Account"}, "Name": "In Collection"}]}),
    ]})["compositeResponse"]

    assert [r["httpStatusCode"] for r in results] == [400, 400, 201, 200]
    assert results[0]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert results[1]["body"] == [{"errorCode": "PROCESSING_HALTED", "message": "Invalid reference specified. "
                                   "No value for badAccount.id found in badAccount."}]
    assert results[3]["body"][0]["success"] is True
    names = {r["Name"] for r in sf.query("SELECT Name FROM Account")["records"]}
    assert names == {"Kept Ltd", "In Collection"}


@pytest.mark.parametrize(("body", "code"), [
    ({"compositeRequest": [_sub("same", "GET", "/limits"), _sub("same", "GET", "/limits")]}, "JSON_PARSER_ERROR"),
    ({"compositeRequest": [{"method": "GET", "url": V + "/limits"}]}, "JSON_PARSER_ERROR"),
])
def test_a_malformed_composite_request_is_refused_whole(sf, body, code):
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.restful("composite", method="POST", json=body)

    assert refused.value.status == 400 and refused.value.content[0]["errorCode"] == code


def test_over_25_subrequests_run_none_and_answer_one_limit_exceeded_result(org, sf):
    used = org.budget.used
    answer = sf.restful("composite", method="POST", json={"compositeRequest": [
        _sub(f"r{i}", "POST", "/sobjects/Account", {"Name": f"A{i}"}) for i in range(26)]})

    assert answer == {"compositeResponse": [{
        "body": [{"errorCode": "LIMIT_EXCEEDED", "message": "The request can’t contain more than 25 operations."}],
        "httpHeaders": {}, "httpStatusCode": 400, "referenceId": None}]}
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0 and org.budget.used == used + 2  # with the query


def test_batch_runs_independent_subrequests_and_halts_on_error_when_asked(org, sf):
    account_id = sf.Account.create({"Name": "Batch Co"})["id"]
    missing = account_id[:-3] + "ZZZ"

    answer = _post(sf, "composite/batch", {"haltOnError": True, "batchRequests": [
        {"method": "PATCH", "url": f"v59.0/sobjects/Account/{account_id}", "richInput": {"Name": "Batch Co 2"}},
        {"method": "GET", "url": f"v59.0/sobjects/Account/{account_id}?fields=Name"},
        {"method": "PATCH", "url": f"v59.0/sobjects/Account/{missing}", "richInput": {"Name": "x"}},
        {"method": "GET", "url": "v59.0/limits"},
    ]})

    assert answer.status_code == 200
    body = answer.json()
    assert body["hasErrors"] is True
    assert [r["statusCode"] for r in body["results"]] == [204, 200, 404, 412]
    assert body["results"][0]["result"] is None and body["results"][1]["result"]["Name"] == "Batch Co 2"
    assert body["results"][2]["result"] == [{"errorCode": "NOT_FOUND",
                                             "message": "The requested resource does not exist"}]
    assert body["results"][3]["result"] == [{"errorCode": "BATCH_PROCESSING_HALTED",
                                             "message": "Batch processing halted per request"}]
    assert sf.Account.get(account_id)["Name"] == "Batch Co 2"  # batch subrequests are not rolled back
    clean = sf.restful("composite/batch", method="POST", json={"batchRequests": [
        {"method": "GET", "url": "v59.0/limits"}]})
    assert clean["hasErrors"] is False and clean["results"][0]["statusCode"] == 200


def test_tree_saves_parents_with_their_children(sf):
    answer = _post(sf, "composite/tree/Account", {"records": [
        {"attributes": {"type": "Account", "referenceId": "ref1"}, "Name": "Tree One", "Contacts": {"records": [
            {"attributes": {"type": "Contact", "referenceId": "ref2"}, "LastName": "Smith"},
            {"attributes": {"type": "Contact", "referenceId": "ref3"}, "LastName": "Evans"}]}},
        {"attributes": {"type": "Account", "referenceId": "ref4"}, "Name": "Tree Two"}]})

    assert answer.status_code == 201 and answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["hasErrors"] is False and [r["referenceId"] for r in body["results"]] == ["ref1", "ref2", "ref3", "ref4"]
    ids = {r["referenceId"]: r["id"] for r in body["results"]}
    assert ids["ref1"].startswith("001") and ids["ref2"].startswith("003")
    contacts = sf.query(f"SELECT Id, LastName FROM Contact WHERE AccountId = '{ids['ref1']}' ORDER BY LastName")
    assert [(c["Id"], c["LastName"]) for c in contacts["records"]] == [(ids["ref3"], "Evans"), (ids["ref2"], "Smith")]


def test_a_tree_with_a_bad_record_saves_nothing_and_names_it(sf):
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.restful("composite/tree/Account", method="POST", json={"records": [
            {"attributes": {"type": "Account", "referenceId": "ref1"}, "Name": "Tree One", "Contacts": {"records": [
                {"attributes": {"type": "Contact", "referenceId": "ref2"}, "LastName": "Smith", "Email": "123"}]}}]})

    assert refused.value.status == 400
    assert json.loads(json.dumps(refused.value.content)) == {"hasErrors": True, "results": [
        {"referenceId": "ref2", "errors": [{"statusCode": "INVALID_EMAIL_ADDRESS",
                                            "message": "Email: invalid email address: 123", "fields": ["Email"]}]}]}
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0
    children = {(c["childSObject"], c["field"]): c["relationshipName"] for c in sf.Account.describe()["childRelationships"]}
    assert children[("Contact", "AccountId")] == "Contacts"  # the name a tree nests children under
