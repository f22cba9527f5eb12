"""The Salesforce sandbox as clients other than leadsync's see it (issue 18): an OAuth web-server login with
a refresh token (requests-oauthlib, the way a desktop tool signs in), then simple-salesforce unchanged
through every lead-pull path it has (`query_all`, Bulk API 1.0 `bulk`, Bulk API 2.0 `bulk2`) and a bulk
update; Bulk 1.0 over XML and CSV with PK chunking; getUpdated/getDeleted; header names as Salesforce writes
them."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from requests_oauthlib import OAuth2Session
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from leadsync.connectors.salesforce.sandbox import SandboxRedirectAdapter

LOGIN = "https://login.salesforce.com/services/oauth2"
CALLBACK = "http://localhost:1717/OauthRedirect"
NS = "{http://www.force.com/2009/06/asyncapi/dataload}"


def _oauth_session(org, **kwargs) -> OAuth2Session:
    oauth = OAuth2Session(org.credentials.client_id, redirect_uri=CALLBACK, **kwargs)
    oauth.trust_env = False
    oauth.verify = str(org.ca_pem_path)
    oauth.mount("https://", SandboxRedirectAdapter(org.url))
    return oauth


def _web_server_login(org) -> dict:
    """The authorization-code flow with PKCE, as requests-oauthlib runs it; returns the token response."""
    oauth = _oauth_session(org, pkce="S256")
    url, state = oauth.authorization_url(f"{LOGIN}/authorize")
    redirect = oauth.get(url, allow_redirects=False)
    assert redirect.status_code == 302
    back = redirect.headers["Location"]
    assert back.startswith(CALLBACK + "?") and parse_qs(urlsplit(back).query)["state"] == [state]
    return oauth.fetch_token(f"{LOGIN}/token", authorization_response=back.replace("http://", "https://"),
                             client_secret=org.credentials.client_secret, include_client_id=True)


def test_web_server_login_then_refresh_drives_simple_salesforce_through_rest_bulk_and_bulk2(org, make_leads):
    make_leads(5)
    token = _web_server_login(org)
    assert token["refresh_token"] and token["instance_url"] == org.url and token["token_type"] == "Bearer"

    refreshed = _oauth_session(org, token=token).refresh_token(
        f"{LOGIN}/token", client_id=org.credentials.client_id, client_secret=org.credentials.client_secret)
    assert refreshed["access_token"] != token["access_token"]
    sf = Salesforce(instance_url=refreshed["instance_url"], session_id=refreshed["access_token"],
                    session=org.session())

    rest = sf.query_all("SELECT Id, Email FROM Lead")
    bulk = sf.bulk.Lead.query("SELECT Id, Email, CreatedDate FROM Lead", wait=0)
    bulk2 = "".join(sf.bulk2.Lead.query("SELECT Id, Email FROM Lead", wait=0))

    emails = sorted(r["Email"] for r in rest["records"])
    assert rest["totalSize"] == 5 and sorted(r["Email"] for r in bulk) == emails
    assert sorted(r["Email"] for r in csv.DictReader(io.StringIO(bulk2))) == emails
    assert bulk[0]["attributes"]["type"] == "Lead"
    created = org.get("Lead", bulk[0]["Id"])["CreatedDate"]  # Bulk 1.0 JSON: date-times as epoch ms
    assert datetime.fromtimestamp(bulk[0]["CreatedDate"] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") == created[:19]


def test_bulk_v1_update_and_query_all_through_simple_salesforce(org, sf, make_leads):
    ids = make_leads(3)
    org.org.writer.delete("Lead", ids[2])

    results = sf.bulk.Lead.update([{"Id": ids[0], "Status": "Working - Contacted"},
                                   {"Id": ids[1], "Status": "No Such Status"}])
    everything = sf.bulk.Lead.query_all("SELECT Id FROM Lead", wait=0)

    assert results[0] == {"success": True, "created": False, "id": ids[0], "errors": []}
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert org.get("Lead", ids[0])["Status"] == "Working - Contacted"
    assert sorted(r["Id"] for r in everything) == sorted(ids)


def test_bulk_v1_csv_query_with_pk_chunking_over_xml(org, make_leads):
    ids = make_leads(5)
    http = org.session()
    base = f"{org.url}/services/async/59.0/job"
    headers = {"X-SFDC-Session": org.issue_token(), "Content-Type": "application/xml; charset=UTF-8"}
    job_xml = (f'<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="{NS[1:-1]}"><operation>query</operation>'
               "<object>Lead</object><contentType>CSV</contentType></jobInfo>")

    created = http.post(base, data=job_xml, headers={**headers, "Sforce-Enable-PKChunking": "chunkSize=2"})
    job_id = ET.fromstring(created.content).find(f"{NS}id").text
    added = http.post(f"{base}/{job_id}/batch", data="SELECT Id, Email FROM Lead",
                      headers={**headers, "Content-Type": "text/csv"})
    listing = ET.fromstring(http.get(f"{base}/{job_id}/batch", headers=headers).content)

    assert created.status_code == 201 and created.headers["Content-Type"] == "application/xml"
    assert added.status_code == 201 and ET.fromstring(added.content).find(f"{NS}state").text == "Queued"
    states = [b.find(f"{NS}state").text for b in listing.iter(f"{NS}batchInfo")]
    assert states == ["NotProcessed", "Completed", "Completed", "Completed"]  # 5 ids in chunks of 2
    rows = []
    for info in list(listing.iter(f"{NS}batchInfo"))[1:]:
        batch = f"{base}/{job_id}/batch/{info.find(f'{NS}id').text}/result"
        result_ids = [r.text for r in ET.fromstring(http.get(batch, headers=headers).content).iter(f"{NS}result")]
        page = http.get(f"{batch}/{result_ids[0]}", headers=headers)
        assert page.headers["Content-Type"].startswith("text/csv") and page.text.startswith('"Id","Email"\n')
        rows += list(csv.DictReader(io.StringIO(page.text)))
    assert sorted(r["Id"] for r in rows) == sorted(ids)


def test_bulk_v1_answers_an_invalid_session_with_400_invalid_session_id(org):
    response = org.session().post(f"{org.url}/services/async/59.0/job", data=b"{}",
                                  headers={"X-SFDC-Session": "nope", "Content-Type": "application/json"})

    assert response.status_code == 400
    assert response.json() == {"exceptionCode": "InvalidSessionId", "exceptionMessage": "Invalid session id"}


def test_refresh_token_grant_as_documented(org):
    http = org.session()
    form = {"grant_type": "refresh_token", "client_id": org.credentials.client_id,
            "client_secret": org.credentials.client_secret}

    good = http.post(f"{LOGIN}/token", data={**form, "refresh_token": org.credentials.refresh_token})
    bad = http.post(f"{LOGIN}/token", data={**form, "refresh_token": "5Aep861unknown"})

    assert good.status_code == 200
    assert {"access_token", "instance_url", "id", "token_type", "issued_at", "signature", "scope"} <= good.json().keys()
    assert "refresh_token" not in good.json()  # Salesforce does not rotate refresh tokens
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}


@pytest.mark.parametrize("change, error", [({"redirect_uri": "https://evil.example/cb"}, "redirect_uri_mismatch"),
                                           ({"code_verifier": "wrong"}, "invalid_grant")])
def test_authorization_code_is_checked_against_its_request(org, change, error):
    oauth = _oauth_session(org, pkce="S256")
    url, _ = oauth.authorization_url(f"{LOGIN}/authorize")
    code = parse_qs(urlsplit(oauth.get(url, allow_redirects=False).headers["Location"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "client_id": org.credentials.client_id, "client_secret": org.credentials.client_secret,
            "code_verifier": oauth._code_verifier, **change}

    response = org.session().post(f"{LOGIN}/token", data=form)

    assert response.status_code == 400 and response.json()["error"] == error


def test_an_unregistered_callback_is_refused_on_the_authorize_page(org):
    response = org.session().get(f"{LOGIN}/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": org.credentials.client_id, "redirect_uri": "https://evil.example/cb"})

    assert response.status_code == 400 and "redirect_uri_mismatch" in response.text


def test_header_names_are_cased_as_salesforce_writes_them(org, sf):
    response = org.session().get(f"{org.url}/services/data/v59.0/limits",
                                 headers={"Authorization": f"Bearer {org.issue_token()}"})

    names = list(response.raw.headers.keys())  # as they came off the wire
    assert "Content-Type" in names and "Sforce-Limit-Info" in names and "Date" in names
    assert not any(name.islower() for name in names)


def test_get_updated_and_get_deleted_through_simple_salesforce(org, sf, make_leads):
    start = org.clock.now() - timedelta(minutes=1)
    ids = make_leads(3)
    sf.Lead.update(ids[0], {"Title": "CTO"})
    sf.Lead.delete(ids[1])
    end = org.clock.now() + timedelta(minutes=1)

    updated = sf.Lead.updated(start, end)
    deleted = sf.Lead.deleted(start, end)

    assert sorted(updated["ids"]) == sorted([ids[0], ids[2]])
    assert [d["id"] for d in deleted["deletedRecords"]] == [ids[1]]
    assert updated["latestDateCovered"].endswith(":00.000+0000")
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Lead.updated(end, start)
    assert refused.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
