"""The login host: base-URL discovery (`GET /id`), the OAuth 2.0 authorize and token endpoints."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadsync.connectors.eloqua.sandbox.auth import NOT_AUTHENTICATED, OAuthError
from leadsync.connectors.eloqua.sandbox.http_common import json_response


def login_routes(sandbox) -> list[Route]:
    state = sandbox.state

    async def discover(request: Request) -> Response:
        user = state.auth.authenticate(request.headers.get("authorization"))
        if user is None:
            return json_response(NOT_AUTHENTICATED, 401)
        base = sandbox.pod_url or f"{request.url.scheme}://{request.url.netloc}"
        return json_response(state.auth.id_body(user, base))

    async def token(request: Request) -> Response:
        raw = await request.body()
        if "json" in request.headers.get("content-type", "") or raw.lstrip().startswith(b"{"):
            try:
                params = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                params = None
            if not isinstance(params, dict):
                return json_response({"error": "invalid_request", "error_description": "Malformed JSON body."},
                                     400)
        else:
            params = dict(parse_qsl(raw.decode("utf-8", "replace")))
        try:
            client_id = state.auth.client(request.headers.get("authorization"))
            body = state.auth.grant(client_id, {k: str(v) for k, v in params.items()})
        except OAuthError as exc:
            return json_response(exc.body, exc.status)
        return json_response(body, headers={"Cache-Control": "no-store"})

    async def authorize(request: Request) -> Response:
        """The authorization-code grant's first leg: the sandbox's user accepts at once (no login page) and
        the browser goes back to `redirect_uri` with `code` (valid one minute) and `state`."""
        params = request.query_params
        client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        if client_id not in state.auth.clients or not redirect_uri.startswith(("http://", "https://")):
            return Response("<html><body><h1>invalid_request</h1><p>Unknown client_id or missing redirect_uri"
                            "</p></body></html>", 400, media_type="text/html")
        back = {"state": params["state"]} if "state" in params else {}
        if params.get("response_type") != "code":
            back = {"error": "unsupported_response_type", **back}
        else:
            back = {"code": state.auth.issue_authorization_code(sandbox.username, client_id), **back}
        return Response(status_code=302, headers={"Location": f"{redirect_uri}?{urlencode(back)}"})

    return [Route("/id", discover, methods=["GET"]),
            Route("/auth/oauth2/authorize", authorize, methods=["GET"]),
            Route("/auth/oauth2/token", token, methods=["POST"])]
