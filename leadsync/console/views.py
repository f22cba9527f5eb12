"""The console's pages: each method answers one route of app.ROUTES as (request, user, form) → response, in a
worker thread. `user` is the supplier user (None on public routes); `form` the POSTed fields, CSRF checked."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from leadsync.config import ConfigError
from leadsync.console import auth
from leadsync.console.app import Console, ConsoleUser
from leadsync.console.bulk import bulk_change
from leadsync.console.partners_view import partner_list, records
from leadsync.console.queues import QUEUES, queue
from leadsync.console.reports_views import ReportViews
from leadsync.console.search import search_leads, searchable_fields
from leadsync.portal.auth import RateLimited
from leadsync.portal.request_forms import csrf_token, first
from leadsync.pull.manual_entry import ManualEntryError, add_lead, refuse_manual_entry

Form = dict[str, list[str]] | None


class Views(ReportViews):
    def __init__(self, console: Console):
        self.c = console
        self.ctx = console.ctx

    # ------------------------------------------------------------------------------ sign-in

    def home(self, request: Request, user: ConsoleUser | None, form: Form) -> Response:
        signed_in = self.c.user(request) is not None
        return RedirectResponse("/console/queues" if signed_in else "/console/sign-in", 303)

    def sign_in(self, request: Request, user: ConsoleUser | None, form: Form) -> Response:
        title = "Sign in to the supplier console"
        if form is None:
            return self.c.page(request, "sign_in", title, email="", sent=False, error=None)
        email = first(form).get("email", "").strip()
        if "@" not in email:
            return self.c.page(request, "sign_in", title, status_code=400, email=email, sent=False,
                               error="Enter your email address.")
        client = request.client.host if request.client else None
        try:
            ids = auth.request_link(self.ctx, self.c.config, email, client, self.c.clock())
        except RateLimited as exc:
            return self.c.page(request, "sign_in", title, status_code=429, email=email, sent=False, error=str(exc))
        self.c.send(ids)
        return self.c.page(request, "sign_in", title, email=email, sent=True, error=None)

    def sign_in_link(self, request: Request, user: ConsoleUser | None, form: Form) -> Response:
        """GET shows a Sign in button (a mail scanner opening the link uses nothing); POST uses the link."""
        if form is None:
            token = request.query_params.get("t")
            auth.check_link(self.ctx, token, self.c.clock())
            return self.c.page(request, "sign_in_link", "Sign in to the supplier console", token=token)
        _, session_id = auth.sign_in(self.ctx, self.c.config, first(form).get("t"), self.c.clock())
        request.session.clear()  # a new session and CSRF token: nothing from before sign-in carries over
        request.session["sid"] = session_id
        csrf_token(request)
        return RedirectResponse("/console/queues", 303)

    def sign_out(self, request: Request, user: ConsoleUser | None, form: Form) -> Response:
        auth.sign_out(self.ctx, request.session.get("sid"), self.c.clock())
        request.session.clear()
        return self.c.message(request, "Signed out", "You are signed out. Sign in again with a new link.")

    # ------------------------------------------------------------------------------ queues

    def queues(self, request: Request, user: ConsoleUser | None, form: Form) -> Response:
        limit = self.c.config.page_rows
        shown = {status: queue(self.ctx.store, status, limit) for status in QUEUES}
        return self.c.page(request, "queues", "Unassigned and review queues", user, queues=shown, labels=QUEUES,
                           partners=[p for p in self.ctx.partners.partners if p.active], active="/console/queues")

    def bulk(self, request: Request, user: ConsoleUser | None, form: Form) -> Response:
        fields = first(form)
        outcome = bulk_change(self.ctx.store, self.ctx.partners, fields.get("action", ""), form.get("lead", []),
                              self.c.clock(), actor=f"console:{user.email}", note=fields.get("note", ""),
                              partner_id=fields.get("partner") or None, rep_email=fields.get("rep") or None)
        text = f"{len(outcome.done)} lead(s) changed ({fields.get('action')}); written back on the next writeback run."
        if outcome.refused:
            text += " Not changed: " + "; ".join(f"{lead}: {why}" for lead, why in outcome.refused)
        request.session["notice"] = {"text": text, "error": bool(outcome.refused)}
        back = fields.get("next", "/console/queues")
        return RedirectResponse(back if back.startswith("/console/") else "/console/queues", 303)

    # ------------------------------------------------------------------------------ manual entry

    def new_lead(self, request: Request, user: ConsoleUser | None, form: Form) -> Response:
        sources = dict(sorted(self.ctx.sources.items()))
        values = first(form) if form is not None else {}
        chosen = values.get("source") or request.query_params.get("source") or next(iter(sources), None)
        if chosen not in sources:
            raise ValueError(f"'{chosen}' is not a source; the sources are {', '.join(sources) or '-'}")
        cfg = sources[chosen]
        context = {"sources": list(sources), "source": chosen, "fields": cfg.fields, "values": values,
                   "creates_record": cfg.type if cfg.is_api else None,
                   "active": "/console/leads/new", "entry": None, "error": None}
        if form is None:  # a source that refuses manual entry says so, with the fix, before anything is typed
            try:
                refuse_manual_entry(cfg)
            except ManualEntryError as exc:
                context["error"] = str(exc)
            return self.c.page(request, "new_lead", "Enter a lead", user, **context)
        entered = {f.field: values.get(f"f_{f.field}", "") for f in cfg.fields}
        try:
            entry = add_lead(self.c.setup.paths, self.ctx.store, chosen, {k: v for k, v in entered.items() if v},
                             f"{user.name} <{user.email}>", self.c.clock())
        except (ManualEntryError, ConfigError) as exc:
            return self.c.page(request, "new_lead", "Enter a lead", user, 400, **{**context, "error": str(exc)})
        status = 200 if entry.lead_id else 422
        return self.c.page(request, "new_lead", "Enter a lead", user, status, **{**context, "entry": entry})

    # ------------------------------------------------------------------------------ search and partners

    def search(self, request: Request, user: ConsoleUser | None, form: Form) -> Response:
        q = request.query_params.get("q", "")
        field = request.query_params.get("field", "")
        frame = search_leads(self.ctx.store, self.ctx.sources, q, field, self.c.config.page_rows)
        shown = [c for c in ("lead_id", "source", "status", "partner_id", "email", "company", "country")
                 if c in frame] + ([field] if field and field in frame and field not in
                                   ("lead_id", "source", "email", "company", "country") else [])
        return self.c.page(request, "search", "Search leads", user, q=q, field=field,
                           fields=searchable_fields(self.ctx.sources), rows=frame.to_dict("records"),
                           columns=shown, searched=bool(q.strip()), active="/console/search",
                           partners=[p for p in self.ctx.partners.partners if p.active])

    def partners(self, request: Request, user: ConsoleUser | None, form: Form) -> Response:
        frame = partner_list(self.ctx.store, self.ctx.partners, self.c.clock())
        return self.c.page(request, "partners", "Partners", user, rows=records(frame),
                           active="/console/partners")


def query_string(params: dict[str, str]) -> str:
    return urlencode({k: v for k, v in params.items() if v})
