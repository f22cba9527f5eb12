"""`leadsync sandbox` serves every vendor sandbox from one kept CA (issue 18): sandboxes started on the same
TLS folder share it, a restart reuses it, and a client that trusts it reaches each of them."""

from __future__ import annotations

import requests
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from leadsync.connectors.http_sandbox import HttpSandbox
from leadsync.connectors.loopback_ports import free_port


def _app(name: str) -> Starlette:
    return Starlette(routes=[Route("/", lambda request: PlainTextResponse(name))])


def test_sandboxes_on_one_tls_folder_share_a_ca_that_survives_restarts(tmp_path):
    http = requests.Session()
    http.trust_env = False  # API_FACTS §0: the machine's CA bundle variables would win over `verify`
    with HttpSandbox(_app("one"), tls=True, tls_dir=tmp_path, name="one") as one, \
            HttpSandbox(_app("two"), tls=True, tls_dir=tmp_path, name="two") as two:
        ca = one.ca_pem_path.read_bytes()
        http.verify = str(one.ca_pem_path)
        answers = [http.get(one.url, headers={"Connection": "close"}).text,
                   http.get(two.url, headers={"Connection": "close"}).text]
    with HttpSandbox(_app("again"), tls=True, tls_dir=tmp_path, name="one") as again:
        again_answer = http.get(again.url, headers={"Connection": "close"}).text

    assert answers == ["one", "two"] and again_answer == "again"
    assert two.ca_pem_path == one.ca_pem_path and again.ca_pem_path.read_bytes() == ca


def test_leadsync_sandbox_starts_every_vendor_on_one_ca_with_the_printed_credentials(tmp_path, monkeypatch):
    from leadsync import sandboxes

    # the fixed ports `leadsync sandbox` uses, moved to free ones for the test
    monkeypatch.setattr(sandboxes, "STANDALONE_PORTS", {v: free_port() for v in sandboxes.KIND_LABELS})
    with sandboxes.start_standalone(["salesforce", "marketo", "eloqua"], tmp_path, leads=20, seed=3) as running:
        http = requests.Session()
        http.trust_env, http.verify = False, str(tmp_path / "tls" / "sandbox-ca.pem")
        http.headers["Connection"] = "close"  # no idle TLS keep-alive for the servers' shutdown to wait on
        sf, mkto, elq = (running.get(name) for name in ("salesforce", "marketo", "eloqua"))
        c = sf.server.credentials
        token = http.post(f"{sf.url}/services/oauth2/token", data={
            "grant_type": "refresh_token", "refresh_token": c.refresh_token, "client_id": c.client_id,
            "client_secret": c.client_secret})
        identity = http.get(f"{mkto.url}/identity/oauth/token", params={
            "grant_type": "client_credentials", "client_id": mkto.server.client_id,
            "client_secret": mkto.server.client_secret})
        eloqua_id = http.get(f"{elq.url}/id", auth=(f"{elq.server.site}\\{elq.server.username}",
                                                    elq.server.password))

    assert token.status_code == 200 and token.json()["instance_url"] == sf.url
    assert identity.status_code == 200 and identity.json()["access_token"]
    assert eloqua_id.status_code == 200 and eloqua_id.json()["urls"]["base"] == elq.url
    assert c.refresh_token in sf.holds and "20 leads" in sf.holds and "20 contacts" in elq.holds
