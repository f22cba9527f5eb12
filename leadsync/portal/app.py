"""The portal's routes (a Starlette app mounted at /portal by the partner-response app).

Every route is in ROUTES with its access: `public` (sign-in pages), `member` (any signed-in partner user or
rep) or `admin` (the partner's admins). A member route answers a request without a live session by
sending it to the sign-in page; every POST is refused (403) without the session's CSRF token; and a
member's partner comes from the session alone, never from the request, so a lead or setting of another
partner is out of reach (404, as for an unknown lead). tests/portal/test_isolation.py walks ROUTES.
Store work runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.email_render import environment
from leadsync.lifecycle.events import LifecycleError
from leadsync.lifecycle.mail_queue import send_pending
from leadsync.lifecycle.smtp import Mailer, SmtpError
from leadsync.lifecycle.tokens import TokenError
from leadsync.portal import auth
from leadsync.portal.i18n import LANGUAGES, error_text, gettext_callables, language_of, translate

log = logging.getLogger(__name__)
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                      "script-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"}
MAX_FORM = 1024 * 1024
SESSION_COOKIE = "leadsync_portal"


@dataclass(frozen=True)
class PortalRoute:
    path: str
    endpoint: str  # the Portal method answering it
    methods: tuple[str, ...]
    access: str  # public | member | admin


class Portal:
    """Request handling shared by the pages (pages themselves live in views.py)."""

    def __init__(self, ctx: Lifecycle, clock: Callable[[], datetime], mailer: Mailer | None):
        self.ctx = ctx
        self.clock = clock
        self.mailer = mailer

    # ------------------------------------------------------------------------------ rendering

    def language(self, request: Request, member: auth.Member | None = None) -> str:
        """The member's chosen language, else the browser's, else English."""
        chosen = request.session.get("lang")
        if chosen:
            return language_of(chosen)
        header = request.headers.get("accept-language", "")
        for part in header.split(","):
            code = part.split(";")[0].strip()
            if code and language_of(code) == code.split("-")[0].lower():
                return language_of(code)
        return "en"

    def page(self, request: Request, template: str, title: str, member: auth.Member | None = None,
             status_code: int = 200, **context) -> HTMLResponse:
        lang = self.language(request, member)
        partner = self.ctx.partner(member.partner_id) if member else None
        html = environment().get_template(f"portal/{template}.html").render(
            **gettext_callables(lang), title=translate(lang, title), member=member, partner=partner,
            csrf=csrf_token(request), languages=LANGUAGES, notice=request.session.pop("notice", None),
            next_url=request.url.path if request.method == "GET" and status_code == 200 else "/portal/",
            support_contact=self.ctx.settings.web.support_contact, **context)
        return HTMLResponse(html, status_code=status_code, headers=HEADERS)

    def message(self, request: Request, title: str, message: str, status_code: int = 200,
                member: auth.Member | None = None, error: bool = False) -> HTMLResponse:
        return self.page(request, "message", title, member, status_code, message=message, error=error)

    def send(self, delivery_ids: list[str]) -> None:
        """Send now; when the mail server fails the emails stay queued for the delivery job."""
        if delivery_ids:
            try:
                send_pending(self.ctx, self.clock(), self.mailer, delivery_ids)
            except SmtpError as exc:
                log.warning("portal email left queued: %s", exc)

    # ------------------------------------------------------------------------------ sessions

    def member(self, request: Request) -> auth.Member | None:
        return auth.session_member(self.ctx, request.session.get("sid"), self.clock())


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use): every form carries it back (synchronizer token)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, form: dict[str, list[str]]) -> bool:
    expected = request.session.get("csrf")
    given = (form.get("csrf") or [""])[0]
    return bool(expected) and hmac.compare_digest(str(expected), given)


async def read_form(request: Request) -> dict[str, list[str]]:
    """URL-encoded form fields, each a list (checkboxes repeat a name); LifecycleError past MAX_FORM."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise LifecycleError("The form is too large; select fewer leads.", None, 413)
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        out.setdefault(key, []).append(value)
    return out


def first(form: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[0] for k, v in form.items()}


Handler = Callable[..., Awaitable[Response]]


def create_portal(ctx: Lifecycle, clock: Callable[[], datetime], mailer: Mailer | None = None) -> Starlette:
    """The portal app; mount it at /portal. Sessions: Starlette's signed cookie (itsdangerous), HttpOnly,
    SameSite=Lax, Secure when web.base_url is https, for /portal only."""
    from leadsync.portal import views

    portal = Portal(ctx, clock, mailer)
    handlers = views.Views(portal)

    def endpoint(route: PortalRoute):
        method = getattr(handlers, route.endpoint)

        async def handle(request: Request) -> Response:
            if not ctx.settings.portal.enabled:
                return Response("Not Found", 404)
            form: dict[str, list[str]] | None = None
            if request.method == "POST":
                try:
                    form = await read_form(request)
                except LifecycleError as exc:
                    return portal.message(request, "This cannot be done", error_text(portal.language(request), exc),
                                          exc.status_code, error=True)
                if not csrf_ok(request, form):
                    return portal.message(request, "The form has expired",
                                          translate(portal.language(request), "The page was open too long or in "
                                                    "another session. Reload it and try again."), 403, error=True)
            member = None
            if route.access != "public":
                member = await run_in_threadpool(portal.member, request)
                if member is None:
                    request.session.pop("sid", None)
                    return RedirectResponse("/portal/sign-in", 303)
                if route.access == "admin" and member.role != "admin":
                    return portal.message(request, "Partner admins only",
                                          translate(portal.language(request), "Only your partner admins can "
                                                    "change these settings."), 403, member, error=True)
            try:
                return await run_in_threadpool(method, request, member, form)
            except TokenError as exc:
                return portal.message(request, exc.title, error_text(portal.language(request), exc), exc.status_code,
                                      member, error=True)
            except LifecycleError as exc:
                return portal.message(request, "This cannot be done", error_text(portal.language(request), exc),
                                      exc.status_code, member, error=True)

        return handle

    secure = ctx.settings.web.base_url.startswith("https://")
    return Starlette(
        routes=[Route(r.path, endpoint(r), methods=list(r.methods)) for r in ROUTES],
        middleware=[Middleware(SessionMiddleware, secret_key=ctx.settings.web.secret().decode() + ":portal",
                               session_cookie=SESSION_COOKIE, max_age=int(ctx.settings.portal.session_hours * 3600),
                               path="/portal", same_site="lax", https_only=secure)])


ROUTES: list[PortalRoute] = [
    PortalRoute("/", "home", ("GET",), "public"),
    PortalRoute("/sign-in", "sign_in", ("GET", "POST"), "public"),
    PortalRoute("/sign-in/link", "sign_in_link", ("GET", "POST"), "public"),
    PortalRoute("/sign-out", "sign_out", ("POST",), "member"),
    PortalRoute("/language", "set_language", ("POST",), "public"),
    PortalRoute("/leads", "leads", ("GET",), "member"),
    PortalRoute("/leads/bulk", "bulk", ("POST",), "member"),
    PortalRoute("/leads/{lead_id}", "lead", ("GET",), "member"),
    PortalRoute("/pipeline", "pipeline", ("GET",), "member"),
    PortalRoute("/pipeline.csv", "pipeline_csv", ("GET",), "member"),
    PortalRoute("/ranking", "ranking", ("GET",), "member"),
    PortalRoute("/settings", "settings", ("GET", "POST"), "admin"),
]
