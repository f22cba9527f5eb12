"""`leadsync sandbox` serves every vendor sandbox from one kept CA (issue 18): sandboxes started on the same
TLS folder share it, a restart reuses it, and a client that trusts it reaches each of them."""

from __future__ import annotations

import requests
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from connectors.http_sandbox import HttpSandbox


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
