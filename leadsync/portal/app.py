"""The portal's routes (a Starlette app mounted at /portal by the partner-response app).

Every route is in ROUTES with its access: `public` (sign-in pages), `member` (any signed-in partner user or
rep) or `admin` (the partner's admins). A member route answers a request without a live session by
sending it to the sign-in page; every POST is refused (403) without the session's CSRF token; and a
member's partner comes from the session alone, never from the request, so a lead or setting of another
partner is out of reach (404, as for an unknown lead). tests/portal/test_isolation.py walks ROUTES.
Store work runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.email_render import environment
from leadsync.lifecycle.events import LifecycleError
from leadsync.lifecycle.mail_queue import send_pending
from leadsync.lifecycle.smtp import Mailer, SmtpError
from leadsync.portal import auth
from leadsync.portal.i18n import LANGUAGES, error_text, gettext_callables, language_of, translate
from leadsync.portal.request_forms import HEADERS, csrf_token
from leadsync.portal.signed_in_site import SessionCookie, SiteRoute, signed_in_app

log = logging.getLogger(__name__)
SESSION_COOKIE = "leadsync_portal"


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

    # ------------------------------------------------------------------------------ the site (signed_in_site.py)

    sign_in_path = "/portal/sign-in"
    user_errors = (LifecycleError,)

    def enabled(self) -> bool:
        return self.ctx.settings.portal.enabled

    def user(self, request: Request) -> auth.Member | None:
        return self.member(request)

    def refusal(self, request: Request, route: SiteRoute, member: auth.Member) -> Response | None:
        if route.access == "admin" and member.role != "admin":
            return self.message(request, "Partner admins only", self.text(
                request, "Only your partner admins can change these settings."), 403, member, error=True)
        return None

    def text(self, request: Request, english: str) -> str:
        return translate(self.language(request), english)

    def error_text(self, request: Request, exc: Exception) -> str:
        return error_text(self.language(request), exc)


def create_portal(ctx: Lifecycle, clock: Callable[[], datetime], mailer: Mailer | None = None) -> Starlette:
    """The portal app; mount it at /portal. Sessions: Starlette's signed cookie (itsdangerous), HttpOnly,
    SameSite=Lax, Secure when web.base_url is https, for /portal only."""
    from leadsync.portal import views

    portal = Portal(ctx, clock, mailer)
    secure = ctx.settings.web.base_url.startswith("https://")
    return signed_in_app(portal, views.Views(portal), ROUTES, SessionCookie(
        SESSION_COOKIE, ctx.settings.web.secret().decode() + ":portal", ctx.settings.portal.session_hours,
        "/portal", secure))


ROUTES: list[SiteRoute] = [
    SiteRoute("/", "home", ("GET",), "public"),
    SiteRoute("/sign-in", "sign_in", ("GET", "POST"), "public"),
    SiteRoute("/sign-in/link", "sign_in_link", ("GET", "POST"), "public"),
    SiteRoute("/sign-out", "sign_out", ("POST",), "member"),
    SiteRoute("/language", "set_language", ("POST",), "public"),
    SiteRoute("/leads", "leads", ("GET",), "member"),
    SiteRoute("/leads/bulk", "bulk", ("POST",), "member"),
    SiteRoute("/leads/{lead_id}", "lead", ("GET",), "member"),
    SiteRoute("/pipeline", "pipeline", ("GET",), "member"),
    SiteRoute("/pipeline.csv", "pipeline_csv", ("GET",), "member"),
    SiteRoute("/ranking", "ranking", ("GET",), "member"),
    SiteRoute("/settings", "settings", ("GET", "POST"), "admin"),
]
