"""The portal's pages: each method answers one route of app.ROUTES as (request, member, form) → response,
in a worker thread. `member` is the signed-in member (None on public routes); `form` the POSTed fields,
CSRF already checked."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from leadsync.lifecycle.events import LifecycleError, current_assignment, lead_events, progress
from leadsync.lifecycle.lead_view import lead_view
from leadsync.lifecycle.opportunities import current_opportunity
from leadsync.lifecycle.status import SALES_STATUSES
from leadsync.lifecycle.web import _describe
from leadsync.portal import actions, auth, overrides, registration_form
from leadsync.portal.app import Portal
from leadsync.portal.i18n import LANGUAGES, error_text, localized, translate
from leadsync.portal.leads import LeadFilter, owned, partner_leads
from leadsync.portal.pipeline_view import pipeline, pipeline_csv
from leadsync.portal.ranking import ANONYMOUS, ranking
from leadsync.portal.request_forms import HEADERS, csrf_token, first
from leadsync.routing.rules import describe as describe_rule

Form = dict[str, list[str]] | None


class Views:
    def __init__(self, portal: Portal):
        self.p = portal
        self.ctx = portal.ctx

    def _(self, request: Request, message: str, **variables) -> str:
        return translate(self.p.language(request), message, **variables)

    # ------------------------------------------------------------------------------ sign-in

    def home(self, request: Request, member: auth.Member | None, form: Form) -> Response:
        signed_in = self.p.member(request) is not None
        return RedirectResponse("/portal/leads" if signed_in else "/portal/sign-in", 303)

    def sign_in(self, request: Request, member: auth.Member | None, form: Form) -> Response:
        if form is None:
            return self.p.page(request, "sign_in", "Sign in to the partner portal", email="", sent=False)
        email = first(form).get("email", "").strip()
        if "@" not in email:
            return self.p.page(request, "sign_in", "Sign in to the partner portal", status_code=400, email=email,
                               sent=False, error=self._(request, "Enter your email address."))
        client = request.client.host if request.client else None
        try:
            ids = auth.request_link(self.ctx, email, client, self.p.clock(), self.p.language(request))
        except auth.RateLimited as exc:
            return self.p.page(request, "sign_in", "Sign in to the partner portal", status_code=429, email=email,
                               sent=False, error=error_text(self.p.language(request), exc))
        self.p.send(ids)
        return self.p.page(request, "sign_in", "Sign in to the partner portal", email=email, sent=True)

    def sign_in_link(self, request: Request, member: auth.Member | None, form: Form) -> Response:
        """GET shows a Sign in button (a mail scanner opening the link uses nothing); POST uses the link."""
        if form is None:
            token = request.query_params.get("t")
            auth.check_link(self.ctx, token, self.p.clock())
            return self.p.page(request, "sign_in_link", "Sign in to the partner portal", token=token)
        who, session_id, _ = auth.sign_in(self.ctx, first(form).get("t"), self.p.clock())
        with self.ctx.store.begin() as conn:  # the language the user chose before, else this browser's
            lang = overrides.user_language(conn, who.partner_id, who.email) or request.session.get("lang")
        request.session.clear()  # a new session id and CSRF token: nothing from before sign-in carries over
        request.session.update({"sid": session_id, **({"lang": lang} if lang else {})})
        csrf_token(request)
        return RedirectResponse("/portal/leads", 303)

    def sign_out(self, request: Request, member: auth.Member | None, form: Form) -> Response:
        auth.sign_out(self.ctx, request.session.get("sid"), self.p.clock())
        lang = request.session.get("lang")
        request.session.clear()
        if lang:
            request.session["lang"] = lang
        return self.p.message(request, "Signed out", self._(request, "You are signed out. Sign in again with a "
                                                            "new link from your email."))

    def set_language(self, request: Request, member: auth.Member | None, form: Form) -> Response:
        chosen = first(form).get("language", "")
        if chosen in LANGUAGES:
            request.session["lang"] = chosen
            signed_in = self.p.member(request)
            if signed_in is not None:  # kept for the user: the next session and sign-in emails use it
                with self.ctx.store.begin() as conn:
                    overrides.save_user_language(conn, signed_in.partner_id, signed_in.email, chosen,
                                                 self.p.clock())
        back = first(form).get("next", "/portal/")
        return RedirectResponse(back if back.startswith("/portal/") else "/portal/", 303)

    # ------------------------------------------------------------------------------ leads

    def leads(self, request: Request, member: auth.Member, form: Form) -> Response:
        try:
            f = LeadFilter.model_validate(dict(request.query_params))
        except ValueError:
            f = LeadFilter()
        page = partner_leads(self.ctx, member.partner_id, f, self.p.clock())
        partner = self.ctx.partner(member.partner_id)
        return self.p.page(request, "leads", "Your leads", member, leads=page, filter=f, reps=partner.reps,
                           reasons=self.ctx.settings.reject_reasons, statuses=SALES_STATUSES,
                           results=request.session.pop("results", None))

    def bulk(self, request: Request, member: auth.Member, form: Form) -> Response:
        fields = first(form)
        lead_ids = form.get("lead_id", [])
        back = "/portal/leads" + (f"?{fields['back']}" if fields.get("back") else "")
        try:
            actions.check(self.ctx, member, fields.get("action", ""), lead_ids, fields)
        except LifecycleError as exc:
            request.session["notice"] = {"error": True, "text": error_text(self.p.language(request), exc)}
            return RedirectResponse(back, 303)
        result = actions.run(self.ctx, member, fields["action"], lead_ids, fields, self.p.clock())
        self.p.send(result.emails)
        request.session["notice"] = {"error": bool(result.failed), "text": self._(
            request, "%(done)s of %(total)s lead(s) done.", done=result.done, total=len(result.outcomes))}
        lang = self.p.language(request)
        request.session["results"] = [
            [o.lead_id, o.ok, "; ".join(localized(lang, m) for m in (o.message if isinstance(o.message, tuple)
                                                                      else (o.message,)))]
            for o in result.outcomes][:100]
        return RedirectResponse(back, 303)

    def lead(self, request: Request, member: auth.Member, form: Form) -> Response:
        lead_id = request.path_params["lead_id"]
        with self.ctx.store.begin() as conn:
            if not owned(conn, member.partner_id, [lead_id]):
                raise LifecycleError(self._(request, "This is not one of your leads."), "lead_id", 404)
            current = current_assignment(self.ctx, conn, lead_id)
            view = lead_view(self.ctx, conn, lead_id)
            held = progress(self.ctx, conn, lead_id)
            opp = current_opportunity(conn, lead_id)
            events = [{"when": f"{e['occurred_at']:%Y-%m-%d %H:%M}", "text": _describe(e)}
                      for e in lead_events(self.ctx, conn, lead_id) if e["partner_id"] == member.partner_id]
        if view is None:
            raise LifecycleError(self._(request, "This lead's details are not available right now."), "lead_id", 409)
        return self.p.page(request, "lead", view.title, member, view=view, current=current, progress=held,
                           opportunity=opp, events=events)

    # ------------------------------------------------------------------------------ pipeline, ranking

    def pipeline(self, request: Request, member: auth.Member, form: Form) -> Response:
        return self.p.page(request, "pipeline", "Pipeline", member, pipeline=pipeline(self.ctx, member.partner_id))

    def pipeline_csv(self, request: Request, member: auth.Member, form: Form) -> Response:
        body = pipeline_csv(pipeline(self.ctx, member.partner_id))
        return Response(body, media_type="text/csv; charset=utf-8", headers={
            **HEADERS, "Content-Disposition": f'attachment; filename="pipeline-{member.partner_id}.csv"'})

    def ranking(self, request: Request, member: auth.Member, form: Form) -> Response:
        return self.p.page(request, "ranking", "Ranking and rewards", member,
                           ranking=ranking(self.ctx, member.partner_id), anonymous=ANONYMOUS)

    # ------------------------------------------------------------------------------ settings

    def settings(self, request: Request, member: auth.Member, form: Form) -> Response:
        """The partner's lead settings (admins only); a POST saves those that changed, with who and when."""
        yaml_partner = self.ctx.yaml_partners.by_id(member.partner_id)
        with self.ctx.store.begin() as conn:
            current = overrides.in_force(yaml_partner, overrides.latest_changes(conn, member.partner_id).get(
                member.partner_id, {}), self.ctx.settings.portal)
        error, code = None, 200
        if form is not None:
            wanted = {
                "notification_users": form.get("notification_users", []),
                "notified_reps": form.get("notified_reps", []),
                "auto_accept": first(form).get("auto_accept") == "on",
                "closed_loop": first(form).get("closed_loop") == "on",
                "language": first(form).get("language_default", "en"),
                "time_zone": first(form).get("time_zone", "UTC").strip() or "UTC",
            }
            wanted.update(registration_wanted(form))
            wanted = {k: v for k, v in wanted.items() if k not in current.locked}
            try:
                with self.ctx.store.begin() as conn:
                    changed = overrides.save(conn, yaml_partner, current, wanted, member.email, self.p.clock())
            except overrides.SettingError as exc:
                error, code = error_text(self.p.language(request), exc), 400
            else:
                self.ctx.refresh_partner_settings()
                request.session["notice"] = {"error": False, "text": self._(
                    request, "Saved: %(what)s.", what=", ".join(changed)) if changed else self._(
                    request, "Nothing changed.")}
                return RedirectResponse("/portal/settings", 303)
        registration = self.ctx.settings.auto_registration
        return self.p.page(request, "settings", "Lead settings", member, code, current=current,
                           yaml_partner=yaml_partner, error=error, settings_names=overrides.SETTINGS,
                           modes=overrides.REGISTRATION_MODES,
                           yaml_files={name: overrides.yaml_file(name) for name in overrides.SETTINGS}, operators=registration_form.OPERATORS,
                           rule_groups=registration_form.form_rows(current.registration_rules),
                           supplier_groups=[(g.name, " and ".join(describe_rule(r) for r in g.rules))
                                            for g in registration.supplier_rules
                                            if g.partners is None or member.partner_id in g.partners],
                           supplier_ignored=registration.ignored_companies + registration.ignored_email_domains)


def registration_wanted(form: Form) -> dict:
    """The auto-registration settings a settings form carries (a form without them changes none)."""
    fields = first(form)
    wanted: dict = {}
    if "auto_registration" in fields:
        wanted["auto_registration"] = fields["auto_registration"]
    if registration_form.PRESENT in fields:
        wanted["registration_rules"] = registration_form.groups_from_form(fields)
    for name in ("ignored_companies", "ignored_email_domains"):
        if name in fields:
            wanted[name] = registration_form.lines(fields[name])
    return wanted
