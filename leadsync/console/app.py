"""The console's routes (a Starlette app mounted at /console by the partner-response app).

Every route is in ROUTES with its access: `public` (the sign-in pages) or `supplier` (a supplier user: a live
console session, or a request from a trusted SSO proxy naming a console user). A supplier route answers
anyone else by sending them to the sign-in page — a partner's portal session included: it is another cookie
(`leadsync_portal`, path /portal) naming a row of another table. Every POST is refused (403) without the
session's CSRF token (the portal's synchronizer token, leadsync/portal/app.py). Store work runs in a worker
thread, never on the event loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from leadsync.console import auth
from leadsync.console.config import ConsoleSetup, ConsoleUser
from leadsync.console.tables import ensure_tables
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.events import LifecycleError
from leadsync.lifecycle.mail_queue import send_pending
from leadsync.lifecycle.smtp import Mailer, SmtpError
from leadsync.lifecycle.tokens import TokenError
from leadsync.portal.app import HEADERS, csrf_ok, csrf_token, read_form

log = logging.getLogger(__name__)
SESSION_COOKIE = "leadsync_console"
TEMPLATES = Path(__file__).parent / "templates"
PORTAL_TEMPLATES = TEMPLATES.parents[1] / "portal" / "templates"  # the style the console shares with the portal


@dataclass(frozen=True)
class ConsoleRoute:
    path: str
    endpoint: str  # the Views method answering it
    methods: tuple[str, ...]
    access: str  # public | supplier


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader([TEMPLATES, PORTAL_TEMPLATES]), undefined=jinja2.StrictUndefined,
                              autoescape=jinja2.select_autoescape(["html"]))


class Console:
    """Request handling shared by the pages (the pages live in views.py and reports_views.py)."""

    def __init__(self, ctx: Lifecycle, setup: ConsoleSetup, clock: Callable[[], datetime], mailer: Mailer | None):
        self.ctx = ctx
        self.setup = setup
        self.config = setup.config
        self.clock = clock
        self.mailer = mailer
        self.templates = environment()

    def page(self, request: Request, template: str, title: str, user: ConsoleUser | None = None,
             status_code: int = 200, **context) -> HTMLResponse:
        html = self.templates.get_template(f"console/{template}.html").render(
            title=title, user=user, csrf=csrf_token(request), notice=request.session.pop("notice", None),
            **context)
        return HTMLResponse(html, status_code=status_code, headers=HEADERS)

    def message(self, request: Request, title: str, message: str, status_code: int = 200,
                user: ConsoleUser | None = None, error: bool = False) -> HTMLResponse:
        return self.page(request, "message", title, user, status_code, message=message, error=error)

    def send(self, delivery_ids: list[str]) -> None:
        if delivery_ids:
            try:
                send_pending(self.ctx, self.clock(), self.mailer, delivery_ids)
            except SmtpError as exc:
                log.warning("console email left queued: %s", exc)

    def user(self, request: Request) -> ConsoleUser | None:
        """The SSO proxy's user (trusted proxies only), else the session's."""
        client = request.client.host if request.client else None
        via_sso = auth.sso_user(self.config, request.headers, client)
        if via_sso is not None:
            return via_sso
        return auth.session_user(self.ctx, self.config, request.session.get("sid"), self.clock())


def create_console(ctx: Lifecycle, clock: Callable[[], datetime], mailer: Mailer | None,
                   setup: ConsoleSetup) -> Starlette:
    """The console app; mount it at /console. Sessions: Starlette's signed cookie (itsdangerous), HttpOnly,
    SameSite=Lax, Secure when web.base_url is https, for /console only."""
    from leadsync.console.views import Views

    with ctx.store.begin() as conn:
        ensure_tables(conn)
    console = Console(ctx, setup, clock, mailer)
    handlers = Views(console)

    def endpoint(route: ConsoleRoute):
        method = getattr(handlers, route.endpoint)

        async def handle(request: Request) -> Response:
            if not setup.config.enabled:
                return Response("Not Found", 404)
            form: dict[str, list[str]] | None = None
            if request.method == "POST":
                try:
                    form = await read_form(request)
                except LifecycleError as exc:
                    return console.message(request, "This cannot be done", str(exc), exc.status_code, error=True)
                if not csrf_ok(request, form):
                    return console.message(request, "The form has expired", "The page was open too long or in "
                                           "another session. Reload it and try again.", 403, error=True)
            user = None
            if route.access != "public":
                user = await run_in_threadpool(console.user, request)
                if user is None:
                    request.session.pop("sid", None)
                    return RedirectResponse("/console/sign-in", 303)
            try:
                return await run_in_threadpool(method, request, user, form)
            except TokenError as exc:
                return console.message(request, exc.title, str(exc), exc.status_code, user, error=True)
            except (LifecycleError, ValueError) as exc:
                return console.message(request, "This cannot be done", str(exc),
                                       getattr(exc, "status_code", 400), user, error=True)

        return handle

    secure = ctx.settings.web.base_url.startswith("https://")
    return Starlette(
        routes=[Route(r.path, endpoint(r), methods=list(r.methods)) for r in ROUTES],
        middleware=[Middleware(SessionMiddleware, secret_key=ctx.settings.web.secret().decode() + ":console",
                               session_cookie=SESSION_COOKIE, max_age=int(setup.config.session_hours * 3600),
                               path="/console", same_site="lax", https_only=secure)])


ROUTES: list[ConsoleRoute] = [
    ConsoleRoute("/", "home", ("GET",), "public"),
    ConsoleRoute("/sign-in", "sign_in", ("GET", "POST"), "public"),
    ConsoleRoute("/sign-in/link", "sign_in_link", ("GET", "POST"), "public"),
    ConsoleRoute("/sign-out", "sign_out", ("POST",), "supplier"),
    ConsoleRoute("/queues", "queues", ("GET",), "supplier"),
    ConsoleRoute("/bulk", "bulk", ("POST",), "supplier"),
    ConsoleRoute("/leads/new", "new_lead", ("GET", "POST"), "supplier"),
    ConsoleRoute("/search", "search", ("GET",), "supplier"),
    ConsoleRoute("/partners", "partners", ("GET",), "supplier"),
    ConsoleRoute("/reports", "reports", ("GET",), "supplier"),
    ConsoleRoute("/reports/{name}", "report", ("GET",), "supplier"),
    ConsoleRoute("/reports/{name}/chart.png", "report_chart", ("GET",), "supplier"),
    ConsoleRoute("/reports/{name}/export.{fmt}", "report_export", ("GET",), "supplier"),
]
