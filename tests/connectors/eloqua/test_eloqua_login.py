"""Logging in: /id discovery, Basic auth as Site\\User:password, OAuth 2.0 tokens that expire and rotate."""

import base64

import requests

from leadsync.connectors.eloqua.sandbox.session import basic_authorization, open_session


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def password_grant(eloqua) -> requests.Response:
    return requests.post(f"{eloqua.url}/auth/oauth2/token",
                         headers={"Authorization": basic(eloqua.client_id, eloqua.client_secret)},
                         json={"grant_type": "password", "scope": "full",
                               "username": f"{eloqua.site}\\{eloqua.username}", "password": eloqua.password})


def test_id_announces_the_pod_base_url_and_api_templates(eloqua):
    answer = requests.get(f"{eloqua.url}/id", headers={"Authorization": eloqua.authorization})
    assert answer.status_code == 200
    body = answer.json()
    assert body["site"] == {"id": 42, "name": eloqua.site}
    assert body["user"]["username"] == eloqua.username
    urls = body["urls"]
    assert urls["base"] == eloqua.url
    assert urls["apis"]["rest"] == {"standard": f"{eloqua.url}/API/REST/{{version}}/",
                                    "bulk": f"{eloqua.url}/API/Bulk/{{version}}/"}
    assert set(urls["apis"]["soap"]) == {"standard", "dataTransfer", "email", "externalAction"}


def test_session_helper_discovers_the_base_url(eloqua, conn):
    assert conn.base_url == eloqua.url
    assert conn.bulk == f"{eloqua.url}/API/Bulk/2.0"
    assert conn.rest("2.0") == f"{eloqua.url}/API/REST/2.0"
    assert conn.session.headers["Authorization"] == basic_authorization(eloqua.site, eloqua.username,
                                                                        eloqua.password)


def test_bad_credentials_answer_not_authenticated(eloqua):
    for auth in (basic_authorization(eloqua.site, eloqua.username, "wrong"),
                 basic_authorization("OtherSite", eloqua.username, eloqua.password),
                 # the site and user must be joined by a backslash
                 "Basic " + base64.b64encode(f"{eloqua.username}:{eloqua.password}".encode()).decode(),
                 "Bearer not-a-token"):
        answer = requests.get(f"{eloqua.url}/id", headers={"Authorization": auth})
        assert (answer.status_code, answer.json()) == (401, "Not authenticated.")
    assert requests.get(f"{eloqua.url}/id").status_code == 401
    try:
        open_session(eloqua.url, eloqua.site, eloqua.username, "wrong")
        raise AssertionError("expected a 401")
    except requests.HTTPError as exc:
        assert exc.response.status_code == 401


def test_api_calls_need_credentials(eloqua, conn):
    assert requests.get(f"{conn.rest()}/data/contacts").status_code == 401
    assert requests.get(f"{conn.bulk}/contacts/fields",
                        headers={"Authorization": basic_authorization(eloqua.site, "nobody", "x")}).status_code == 401


def test_password_grant_gives_a_bearer_token_for_id_and_the_apis(eloqua, conn):
    token = password_grant(eloqua).json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 28800 and token["refresh_token"]
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.get(f"{eloqua.url}/id", headers=bearer).json()["urls"]["base"] == eloqua.url
    assert requests.get(f"{conn.bulk}/contacts/fields", headers=bearer).status_code == 200


def test_tokens_expire_after_eight_hours_on_the_sandbox_clock(eloqua, conn):
    bearer = {"Authorization": f"Bearer {password_grant(eloqua).json()['access_token']}"}
    eloqua.clock.advance(8 * 3600 - 5)
    assert requests.get(f"{conn.rest()}/data/contact/1", headers=bearer).status_code == 200
    eloqua.clock.advance(10)
    answer = requests.get(f"{conn.rest()}/data/contact/1", headers=bearer)
    assert (answer.status_code, answer.json()) == (401, "Not authenticated.")


def test_expire_switch_ends_tokens_and_refresh_tokens_rotate(eloqua, conn):
    token = password_grant(eloqua).json()
    eloqua.expire_tokens()
    assert requests.get(f"{conn.bulk}/syncs", headers={"Authorization": f"Bearer {token['access_token']}"}
                        ).status_code == 401
    client = {"Authorization": basic(eloqua.client_id, eloqua.client_secret)}
    refreshed = requests.post(f"{eloqua.url}/auth/oauth2/token", headers=client,
                              json={"grant_type": "refresh_token", "refresh_token": token["refresh_token"],
                                    "scope": "full", "redirect_uri": "https://app.example/cb"})
    assert refreshed.status_code == 200
    new = refreshed.json()
    assert new["refresh_token"] != token["refresh_token"]
    assert requests.get(f"{conn.bulk}/syncs", headers={"Authorization": f"Bearer {new['access_token']}"}
                        ).status_code == 200
    reused = requests.post(f"{eloqua.url}/auth/oauth2/token", headers=client,
                           data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert reused.status_code == 401 and reused.json()["error"] == "invalid_grant"


def test_token_endpoint_errors(eloqua):
    url = f"{eloqua.url}/auth/oauth2/token"
    bad_client = requests.post(url, headers={"Authorization": basic(eloqua.client_id, "nope")},
                               json={"grant_type": "password", "username": "x\\y", "password": "z"})
    assert bad_client.status_code == 401
    assert bad_client.json()["error"] == "invalid_client" and "error_code" in bad_client.json()
    client = {"Authorization": basic(eloqua.client_id, eloqua.client_secret)}
    wrong_user = requests.post(url, headers=client, json={"grant_type": "password", "scope": "full",
                                                          "username": f"{eloqua.site}\\{eloqua.username}",
                                                          "password": "nope"})
    assert (wrong_user.status_code, wrong_user.json()["error"]) == (401, "invalid_grant")
    unsupported = requests.post(url, headers=client, data={"grant_type": "client_credentials"})
    assert (unsupported.status_code, unsupported.json()["error"]) == (400, "unsupported_grant_type")


def test_authorization_code_grant(eloqua):
    answer = requests.post(f"{eloqua.url}/auth/oauth2/token",
                           headers={"Authorization": basic(eloqua.client_id, eloqua.client_secret)},
                           json={"grant_type": "authorization_code", "code": eloqua.authorization_code(),
                                 "redirect_uri": "https://app.example/cb"})
    assert answer.status_code == 200 and answer.json()["access_token"]


def test_tls_sandbox_is_reachable_with_its_ca(tmp_path):
    from leadsync.connectors.eloqua.sandbox import EloquaSandbox

    with EloquaSandbox(tls=True) as secure:
        conn = secure.session()
        assert conn.base_url.startswith("https://127.0.0.1:")
        assert conn.session.get(f"{conn.rest()}/data/contacts").json()["total"] == 0
        conn.session.close()  # an idle TLS keep-alive connection would hold up the server's shutdown
