"""Logging in: simple-salesforce's own login flows work unchanged against the sandbox, and sessions end
the way Salesforce ends them."""

from __future__ import annotations

import base64

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from leadsync.connectors.salesforce.sandbox import SandboxCredentials, connect_simple_salesforce, sandbox_session
from leadsync.connectors.salesforce.sandbox.auth import generate_jwt_key_pair


@pytest.mark.parametrize("flow", ["client_credentials", "jwt", "password", "soap"])
def test_each_login_flow_gives_a_working_client(org, flow):
    sf = org.connect(flow)

    assert sf.sf_instance == org.url.removeprefix("https://")
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 5


def test_client_credentials_login_as_a_connector_would_write_it(org):
    session = sandbox_session(org.url, org.ca_pem_path)
    sf = Salesforce(consumer_key=org.credentials.client_id, consumer_secret=org.credentials.client_secret,
                    domain="leadsync-sandbox.my", session=session)

    assert sf.Lead.describe()["name"] == "Lead"


def test_token_response_has_salesforces_fields_and_no_trailing_slash(org):
    session = org.session()
    basic = base64.b64encode(f"{org.credentials.client_id}:{org.credentials.client_secret}".encode()).decode()
    response = session.post("https://leadsync-sandbox.my.salesforce.com/services/oauth2/token",
                            data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})

    body = response.json()
    assert response.status_code == 200
    assert body["instance_url"] == org.url and not body["instance_url"].endswith("/")
    assert body["token_type"] == "Bearer"
    assert body["id"].startswith("https://login.salesforce.com/id/00D")
    assert body["issued_at"].isdigit() and body["signature"] and body["access_token"]


def test_wrong_client_secret_is_refused_with_invalid_client(org):
    session = org.session()
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        Salesforce(consumer_key=org.credentials.client_id, consumer_secret="wrong", domain=org.my_domain,
                   session=session)

    assert failure.value.code == "invalid_client"
    assert failure.value.auth_message == "invalid client credentials"


def test_wrong_password_is_refused_with_invalid_grant(org):
    response = org.session().post("https://login.salesforce.com/services/oauth2/token", data={
        "grant_type": "password", "client_id": org.credentials.client_id,
        "client_secret": org.credentials.client_secret, "username": org.credentials.username, "password": "nope"})

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "authentication failure"}


def test_jwt_signed_by_an_unknown_key_is_refused(org):
    stranger_key, _ = generate_jwt_key_pair()
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        Salesforce(username=org.credentials.username, consumer_key=org.credentials.client_id,
                   privatekey=stranger_key, domain="login", session=org.session())

    assert failure.value.code == "invalid_grant"


def test_jwt_for_a_user_who_has_not_approved_the_app_is_refused(org):
    with pytest.raises(SalesforceAuthenticationFailed) as failure, pytest.warns(UserWarning, match="authorize"):
        Salesforce(username="someone.else@leadsync.sandbox", consumer_key=org.credentials.client_id,
                   privatekey=org.jwt_private_key_pem, domain="login", session=org.session())

    assert failure.value.auth_message == "user hasn't approved this consumer"


def test_jwt_is_checked_against_a_configured_certificate(tmp_path):
    from leadsync.connectors.salesforce.sandbox import SalesforceSandbox

    private_pem, public_pem = generate_jwt_key_pair()
    with SalesforceSandbox(credentials=SandboxCredentials(jwt_certificates=[public_pem])) as org:
        key_file = tmp_path / "server.key"
        key_file.write_text(private_pem)
        sf = Salesforce(username=org.credentials.username, consumer_key=org.credentials.client_id,
                        privatekey_file=str(key_file), domain="login", session=org.session())
        assert sf.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1


def test_a_call_without_a_valid_token_gets_401_invalid_session_id_as_a_list(org):
    response = requests.get(f"{org.url}/services/data/v59.0/query", params={"q": "SELECT Id FROM Lead"},
                            headers={"Authorization": "Bearer not-a-token"}, verify=str(org.ca_pem_path))

    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_expired_tokens_make_simple_salesforce_log_in_again_mid_pull(org, make_leads):
    make_leads(3)
    sf = org.connect("client_credentials")
    logins = org.sessions.logins

    org.faults.expire_tokens()
    result = sf.query("SELECT Id FROM Lead")

    assert result["totalSize"] == 3
    assert org.sessions.logins == logins + 1


def test_a_client_given_only_a_token_raises_expired_session(org):
    sf = org.connect("session")
    org.faults.expire_tokens()

    with pytest.raises(SalesforceExpiredSession) as failure:
        sf.query("SELECT Id FROM Lead")

    assert failure.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_sessions_time_out_after_the_configured_lifetime():
    from leadsync.connectors.salesforce.sandbox import SalesforceSandbox

    with SalesforceSandbox(session_timeout_s=0.2) as org:
        sf = org.connect("session")
        sf.query("SELECT Id FROM Lead")
        import time
        time.sleep(0.3)
        with pytest.raises(SalesforceExpiredSession):
            sf.query("SELECT Id FROM Lead")


def test_a_connector_reaches_a_running_sandbox_from_its_url_and_ca(org):
    sf = connect_simple_salesforce(org.url, org.ca_pem_path, org.credentials)

    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 5


def test_a_plain_http_sandbox_is_reached_by_downgrading_the_scheme():
    from leadsync.connectors.salesforce.sandbox import SalesforceSandbox

    with SalesforceSandbox(tls=False) as org:
        assert org.url.startswith("http://")
        assert org.connect().query("SELECT COUNT() FROM User")["totalSize"] == 5


def test_expired_tokens_mid_pull_are_survived_by_query_all_iter(org, make_leads):
    make_leads(450)
    sf = org.connect()
    pages = sf.query_all_iter("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=200"})

    seen = [next(pages)["Id"] for _ in range(200)]
    org.faults.expire_tokens()  # between page 1 and page 2
    seen += [record["Id"] for record in pages]

    assert len(set(seen)) == 450


def test_the_versions_list_needs_no_login(org):
    versions = requests.get(f"{org.url}/services/data/", verify=str(org.ca_pem_path)).json()

    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
