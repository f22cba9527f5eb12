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
from datetime import datetime
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from leadsync.console import auth
from leadsync.console.config import ConsoleSetup, ConsoleUser
from leadsync.console.tables import ensure_tables
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.events import LifecycleError
from leadsync.lifecycle.mail_queue import send_pending
from leadsync.lifecycle.smtp import Mailer, SmtpError
from leadsync.portal.request_forms import HEADERS, csrf_token
from leadsync.portal.signed_in_site import SessionCookie, SiteRoute, signed_in_app

log = logging.getLogger(__name__)
SESSION_COOKIE = "leadsync_console"
TEMPLATES = Path(__file__).parent / "templates"
PORTAL_TEMPLATES = TEMPLATES.parents[1] / "portal" / "templates"  # the style the console shares with the portal


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

    # ------------------------------------------------------------------------------ the site (signed_in_site.py)

    sign_in_path = "/console/sign-in"
    user_errors = (LifecycleError, ValueError)

    def enabled(self) -> bool:
        return self.config.enabled

    def refusal(self, request: Request, route: SiteRoute, user: ConsoleUser) -> Response | None:
        return None  # every console user is a supplier user: no route is narrower

    def text(self, request: Request, english: str) -> str:
        return english  # the console is in English

    def error_text(self, request: Request, exc: Exception) -> str:
        return str(exc)


def create_console(ctx: Lifecycle, clock: Callable[[], datetime], mailer: Mailer | None,
                   setup: ConsoleSetup) -> Starlette:
    """The console app; mount it at /console. Sessions: Starlette's signed cookie (itsdangerous), HttpOnly,
    SameSite=Lax, Secure when web.base_url is https, for /console only."""
    from leadsync.console.views import Views

    with ctx.store.begin() as conn:
        ensure_tables(conn)
    console = Console(ctx, setup, clock, mailer)
    secure = ctx.settings.web.base_url.startswith("https://")
    return signed_in_app(console, Views(console), ROUTES, SessionCookie(
        SESSION_COOKIE, ctx.settings.web.secret().decode() + ":console", setup.config.session_hours,
        "/console", secure))


ROUTES: list[SiteRoute] = [
    SiteRoute("/", "home", ("GET",), "public"),
    SiteRoute("/sign-in", "sign_in", ("GET", "POST"), "public"),
    SiteRoute("/sign-in/link", "sign_in_link", ("GET", "POST"), "public"),
    SiteRoute("/sign-out", "sign_out", ("POST",), "supplier"),
    SiteRoute("/queues", "queues", ("GET",), "supplier"),
    SiteRoute("/bulk", "bulk", ("POST",), "supplier"),
    SiteRoute("/leads/new", "new_lead", ("GET", "POST"), "supplier"),
    SiteRoute("/search", "search", ("GET",), "supplier"),
    SiteRoute("/partners", "partners", ("GET",), "supplier"),
    SiteRoute("/reports", "reports", ("GET",), "supplier"),
    SiteRoute("/reports/{name}", "report", ("GET",), "supplier"),
    SiteRoute("/reports/{name}/chart.png", "report_chart", ("GET",), "supplier"),
    SiteRoute("/reports/{name}/export.{fmt}", "report_export", ("GET",), "supplier"),
]
