"""The partner-response web app (Starlette, Jinja2 pages) that email links point at.

  GET  /lead/accept?t=…   the lead and an Accept button (web.one_click_accept: accepts at once)
  POST /lead/accept       accept (t in the form)
  GET  /lead/reject?t=…   the reject form (reasons from lifecycle.yaml)
  POST /lead/reject       reject with a reason and comment
  GET  /lead/status?t=…   a lead's status page: sales status, rep, opportunity, marketing events, history
  POST /lead/status       one update (same fields as an import row)
  GET  /import?t=…        the partner's CSV upload page; POST /import applies the file
  POST /api/v1/updates    JSON {"updates": [row, …]} or a text/csv body; Authorization: Bearer <API key>
  POST /api/v1/leads      partner-created leads for auto-registration, JSON {"leads": [{reference, …}, …]}
  GET  /healthz

Every link carries a signed token (tokens.py). A forged, expired or reused token gets a page saying so;
accept and reject links work once, and the action they record is recorded once even if clicked twice.
Store work runs in a worker thread, never on the event loop.

Pages speak the language of the partner the link was sent to, with times in its time zone (web_reader.py):
every text shown is a Message or a template's _() (gettext, leadsync/portal/i18n.py). The JSON API stays English.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from leadsync.config.partners import PartnersConfig
from leadsync.config.schema import SourceConfig
from leadsync.console.app import create_console
from leadsync.console.config import ConsoleSetup
from leadsync.lifecycle import tables as lt
from leadsync.lifecycle.acceptance import OfferTaken, accept, reject
from leadsync.lifecycle.context import Lifecycle
from leadsync.lifecycle.email_render import environment
from leadsync.lifecycle.events import LifecycleError, current_assignment, lead_events, progress
from leadsync.lifecycle.lead_view import lead_view
from leadsync.lifecycle.links import link
from leadsync.lifecycle.mail_queue import send_pending
from leadsync.lifecycle.opportunities import current_opportunity
from leadsync.lifecycle.registration import register_partner_leads
from leadsync.lifecycle.settings import LifecycleSettings
from leadsync.lifecycle.smtp import Mailer, SmtpError
from leadsync.lifecycle.status import SALES_STATUSES, allowed_next
from leadsync.lifecycle.tokens import Claims, TokenError, TokenExpired, TokenUsed, verify
from leadsync.lifecycle.updates import COLUMNS, ImportReport, apply_update, import_csv, import_rows
from leadsync.lifecycle.web_reader import Reader, reader_of
from leadsync.portal.app import create_portal
from leadsync.portal.i18n import DEFAULT, Message, browser_language, gettext_callables
from leadsync.routing.offers import winner_of
from leadsync.store import LeadStore
from leadsync.store.faults import StoreFault, wait_seconds

log = logging.getLogger(__name__)
MAX_BODY = 10 * 1024 * 1024
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff"}


class Refused(Exception):
    """A link refused before its page could be shown; `page` says why to its reader."""

    def __init__(self, page: HTMLResponse):
        super().__init__("refused")
        self.page = page


USED = {"accept": Message("This accept link was used on %(when)s; each accept or reject link works once. Nothing "
                          "was changed."),
        "reject": Message("This reject link was used on %(when)s; each accept or reject link works once. Nothing "
                          "was changed.")}
ALREADY = {"accepted": Message("This lead is already accepted; there is nothing to decide."),
           "rejected": Message("This lead is already rejected; there is nothing to decide."),
           "withdrawn": Message("This lead is already withdrawn; there is nothing to decide.")}


class _App:
    def __init__(self, ctx: Lifecycle, clock: Callable[[], datetime], mailer: Mailer | None):
        self.ctx = ctx
        self.clock = clock
        self.mailer = mailer

    # ------------------------------------------------------------------------------------ rendering

    def page(self, reader: Reader, template: str, title: str, status_code: int = 200, **context) -> HTMLResponse:
        html = environment().get_template(f"web/{template}.html").render(
            **gettext_callables(reader.language), title=reader.text(title),
            support_contact=self.ctx.settings.web.support_contact, **context)
        return HTMLResponse(html, status_code=status_code, headers=HEADERS)

    def message(self, reader: Reader, title: str, message: str, status_code: int = 200, error: bool = False,
                status_url: str | None = None) -> HTMLResponse:
        return self.page(reader, "message", title, status_code, message=reader.text(message), error=error,
                         status_url=status_url)

    def refused(self, reader: Reader, exc: TokenError | LifecycleError) -> HTMLResponse:
        if isinstance(exc, OfferTaken):
            text = exc.args[0] if exc.taken_at is None else Message(
                "This lead was taken: another partner accepted it first (%(when)s). Nothing was changed.",
                when=reader.time(exc.taken_at))
            return self.message(reader, Message("This lead was taken"), text, exc.status_code)
        if isinstance(exc, TokenExpired) and exc.claims is not None:
            return self.message(reader, exc.title, Message("The link expired on %(when)s.",
                                                           when=reader.time(exc.claims.expires_at)),
                                exc.status_code, error=True)
        if isinstance(exc, TokenError):
            return self.message(reader, exc.title, exc.args[0], exc.status_code, error=True)
        return self.message(reader, Message("This cannot be done"), exc.args[0], exc.status_code, error=True)

    def reader(self, partner_id: str | None, browser: str | None) -> Reader:
        return reader_of(self.ctx, partner_id, browser)

    # ------------------------------------------------------------------------------------ tokens

    def claims(self, token: str | None, action: str, browser: str | None) -> tuple[Claims, Reader]:
        """The link's claims and its reader, else Refused (an expired link's page still in its partner's
        language: its signature held)."""
        try:
            claims = verify(self.ctx.settings.web.secret(), token, action, self.clock())
        except TokenError as exc:
            raise Refused(self.refused(self.reader(exc.claims.partner_id if exc.claims else None, browser),
                                       exc)) from None
        return claims, self.reader(claims.partner_id, browser)

    def lock_lead(self, conn: sa.Connection, claims: Claims) -> None:
        """Two clicks at once on Postgres: the second waits here for the first to commit, then finds its
        token used. (On DuckDB the store's file lock serialises every transaction already.)"""
        current_assignment(self.ctx, conn, claims.lead_id, lock=True)

    @staticmethod
    def check_unused(conn: sa.Connection, claims: Claims, reader: Reader) -> None:
        u = lt.used_tokens
        used = conn.execute(sa.select(u.c.used_at).where(u.c.token_id == claims.token_id)).all()
        if used:
            raise TokenUsed(Message(USED[claims.action].msgid, when=reader.time(used[0][0])))

    @staticmethod
    def mark_used(conn: sa.Connection, claims: Claims, now: datetime) -> None:
        conn.execute(sa.insert(lt.used_tokens).values(token_id=claims.token_id, action=claims.action,
                                                      lead_id=claims.lead_id, partner_id=claims.partner_id,
                                                      used_at=now))

    def status_url(self, claims: Claims) -> str:
        return link(self.ctx, "status", claims.partner_id, claims.lead_id, self.clock())

    # ------------------------------------------------------------------------------------ accept / reject

    def show_lead(self, claims: Claims, reader: Reader, template: str, title: str, **context) -> HTMLResponse:
        with self.ctx.store.begin() as conn:
            self.check_unused(conn, claims, reader)
            current = current_assignment(self.ctx, conn, claims.lead_id)
            view = lead_view(self.ctx, conn, claims.lead_id)
            won = winner_of(conn, claims.lead_id)
        if won is not None and won[0] != claims.partner_id:
            raise OfferTaken(f"This lead was taken: another partner accepted it first ({won[1]:%d %b %Y %H:%M} UTC).",
                             taken_at=won[1])
        if current is not None and current["status"] == "offered" and template == "accept" and \
                claims.partner_id in (current["candidates"] or "").split(","):
            return self.page(reader, template, Message("Accept this offered lead?"), view=view, **context)
        if current is None or current["partner_id"] != claims.partner_id:
            raise LifecycleError(Message("This lead is no longer assigned to %(partner)s: it was withdrawn or given to "
                                         "another partner.", partner=self.ctx.partner_name(claims.partner_id)),
                                 "lead_id", 409)
        if current["status"] != "routed":
            raise LifecycleError(ALREADY.get(current["status"]) or Message(
                "This lead is already %(status)s; there is nothing to decide.", status=current["status"]), "lead_id", 409)
        return self.page(reader, template, title, view=view, **context)

    def accept(self, token: str | None, confirm: bool, browser: str | None) -> HTMLResponse:
        claims, reader = self.claims(token, "accept", browser)
        try:
            if not confirm and not self.ctx.settings.web.one_click_accept:
                return self.show_lead(claims, reader, "accept", Message("Accept this lead?"), token=token)
            now = self.clock()
            with self.ctx.store.begin() as conn:
                self.lock_lead(conn, claims)
                self.check_unused(conn, claims, reader)
                decision = accept(self.ctx, conn, claims.lead_id, claims.partner_id, now, "web")
                self.mark_used(conn, claims, now)
        except (TokenError, LifecycleError) as exc:
            return self.refused(reader, exc)
        self.send_emails(list(decision.emails))  # offer taken: the other partners are told now
        title = Message("Lead accepted") if decision.outcome == "accepted" else Message("Already accepted")
        return self.message(reader, title, decision.message, status_url=self.status_url(claims))

    def reject(self, token: str | None, form: Mapping[str, str] | None, browser: str | None) -> HTMLResponse:
        reasons = self.ctx.settings.reject_reasons
        claims, reader = self.claims(token, "reject", browser)
        title = Message("Reject this lead")
        try:
            if form is None:
                return self.show_lead(claims, reader, "reject", title, token=token, reasons=reasons,
                                      chosen=None, comment=None, error=None)
            now = self.clock()
            try:
                with self.ctx.store.begin() as conn:
                    self.lock_lead(conn, claims)
                    self.check_unused(conn, claims, reader)
                    decision = reject(self.ctx, conn, claims.lead_id, claims.partner_id, form.get("reason") or None,
                                      form.get("comment"), now, "web")
                    self.mark_used(conn, claims, now)
            except LifecycleError as exc:
                if exc.field not in ("reason", "comment"):
                    raise
                with self.ctx.store.begin() as conn:
                    view = lead_view(self.ctx, conn, claims.lead_id)
                return self.page(reader, "reject", title, 400, view=view, token=token, reasons=reasons,
                                 chosen=form.get("reason"), comment=form.get("comment"),
                                 error=reader.text(exc.args[0]))
        except (TokenError, LifecycleError) as exc:
            return self.refused(reader, exc)
        title = Message("Lead rejected") if decision.outcome == "rejected" else Message("Already rejected")
        return self.message(reader, title, Message("%(outcome)s Thank you for telling us.",
                                                   outcome=reader.text(decision.message)))

    # ------------------------------------------------------------------------------------ status page

    def status(self, token: str | None, form: Mapping[str, str] | None, browser: str | None) -> HTMLResponse:
        claims, reader = self.claims(token, "status", browser)
        error = notice = None
        code = 200
        if form is not None:
            row = {k: v for k, v in form.items() if k in COLUMNS and k != "lead_id"}
            try:
                result = apply_update(self.ctx, claims.partner_id, {"lead_id": claims.lead_id, **row},
                                      self.clock(), "web")
                notice = reader.text(Message("Saved: %(what)s.", what="; ".join(map(reader.text, result.changes)))
                                     if result.changes else Message("Nothing changed."))
                self.send_emails(result.emails)
            except LifecycleError as exc:
                error, code = reader.text(exc.args[0]), exc.status_code
        try:
            return self.status_page(claims, reader, token, error, notice, code)
        except LifecycleError as exc:
            return self.refused(reader, exc)

    def status_page(self, claims: Claims, reader: Reader, token: str, error: str | None, notice: str | None,
                    code: int) -> HTMLResponse:
        with self.ctx.store.begin() as conn:
            current = current_assignment(self.ctx, conn, claims.lead_id)
            held = progress(self.ctx, conn, claims.lead_id)
            if current is None or current["partner_id"] != claims.partner_id:
                raise LifecycleError(Message("This lead is no longer assigned to %(partner)s.",
                                             partner=self.ctx.partner_name(claims.partner_id)), "lead_id", 409)
            if current["status"] == "routed" or held is None:
                raise LifecycleError(Message("This lead is not accepted yet: accept it first with the link in the "
                                             "email."), "lead_id", 409)
            view = lead_view(self.ctx, conn, claims.lead_id)
            opp = current_opportunity(conn, claims.lead_id)
            events = [{"when": reader.time(e["occurred_at"]), "text": reader.text(_describe(e))}
                      for e in lead_events(self.ctx, conn, claims.lead_id)]
        settings = self.ctx.settings
        return self.page(reader, "status", Message("Lead status — %(partner)s",
                                                   partner=self.ctx.partner_name(claims.partner_id)), code,
                         view=view, progress=held, next_statuses=allowed_next(held["sales_status"]),
                         opportunity=opp, stages=settings.opportunities.stages,
                         event_types=settings.marketing_events.types, events=events, token=token,
                         error=error, notice=notice)

    # ------------------------------------------------------------------------------------ imports

    def import_page(self, token: str | None, upload: bytes | None, browser: str | None) -> HTMLResponse:
        claims, reader = self.claims(token, "import", browser)
        report = None
        code = 200
        if upload is not None:
            report = import_csv(self.ctx, claims.partner_id, upload, self.clock(), "import")
            self.send_emails(report.emails)
            code = 400 if report.errors and not report.changed and not report.unchanged else 200
        return self.page(reader, "import", Message("Update leads of %(partner)s",
                                                   partner=self.ctx.partner_name(claims.partner_id)), code,
                         token=token, report=report, columns=COLUMNS, statuses=SALES_STATUSES)

    def api_partner(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise TokenError("send your API key as 'Authorization: Bearer <key>'")
        try:
            claims = verify(self.ctx.settings.web.secret(), key.strip(), "api", self.clock())
        except TokenExpired as exc:
            raise TokenError(f"the API key has expired ({exc}); ask the supplier for a new one") from None
        except TokenError:
            raise TokenError("the API key is not valid (changed, or not issued by this supplier); ask the "
                             "supplier for a new one") from None
        if self.ctx.partner(claims.partner_id) is None:
            raise TokenError(f"partner '{claims.partner_id}' of this API key is no longer configured")
        return claims.partner_id

    def api_updates(self, partner_id: str, body: bytes, content_type: str) -> JSONResponse:
        if content_type.startswith("text/csv"):
            report = import_csv(self.ctx, partner_id, body, self.clock(), "api")
        else:
            try:
                data = json.loads(body or b"null")
            except ValueError as exc:
                return JSONResponse({"error": f"the body is not JSON ({exc}); send {{\"updates\": [...]}} or "
                                              "a text/csv body"}, 400)
            rows = data.get("updates") if isinstance(data, dict) else data
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                return JSONResponse({"error": "send {\"updates\": [{\"lead_id\": …, \"sales_status\": …}, …]}; "
                                              f"fields: {', '.join(COLUMNS)}"}, 400)
            report = import_rows(self.ctx, partner_id, rows, self.clock(), "api")
        self.send_emails(report.emails)
        return JSONResponse(report.as_dict())

    def api_leads(self, partner_id: str, body: bytes) -> JSONResponse:
        try:
            data = json.loads(body or b"null")
        except ValueError as exc:
            return JSONResponse({"error": f"the body is not JSON ({exc})"}, 400)
        leads = data.get("leads") if isinstance(data, dict) else None
        if not isinstance(leads, list):
            return JSONResponse({"error": "send {\"leads\": [{\"reference\": …, \"email\": …, \"company\": …}, …]}"},
                                400)
        try:
            report = register_partner_leads(self.ctx, partner_id, leads, self.clock(), "api")
        except LifecycleError as exc:
            return JSONResponse({"error": str(exc), "field": exc.field}, exc.status_code)
        return JSONResponse({"received": report.received, "registered": report.registered,
                             "not_matched": report.not_matched, "ignored": report.ignored,
                             "decisions": report.decisions})

    def send_emails(self, delivery_ids: list[str]) -> None:
        """Send rep notifications (and offer-taken emails) now; when the mail server fails they stay queued
        for the delivery job."""
        if not delivery_ids:
            return
        try:
            send_pending(self.ctx, self.clock(), self.mailer, delivery_ids)
        except SmtpError as exc:
            log.warning("rep notification left queued: %s", exc)


def _describe(event: dict) -> Message | str:
    """One line of a status page's history (values as recorded: statuses, stages and reasons are data)."""
    d = event["detail"]
    kind = event["kind"]
    if kind == "accepted":
        return Message("Accepted the lead automatically") if d.get("via") == "auto_accept" else \
            Message("Accepted the lead")
    if kind == "rejection":
        if d.get("comment"):
            return Message("Rejected: %(reason)s (%(comment)s)", reason=d.get("reason"), comment=d["comment"])
        return Message("Rejected: %(reason)s", reason=d.get("reason"))
    if kind == "sales_status":
        return Message("Sales status %(from)s → %(to)s", **{"from": d.get("from"), "to": d.get("to")})
    if kind == "rep":
        return Message("Rep set to %(name)s <%(email)s>", name=d.get("rep_name"), email=d.get("rep_email"))
    if kind == "opportunity":
        if d.get("change") == "created":
            return Message("Opportunity created: %(name)s (%(stage)s)", name=d.get("name"), stage=d.get("stage"))
        return Message("Opportunity updated: %(changes)s",
                       changes=", ".join(f"{k} {a} → {b}" for k, (a, b) in d.get("changes", {}).items()))
    if kind == "marketing_event":
        return Message("Marketing event: %(type)s '%(name)s' on %(date)s", type=d.get("type"), name=d.get("name"),
                       date=d.get("date"))
    return kind


async def _form(request: Request) -> dict[str, str] | LifecycleError:
    """URL-encoded form fields (parsed here: Starlette's form parser needs python-multipart)."""
    try:
        body = await _body(request)
    except LifecycleError as exc:
        return exc
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def _body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY:
        raise LifecycleError(f"the upload is larger than {MAX_BODY // (1024 * 1024)} MB; split it", None, 413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise LifecycleError(f"the upload is larger than {MAX_BODY // (1024 * 1024)} MB; split it", None, 413)
    return body


def _multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """Fields and files of a multipart/form-data body, parsed with the standard library's MIME parser."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1")
                                                  + b"\r\n\r\n" + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[str(name)] = payload
        else:
            fields[str(name)] = payload.decode("utf-8", "replace")
    return fields, files


def create_app(store: LeadStore, partners: PartnersConfig, settings: LifecycleSettings,
               sources: Mapping[str, SourceConfig], *, clock: Callable[[], datetime] | None = None,
               mailer: Mailer | None = None, console: ConsoleSetup | None = None) -> Starlette:
    """The partner-response app. `clock` (default: now, UTC) is what token expiry and records use. With
    `console` (mappings/console.yaml and the project paths) the supplier console is mounted at /console."""
    app = _App(Lifecycle(store, partners, settings, sources), clock or (lambda: datetime.now(UTC)), mailer)
    settings.web.secret()  # fail at start, with the fix, rather than on the first click

    def answer(handler, *args) -> HTMLResponse:
        """A token page's handler, run in a worker thread: its page, or the page refusing its link."""
        def run() -> HTMLResponse:
            try:
                return handler(*args)
            except Refused as refused:
                return refused.page
        return run_in_threadpool(run)

    def token_page(handler, on_get, on_post):
        """A page reached by a token link: GET shows it (`on_get` as the second argument), POST acts on the
        submitted form (`on_post(form)`); the token travels in `t` either way."""
        async def endpoint(request: Request) -> Response:
            browser = browser_of(request)
            if request.method == "POST":
                form = await _form(request)
                if isinstance(form, LifecycleError):
                    return app.refused(Reader(browser or DEFAULT), form)
                return await answer(handler, form.get("t"), on_post(form), browser)
            return await answer(handler, request.query_params.get("t"), on_get, browser)
        return endpoint

    accept_lead = token_page(app.accept, False, lambda form: True)
    reject_lead = token_page(app.reject, None, lambda form: form)
    lead_status = token_page(app.status, None, lambda form: form)

    async def import_file(request: Request) -> Response:
        browser = browser_of(request)
        if request.method == "GET":
            return await answer(app.import_page, request.query_params.get("t"), None, browser)
        try:
            body = await _body(request)
        except LifecycleError as exc:
            return app.refused(Reader(browser or DEFAULT), exc)
        fields, files = _multipart(body, request.headers.get("content-type", ""))
        upload = files.get("file")
        if upload is None or not upload.strip():
            return await answer(app.import_page, fields.get("t"), b"", browser)
        return await answer(app.import_page, fields.get("t"), upload, browser)

    async def api_updates(request: Request) -> Response:
        try:
            partner_id = app.api_partner(request)
            body = await _body(request)
        except TokenError as exc:
            return JSONResponse({"error": str(exc)}, 401)
        except LifecycleError as exc:
            return JSONResponse({"error": str(exc)}, exc.status_code)
        return await run_in_threadpool(app.api_updates, partner_id, body, request.headers.get("content-type", ""))

    async def api_leads(request: Request) -> Response:
        try:
            partner_id = app.api_partner(request)
            body = await _body(request)
        except TokenError as exc:
            return JSONResponse({"error": str(exc)}, 401)
        except LifecycleError as exc:
            return JSONResponse({"error": str(exc)}, exc.status_code)
        return await run_in_threadpool(app.api_leads, partner_id, body)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def home(request: Request) -> Response:
        return app.message(Reader(browser_of(request) or DEFAULT), Message("Partner lead responses"),
                           Message("Open a lead from the link in your email."))

    async def store_fault(request: Request, exc: Exception) -> Response:
        """The store is locked by another process, its server is down or its disk is full (already waited for,
        briefly): 503 with Retry-After and a short page; the operator's message (cause, fix) goes to the log."""
        assert isinstance(exc, StoreFault)
        log.warning("partner web app: %s %s: %s", request.method, request.url.path, exc)
        headers = {"Retry-After": str(exc.retry_after)}
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": f"The lead store is {BUSY[exc.transient]}; try again in "
                                          f"{exc.retry_after} seconds. Nothing was applied."}, 503, headers=headers)
        reader = Reader(browser_of(request) or DEFAULT)  # the store that holds the partner's language is down
        title, text = BUSY_PAGE[exc.transient]
        page = app.message(reader, title, Message(text.msgid, wait=reader.text(_minutes(exc.retry_after))), 503,
                           error=True)
        page.headers.update(headers)
        return page

    return Starlette(exception_handlers={StoreFault: store_fault}, routes=[
        Route("/", home),
        Route("/healthz", healthz),
        Route("/lead/accept", accept_lead, methods=["GET", "POST"]),
        Route("/lead/reject", reject_lead, methods=["GET", "POST"]),
        Route("/lead/status", lead_status, methods=["GET", "POST"]),
        Route("/import", import_file, methods=["GET", "POST"]),
        Route("/api/v1/updates", api_updates, methods=["POST"]),
        Route("/api/v1/leads", api_leads, methods=["POST"]),
        # the partner portal (sign-in, leads in bulk, pipeline, ranking, settings): leadsync/portal/
        Mount("/portal", app=create_portal(app.ctx, app.clock, mailer)),
        # the supplier console (queues, manual entry, search, partners, reports): leadsync/console/
        *([Mount("/console", app=create_console(app.ctx, app.clock, mailer, console))] if console else []),
    ])


BUSY = {True: "busy", False: "unavailable"}  # a StoreFault's `transient` → what the partner is told
BUSY_PAGE = {  # … and its page: title, text
    True: (Message("The lead service is busy"),
           Message("The lead service is busy right now. Please try again in %(wait)s: your link still works.")),
    False: (Message("The lead service is unavailable"),
            Message("The lead service is unavailable right now. Please try again in %(wait)s: your link still "
                    "works."))}
WEB_STORE_WAIT = 5.0  # seconds a click waits for a locked store before the busy page


def _minutes(seconds: int) -> Message:
    return Message("a minute") if seconds <= 60 else Message("%(n)s minutes", n=round(seconds / 60))


def browser_of(request: Request) -> str | None:
    """The language the browser asks for (Accept-Language), if we have it: used only when the link's
    partner has none."""
    return browser_language(request.headers.get("accept-language"))


def serve(ctx: Lifecycle, mailer: Mailer | None = None, console: ConsoleSetup | None = None) -> None:
    """Run the app in the foreground on web.host:web.port (the `leadsync web` command). No access log:
    links carry tokens in their query string."""
    import uvicorn

    ctx.store.lock_wait = min(wait_seconds(), WEB_STORE_WAIT)  # a partner's click does not wait 30 s
    app = create_app(ctx.store, ctx.partners, ctx.settings, ctx.sources, mailer=mailer, console=console)
    uvicorn.run(app, host=ctx.settings.web.host, port=ctx.settings.web.port, access_log=False, log_level="info")


__all__ = ["ImportReport", "create_app", "serve"]
