"""What the portal and the console share as web sites a user signs in to: the route table's shape, and the one
request wrapper every route goes through (the site switched off → 404; a POST's form read with a size cap and
its CSRF token checked; a non-public route needs a signed-in user, else the sign-in page; the page's own work
in a worker thread, never on the event loop; a user's mistake shown as a page, not a stack trace), and the
signed session cookie.

A site supplies what differs (`SignedInSite`): who the user is, the language its messages are in, who may see
an admin route, and which errors are the user's to fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from leadsync.lifecycle.events import LifecycleError
from leadsync.lifecycle.tokens import TokenError
from leadsync.portal.request_forms import csrf_ok, read_form

@dataclass(frozen=True)
class SiteRoute:
    path: str
    endpoint: str  # the name of the Views method answering it
    methods: tuple[str, ...]
    access: str  # `public`, or the kind of signed-in user the site asks for (member, admin, supplier)


class SignedInSite(Protocol):
    sign_in_path: str
    user_errors: tuple[type[Exception], ...]  # shown to the user as "This cannot be done: …"

    def enabled(self) -> bool: ...

    def user(self, request: Request) -> Any | None: ...  # runs in a worker thread (reads the store)

    def refusal(self, request: Request, route: SiteRoute, user: Any) -> Response | None: ...

    def text(self, request: Request, english: str) -> str: ...  # in the request's language

    def error_text(self, request: Request, exc: Exception) -> str: ...

    def message(self, request: Request, title: str, message: str, status_code: int = 200,
                user: Any | None = None, error: bool = False) -> Response: ...


@dataclass(frozen=True)
class SessionCookie:
    """Starlette's signed cookie (itsdangerous): HttpOnly, SameSite=Lax, Secure on https, for `path` only."""
    name: str
    secret: str
    hours: float
    path: str
    https_only: bool


def signed_in_app(site: SignedInSite, handlers: object, routes: list[SiteRoute], cookie: SessionCookie) -> Starlette:
    def endpoint(route: SiteRoute) -> Callable:
        method = getattr(handlers, route.endpoint)

        async def handle(request: Request) -> Response:
            if not site.enabled():
                return Response("Not Found", 404)
            form: dict[str, list[str]] | None = None
            if request.method == "POST":
                try:
                    form = await read_form(request)
                except LifecycleError as exc:
                    return site.message(request, "This cannot be done", site.error_text(request, exc),
                                        exc.status_code, error=True)
                if not csrf_ok(request, form):
                    return site.message(request, "The form has expired", site.text(
                        request, "The page was open too long or in another session. Reload it and try again."), 403,
                        error=True)
            user = None
            if route.access != "public":
                user = await run_in_threadpool(site.user, request)
                if user is None:
                    request.session.pop("sid", None)
                    return RedirectResponse(site.sign_in_path, 303)
                refused = site.refusal(request, route, user)
                if refused is not None:
                    return refused
            try:
                return await run_in_threadpool(method, request, user, form)
            except TokenError as exc:
                return site.message(request, exc.title, site.error_text(request, exc), exc.status_code, user,
                                    error=True)
            except site.user_errors as exc:
                return site.message(request, "This cannot be done", site.error_text(request, exc),
                                    getattr(exc, "status_code", 400), user, error=True)

        return handle

    return Starlette(
        routes=[Route(r.path, endpoint(r), methods=list(r.methods)) for r in routes],
        middleware=[Middleware(SessionMiddleware, secret_key=cookie.secret, session_cookie=cookie.name,
                               max_age=int(cookie.hours * 3600), path=cookie.path, same_site="lax",
                               https_only=cookie.https_only)])
