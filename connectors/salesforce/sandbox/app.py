"""The Starlette app: Salesforce's URL space, authentication, the API budget, and error bodies.

Every /services/data/vXX.X/... call needs `Authorization: Bearer <token>` (else 401 INVALID_SESSION_ID),
counts against the daily API budget (else 403 REQUEST_LIMIT_EXCEEDED) and answers with
`Sforce-Limit-Info: api-usage=used/limit`. Any API version is accepted. Trailing slashes are ignored
(simple-salesforce sends `/query/` and `/sobjects/Lead/`). Handlers are plain functions run in a worker
thread, so a slow query never blocks the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from leadsync.connectors.salesforce.sandbox import (
    bulk_ingest,
    bulk_query,
    bulk_v1,
    rest_collections,
    rest_composite,
    rest_query,
    rest_replication,
    rest_sobjects,
)
from leadsync.connectors.salesforce.sandbox.auth import OAuthError
from leadsync.connectors.salesforce.sandbox.context import ApiCall, Org
from leadsync.connectors.salesforce.sandbox.errors import NOT_FOUND_MESSAGE, ApiError
from leadsync.connectors.salesforce.sandbox.limits import LIMIT_EXCEEDED_MESSAGE
from leadsync.connectors.salesforce.sandbox.oauth_web import OAuthFlowError

Handler = Callable[[Org, ApiCall], Response]
_VERSION = re.compile(r"^v(\d{2,3}\.\d)$")
DATA = "/services/data/{version}"


def _api(org: Org, handler: Handler) -> Callable[[Request], object]:
    async def endpoint(request: Request) -> Response:
        match = _VERSION.match(request.path_params.get("version", ""))
        if match is None:
            return ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE).response()
        authorization = request.headers.get("authorization", "")
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else None
        session = org.sessions.valid(token)
        if session is None:
            return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid").response()
        if not org.budget.charge():
            return ApiError(403, "REQUEST_LIMIT_EXCEEDED", LIMIT_EXCEEDED_MESSAGE,
                            headers={"Sforce-Limit-Info": org.budget.header()}).response()
        call = ApiCall(method=request.method, version=match.group(1), params=dict(request.path_params),
                       query=dict(request.query_params), headers=request.headers, body=await request.body(),
                       user_id=session.user_id)
        try:
            response = await run_in_threadpool(handler, org, call)
        except ApiError as exc:
            response = exc.response()
        response.headers["Sforce-Limit-Info"] = org.budget.header()
        return response

    return endpoint


def _token_endpoint(org: Org) -> Callable[[Request], object]:
    async def endpoint(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        try:
            body = org.auth.token(form, request.headers.get("authorization"))
        except (OAuthError, OAuthFlowError) as exc:
            return JSONResponse(exc.body, status_code=400)
        return JSONResponse(body)

    return endpoint


def _authorize(org: Org) -> Callable[[Request], object]:
    async def endpoint(request: Request) -> Response:
        status, headers, html = org.auth.web.authorize(dict(request.query_params))
        return Response(html, status_code=status, headers=headers, media_type="text/html")

    return endpoint


def _revoke(org: Org) -> Callable[[Request], object]:
    async def endpoint(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        token = form.get("token") or request.query_params.get("token", "")
        if org.auth.web.revoke(token) or org.sessions.valid(token):
            org.sessions.revoke(token)
            return Response(status_code=200)
        return JSONResponse({"error": "unsupported_token_type", "error_description": "this token type is not "
                                                                                     "supported"}, status_code=400)

    return endpoint


def _soap_login(org: Org) -> Callable[[Request], object]:
    async def endpoint(request: Request) -> Response:
        status, xml = org.auth.soap_login(await request.body(), request.path_params["version"])
        return Response(xml, status_code=status, media_type="text/xml; charset=utf-8")

    return endpoint


async def _versions(request: Request) -> Response:
    return rest_sobjects.versions()


# The REST resources a direct call or a composite subrequest reaches: (path under DATA, handler, methods,
# extra path parameters).
REST_RESOURCES: list[tuple[str, Handler, list[str], dict[str, str]]] = [
    ("", rest_sobjects.resources, ["GET"], {}),
    ("/limits", rest_sobjects.limits, ["GET"], {}),
    ("/query", rest_query.query, ["GET"], {"endpoint": "query"}),
    ("/queryAll", rest_query.query, ["GET"], {"endpoint": "queryAll"}),
    ("/query/{locator}", rest_query.query_more, ["GET"], {}),
    ("/queryAll/{locator}", rest_query.query_more, ["GET"], {}),
    ("/sobjects", rest_sobjects.global_describe, ["GET"], {}),
    ("/sobjects/{sobject}", rest_sobjects.sobject_root, ["GET", "POST"], {}),
    ("/sobjects/{sobject}/describe", rest_sobjects.describe, ["GET"], {}),
    ("/sobjects/{sobject}/updated", rest_replication.updated, ["GET"], {}),
    ("/sobjects/{sobject}/deleted", rest_replication.deleted, ["GET"], {}),
    ("/sobjects/{sobject}/{record_id}", rest_sobjects.record, ["GET", "PATCH", "DELETE"], {}),
    ("/sobjects/{sobject}/{field}/{value}", rest_sobjects.by_external_id, ["GET", "PATCH", "DELETE"], {}),
    ("/composite/sobjects", rest_collections.create, ["POST"], {}),
    ("/composite/sobjects", rest_collections.update, ["PATCH"], {}),
    ("/composite/sobjects", rest_collections.delete, ["DELETE"], {}),
    ("/composite/sobjects/{sobject}", rest_collections.retrieve, ["GET"], {}),
    ("/composite/sobjects/{sobject}/{field}", rest_collections.upsert, ["PATCH"], {}),
]


def _routes(org: Org) -> list[Route]:
    def api(path: str, handler: Handler, methods: list[str], **extra: str) -> Route:
        endpoint = _api(org, handler)
        if extra:
            async def with_params(request: Request, _endpoint=endpoint, _extra=extra) -> Response:
                request.scope["path_params"] = {**request.path_params, **_extra}
                return await _endpoint(request)
            return Route(DATA + path, with_params, methods=methods)
        return Route(DATA + path, endpoint, methods=methods)

    subrequests = rest_composite.Subrequests(REST_RESOURCES)
    ingest_results = "/jobs/ingest/{job_id}/{kind}"
    return [
        Route("/services/oauth2/token", _token_endpoint(org), methods=["POST"]),
        Route("/services/oauth2/authorize", _authorize(org), methods=["GET"]),
        Route("/services/oauth2/revoke", _revoke(org), methods=["POST"]),
        Route("/services/Soap/u/{version}", _soap_login(org), methods=["POST"]),
        Route("/services/data", _versions, methods=["GET"]),
        *(api(path, handler, methods, **extra) for path, handler, methods, extra in REST_RESOURCES),
        api("/composite", rest_composite.composite(subrequests), ["POST"]),
        api("/composite/batch", rest_composite.batch(subrequests), ["POST"]),
        api("/composite/tree/{sobject}", rest_composite.tree, ["POST"]),
        api("/jobs/query", bulk_query.create, ["POST"]),
        api("/jobs/query", bulk_query.listing, ["GET"]),
        api("/jobs/query/{job_id}", bulk_query.info, ["GET", "PATCH", "DELETE"]),
        api("/jobs/query/{job_id}/results", bulk_query.results, ["GET"]),
        api("/jobs/ingest", bulk_ingest.create, ["POST"]),
        api("/jobs/ingest", bulk_ingest.listing, ["GET"]),
        api("/jobs/ingest/{job_id}", bulk_ingest.info, ["GET", "PATCH", "DELETE"]),
        api("/jobs/ingest/{job_id}/batches", bulk_ingest.upload, ["PUT"]),
        api(ingest_results, bulk_ingest.results, ["GET"]),
        *bulk_v1.routes(org),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        return JSONResponse([{"message": f"HTTP Method '{request.method}' not allowed.",
                              "errorCode": "METHOD_NOT_ALLOWED"}], status_code=405)
    if status == 404:
        return JSONResponse([{"message": NOT_FOUND_MESSAGE, "errorCode": "NOT_FOUND"}], status_code=404)
    return JSONResponse([{"message": "An unexpected error occurred.", "errorCode": "UNKNOWN_EXCEPTION"}],
                        status_code=status)


class _StripTrailingSlash:
    """`/query/` and `/query` are the same resource (redirecting would lose PATCH bodies)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(scope["path"]) > 1 and scope["path"].endswith("/"):
            scope = dict(scope)
            scope["path"] = scope["path"].rstrip("/") or "/"
            raw = scope.get("raw_path")
            if raw:
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def build_app(org: Org) -> ASGIApp:
    app = Starlette(routes=_routes(org), exception_handlers={404: _http_error, 405: _http_error})
    app.router.redirect_slashes = False
    return _StripTrailingSlash(app)
