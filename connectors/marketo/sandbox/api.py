"""The HTTP plumbing every Marketo endpoint shares: find the route, check the token (601/602), apply the
forced faults and the limits (615/606/607), read parameters from the query string, a form body
(`_method=GET`) or JSON (609/612), run the handler, and wrap the answer in the envelope with HTTP 200.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route as StarletteRoute

from leadsync.connectors.marketo.sandbox.envelope import MarketoError, RecordError, failure, request_id, success
from leadsync.connectors.marketo.sandbox.state import MarketoState

MAX_URI = 8 * 1024
MAX_BODY, MAX_BULK_BODY = 1024 * 1024, 10 * 1024 * 1024
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


@dataclass
class Call:
    """One API call as a handler sees it."""

    params: dict[str, Any]  # query string + form body (+ JSON body of a POST ... _method=GET)
    body: Any  # the JSON body of a POST or DELETE, else None
    path: dict[str, str]  # named groups of the route pattern
    method: str  # GET for a POST with _method=GET
    request_id: str
    client_id: str

    def json(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise MarketoError("609")
        return self.body


Handler = Callable[[Call], "dict[str, Any] | Response"]


@dataclass
class Route:
    pattern: str
    handlers: dict[str, Handler]
    asset: bool = False  # Asset API answers always carry `errors` and `warnings`
    regex: re.Pattern = field(init=False)

    def __post_init__(self) -> None:
        self.regex = re.compile(self.pattern)


class MarketoApi:
    def __init__(self, state: MarketoState, routes: list[Route]):
        self.state = state
        self.routes = routes
        self.errors_answered: Counter[str] = Counter()  # response-level error codes sent, for tests
        self.app = Starlette(routes=[StarletteRoute("/{path:path}", self.handle, methods=ALL_METHODS)])

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        if len(path) + len(request.url.query) > MAX_URI:
            return PlainTextResponse("414 Request-URI Too Long", status_code=414)
        if path == "/identity/oauth/token":
            return await self._identity(request)
        for route in self.routes:
            match = route.regex.fullmatch(path)
            if match:
                return await self._call(request, route, match.groupdict())
        if path.startswith(("/rest/", "/bulk/")):
            return JSONResponse(failure(request_id(), MarketoError("610")))
        return PlainTextResponse("Not Found", status_code=404)

    async def _identity(self, request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if params.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": "Unsupported grant type"}, status_code=400)
        token = self.state.tokens.issue(params.get("client_id"), params.get("client_secret"))
        if token is None:
            return JSONResponse({"error": "invalid_client", "error_description": "Bad client credentials"},
                                status_code=401)
        return JSONResponse(token)

    async def _call(self, request: Request, route: Route, path_params: dict[str, str]) -> Response:
        state = self.state
        rid = request_id()
        try:
            auth = request.headers.get("authorization", "")
            token_value = auth[7:].strip() if auth.lower().startswith("bearer ") else \
                request.query_params.get("access_token")
            token = state.tokens.check(token_value)
            forced = state.faults.take_forced(request.url.path)
            if forced is not None:
                raise forced
            ticket = state.meter.enter()
            refund = False
            try:
                if state.faults.call_duration_s:
                    await asyncio.sleep(state.faults.call_duration_s)
                call = await self._read(request, path_params, rid, token.client_id)
                if isinstance(call, Response):
                    return call
                handler = route.handlers.get(call.method)
                if handler is None:
                    raise MarketoError("605")
                try:
                    out = handler(call)
                except RecordError as error:  # a record-level check that applies to the whole call
                    raise MarketoError(error.code, error.message) from None
            except MarketoError:
                refund = True
                raise
            finally:
                state.meter.leave(ticket, refund)
        except MarketoError as error:
            self.errors_answered[error.code] += 1
            body = failure(rid, error)
            return JSONResponse({**body, "warnings": []} if route.asset else body)
        if isinstance(out, Response):
            return out
        if route.asset:
            out = {"errors": [], "warnings": [], **out}
        return JSONResponse(success(rid, **out))

    async def _read(self, request: Request, path_params: dict[str, str], rid: str,
                    client_id: str) -> Call | Response:
        limit = MAX_BULK_BODY if request.url.path.startswith("/bulk/") else MAX_BODY
        if int(request.headers.get("content-length") or 0) > limit:
            return PlainTextResponse("413 Request Entity Too Large", status_code=413)
        params: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            params[key] = f"{params[key]},{value}" if key in params else value
        body: Any = None
        if request.method in ("POST", "DELETE"):  # DELETE: Remove from List takes a JSON body too
            raw = await request.body()
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind == "application/x-www-form-urlencoded":
                for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
                    params[key] = f"{params[key]},{value}" if key in params and key != "_method" else value
            elif kind.endswith("json") or not raw.strip():
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    raise MarketoError("609") from None
            else:
                raise MarketoError("612")
        method = "GET" if request.method == "GET" or str(params.get("_method", "")).upper() == "GET" else \
            request.method
        if request.method == "POST" and method == "GET" and isinstance(body, dict):
            params.update(body)  # a POST ... _method=GET with a JSON body (compound-key queries)
        elif method == "POST" and body is None:
            raise MarketoError("612")  # writes take JSON
        params.pop("access_token", None)
        params.pop("_method", None)
        return Call(params, body if method in ("POST", "DELETE") else None, path_params, method, rid, client_id)
