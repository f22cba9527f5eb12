"""The sandbox's ASGI app: the login host and the pod on one server, behind Eloqua's request handling.

Before routing, every request path is normalised as Eloqua's front end does it: runs of slashes collapse to
one (pyeloqua builds `.../2.0//syncs`), a trailing slash is dropped and the path is matched case-insensitively
(the docs write both /API/REST and /api/rest, customObjects and customobjects). API calls then need Basic or
Bearer credentials (401 otherwise) and pass the throttling switches (429).
"""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from leadsync.connectors.eloqua.sandbox.auth import NOT_AUTHENTICATED
from leadsync.connectors.eloqua.sandbox.http_common import json_response
from leadsync.connectors.eloqua.sandbox.routes_bulk import bulk_routes
from leadsync.connectors.eloqua.sandbox.routes_lists import contact_list_routes
from leadsync.connectors.eloqua.sandbox.routes_login import login_routes
from leadsync.connectors.eloqua.sandbox.routes_rest import rest_routes

_SLASHES = re.compile(r"/{2,}")


class EloquaFrontEnd:
    def __init__(self, app: ASGIApp, state):
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _SLASHES.sub("/", scope["path"])
        path = (path.rstrip("/") or "/").lower()
        scope = dict(scope, path=path, raw_path=path.encode())
        if path.startswith("/api/"):
            headers = dict(scope["headers"])
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            user = self.state.auth.authenticate(authorization)
            if user is None:
                await json_response(NOT_AUTHENTICATED, 401)(scope, receive, send)
                return
            if self.state.faults.take_throttle():
                retry_after = self.state.faults.retry_after_s
                extra = {"Retry-After": str(retry_after)} if retry_after else None
                await Response(b"Too Many Requests", 429, headers=extra, media_type="text/plain")(
                    scope, receive, send)
                return
            scope.setdefault("state", {})
            scope["state"] = dict(scope["state"], eloqua_user=user)
        await self.app(scope, receive, send)


def build_app(sandbox) -> ASGIApp:
    state = sandbox.state
    routes = login_routes(sandbox) + rest_routes(state) + contact_list_routes(state) + bulk_routes(state)
    return EloquaFrontEnd(Starlette(routes=routes), state)
