"""Partner settings changed in the portal, laid over partners.yaml.

Precedence, for each partner and setting: a setting the supplier locks (lifecycle.yaml
`portal.locked.<partner or '*'>`) is partners.yaml's, always; otherwise the latest change a partner admin
made in the portal (table `partner_settings`, who and when kept with every change); otherwise
partners.yaml. The layer is pure (`layered`): the Lifecycle context applies it whenever it is built, and
delivery applies it again before each run, so a change takes effect on the next lead delivered.

  notification_users  the users emailed about new leads (partners.yaml: `default` flags, the first added)
  notified_reps       which reps also receive new-lead emails (partners.yaml: every rep)
  auto_accept         accept on delivery (allowed only for a partner with a CRM connection, `crm`)
  closed_loop         false: the partner opted out of closed-loop status requests
  language            the language of the partner's emails (en, de, fr, es)
  time_zone           the time zone the partner's emails and pages show times in (an IANA name;
                      partners.yaml `timezone`, which also sets the partner's business days)
  auto_registration   off | supplier_managed | own_rules: which rule groups register the leads the partner
                      creates (lifecycle.yaml baseline: `auto_registration.modes`, else off)
  registration_rules  the partner's own rule groups, used in own_rules mode (AND inside a group, OR between
                      groups; baseline: lifecycle.yaml `auto_registration.partner_rules.<partner>`)
  ignored_companies, ignored_email_domains
                      the partner's own lists of leads never registered, in addition to the supplier's
                      (lifecycle.yaml `auto_registration.ignored_*`, which the partner cannot change)

The auto-registration settings' baseline and lock are lifecycle.yaml's, not partners.yaml's; the precedence
is the same (lock, then the latest portal change, then the YAML).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from pydantic import ValidationError

from leadsync.config.partners import Partner, PartnersConfig, RuleGroup
from leadsync.portal.config import PortalSettings
from leadsync.portal.i18n import Message
from leadsync.portal.tables import partner_settings

SETTINGS = ("notification_users", "notified_reps", "auto_accept", "closed_loop", "language", "time_zone",
            "auto_registration", "registration_rules", "ignored_companies", "ignored_email_domains")
REGISTRATION_SETTINGS = ("auto_registration", "registration_rules", "ignored_companies", "ignored_email_domains")
LANGUAGE_CODES = ("en", "de", "fr", "es")
REGISTRATION_MODES = ("off", "supplier_managed", "own_rules")
MAX_IGNORED = 1000  # entries in one of a partner's own ignored lists
MAX_GROUPS = 50  # rule groups of a partner's own


class SettingError(ValueError):
    """A change that cannot be saved; `setting` names the form field at fault."""

    def __init__(self, message: str, setting: str):
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class Change:
    setting: str
    value: Any
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True)
class PartnerSettings:
    """What is in force for one partner, and where each value came from."""

    notification_users: list[str]
    notified_reps: list[str]
    auto_accept: bool
    closed_loop: bool
    language: str
    time_zone: str
    auto_registration: str
    registration_rules: list[dict]
    ignored_companies: list[str]
    ignored_email_domains: list[str]
    changes: dict[str, Change]  # setting → the portal change in force (absent: partners.yaml, or locked)
    locked: list[str]

    def origin(self, setting: str) -> str:
        yaml = yaml_file(setting)
        if setting in self.locked:
            return f"locked by the supplier ({yaml})"
        change = self.changes.get(setting)
        if change is None:
            return yaml
        return f"portal, by {change.changed_by} on {change.changed_at:%Y-%m-%d %H:%M} UTC"

    def registration_groups(self) -> list[RuleGroup]:
        """The partner's own rule groups, as the registration engine reads them."""
        return [RuleGroup.model_validate(g) for g in self.registration_rules]


def yaml_file(setting: str) -> str:
    """The YAML file holding the baseline of a setting."""
    return "lifecycle.yaml" if setting in REGISTRATION_SETTINGS else "partners.yaml"


def group_dicts(groups: list[RuleGroup]) -> list[dict]:
    return [g.model_dump(mode="json", exclude_none=True, exclude_defaults=True) for g in groups]


def baseline(partner: Partner, portal: PortalSettings | None = None) -> dict[str, Any]:
    """partners.yaml's values of the settings (and lifecycle.yaml's for auto-registration)."""
    registration = portal.auto_registration if portal is not None else None
    return {"notification_users": [u.email for u in partner.default_users()],
            "notified_reps": [r.email for r in partner.reps], "auto_accept": partner.auto_accept,
            "closed_loop": partner.closed_loop, "language": "en", "time_zone": partner.timezone,
            "auto_registration": registration.mode_of(partner.id) if registration else "off",
            "registration_rules": group_dicts(registration.partner_rules.get(partner.id, [])) if registration else [],
            "ignored_companies": [], "ignored_email_domains": []}


def latest_changes(conn: sa.Connection, partner_id: str | None = None) -> dict[str, dict[str, Change]]:
    """partner id → setting → its latest change."""
    t = partner_settings
    query = sa.select(t.c.partner_id, t.c.setting, t.c.value, t.c.changed_by, t.c.changed_at) \
        .order_by(t.c.changed_at, t.c.change_id)
    if partner_id is not None:
        query = query.where(t.c.partner_id == partner_id)
    out: dict[str, dict[str, Change]] = {}
    for pid, setting, value, by, at in conn.execute(query).all():
        out.setdefault(pid, {})[setting] = Change(setting, json.loads(value), by, at)
    return out


def in_force(partner: Partner, changes: dict[str, Change], portal: PortalSettings) -> PartnerSettings:
    values = baseline(partner, portal)
    locked = [s for s in SETTINGS if portal.is_locked(partner.id, s)]
    used = {s: c for s, c in changes.items() if s in SETTINGS and s not in locked}
    for setting, change in used.items():
        values[setting] = change.value
    if values["auto_accept"] and partner.crm is None and "auto_accept" in used:
        values["auto_accept"] = partner.auto_accept  # the CRM connection went away since: YAML again
    return PartnerSettings(**values, changes=used, locked=locked)


def apply(partner: Partner, s: PartnerSettings) -> Partner:
    """The partner as routing and delivery see it with these settings."""
    users = [u.model_copy(update={"default": u.email in s.notification_users}) for u in partner.users] \
        if "notification_users" in s.changes else partner.users
    return partner.model_copy(update={"users": users, "auto_accept": s.auto_accept, "closed_loop": s.closed_loop,
                                      "timezone": s.time_zone})


# A layered config → the partners.yaml config it was made from: a Lifecycle built from another's partners
# (the web app's, the Dagster resources') lays the changes over partners.yaml again, not over old changes.
_YAML: dict[int, tuple[PartnersConfig, PartnersConfig]] = {}


def yaml_of(partners: PartnersConfig) -> PartnersConfig:
    known = _YAML.get(id(partners))
    return known[1] if known and known[0] is partners else partners


def layered(yaml_partners: PartnersConfig, changes: dict[str, dict[str, Change]],
            portal: PortalSettings) -> tuple[PartnersConfig, dict[str, PartnerSettings]]:
    """The partners with the portal's changes in force, and each changed partner's settings."""
    if not changes:
        return yaml_partners, {}
    result = _layered(yaml_partners, changes, portal)
    _YAML[id(result[0])] = (result[0], yaml_partners)
    return result


def _layered(yaml_partners: PartnersConfig, changes: dict[str, dict[str, Change]],
             portal: PortalSettings) -> tuple[PartnersConfig, dict[str, PartnerSettings]]:
    effective: dict[str, PartnerSettings] = {}
    partners = []
    for p in yaml_partners.partners:
        if p.id in changes:
            effective[p.id] = in_force(p, changes[p.id], portal)
            partners.append(apply(p, effective[p.id]))
        else:
            partners.append(p)
    config = yaml_partners.model_copy(update={"partners": partners})
    config._by_id = None  # a copy keeps the original's index of partners by id: build it anew
    return config, effective


def validate(partner: Partner, setting: str, value: Any) -> Any:
    """The value as stored; SettingError saying what is allowed."""
    if setting == "notification_users":
        known = {u.email for u in partner.users}
        chosen = [v.lower() for v in value]
        if not chosen:
            raise SettingError(Message("Choose at least one user to be told about new leads."), setting)
        if set(chosen) - known:
            raise SettingError(Message("%(who)s are not users of %(partner)s.", who=", ".join(sorted(set(chosen) - known)),
                                       partner=partner.name), setting)
        return chosen
    if setting == "notified_reps":
        chosen = [v.lower() for v in value]
        unknown = [e for e in chosen if partner.rep(e) is None]
        if unknown:
            raise SettingError(Message("%(who)s are not reps of %(partner)s.", who=", ".join(unknown), partner=partner.name),
                               setting)
        return chosen
    if setting == "auto_accept":
        if value and partner.crm is None:
            raise SettingError(Message("Auto-accept needs a connection to your CRM, where accepted leads are created; "
                                       "ask the supplier to connect it first."), setting)
        return bool(value)
    if setting == "closed_loop":
        return bool(value)
    if setting == "language":
        if value not in LANGUAGE_CODES:
            raise SettingError(Message("Choose one of the languages %(codes)s.", codes=", ".join(LANGUAGE_CODES)), setting)
        return value
    if setting == "time_zone":
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingError(Message("'%(value)s' is not a time zone; use a name like Europe/Berlin.", value=value),
                               setting) from None
        return str(value)
    if setting == "auto_registration":
        if value not in REGISTRATION_MODES:
            raise SettingError(Message("Choose one of the auto-registration modes %(modes)s.",
                                       modes=", ".join(REGISTRATION_MODES)), setting)
        return value
    if setting == "registration_rules":
        return _rule_groups(value)
    if setting in ("ignored_companies", "ignored_email_domains"):
        return _ignored_list(setting, value)
    raise SettingError(f"'{setting}' is not a partner setting; known: {', '.join(SETTINGS)}", setting)


def _rule_groups(value: Any) -> list[dict]:
    """Rule groups as stored: each validated as partners.yaml's routing rule groups are."""
    groups = list(value or [])
    if len(groups) > MAX_GROUPS:
        raise SettingError(Message("Keep to %(n)s rule groups at most.", n=MAX_GROUPS), "registration_rules")
    checked = []
    for i, group in enumerate(groups, start=1):
        try:
            checked.append(RuleGroup.model_validate(group))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise SettingError(Message("Rule group %(n)s (%(name)s): %(where)s: %(problem)s.", n=i,
                                       name=group.get("name") or "-", where=where,
                                       problem=err["msg"].removeprefix("Value error, ")), "registration_rules") from None
    names = [g.name for g in checked]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SettingError(Message("Give each rule group its own name; used twice: %(names)s.", names=", ".join(twice)),
                           "registration_rules")
    return group_dicts(checked)


def _ignored_list(setting: str, value: Any) -> list[str]:
    """One entry per line; blank lines dropped, each entry once; domains without a leading @."""
    entries = [" ".join(str(v).split()) for v in (value or [])]
    if setting == "ignored_email_domains":
        entries = [e.lower().lstrip("@") for e in entries]
        bad = [e for e in entries if e and ("@" in e or " " in e or "." not in e)]
        if bad:
            raise SettingError(Message("%(bad)s are not email domains; write one domain a line, like example.com.",
                                       bad=", ".join(bad[:5])),
                               setting)
    entries = list(dict.fromkeys(e for e in entries if e))
    if len(entries) > MAX_IGNORED or any(len(e) > 200 for e in entries):
        raise SettingError(Message("Keep to %(n)s entries of at most 200 characters.", n=MAX_IGNORED), setting)
    return entries


def save(conn: sa.Connection, partner: Partner, current: PartnerSettings, wanted: dict[str, Any], by: str,
         now: datetime) -> list[str]:
    """Record each setting of `wanted` that differs from what is in force; the settings changed.
    Locked settings are refused (SettingError)."""
    changed = []
    for setting, value in wanted.items():
        if setting in current.locked:
            raise SettingError(Message("The supplier manages '%(setting)s' for %(partner)s; it cannot be changed here.",
                                       setting=setting, partner=partner.name),
                               setting)
        value = validate(partner, setting, value)
        if value == getattr(current, setting):
            continue
        conn.execute(sa.insert(partner_settings).values(
            change_id=f"{partner.id}:{setting}:{now:%Y%m%dT%H%M%S%f}:{secrets.token_hex(4)}", partner_id=partner.id,
            setting=setting, value=json.dumps(value), changed_by=by, changed_at=now))
        changed.append(setting)
    return changed


def describe(yaml_partners: PartnersConfig, changes: dict[str, dict[str, Change]], portal: PortalSettings,
             only: str | None = None) -> list[str]:
    """One line per setting a partner changed in the portal (for `leadsync check` and `explain`). With
    `only` (one partner's lines, for `explain`) also its auto-registration mode in force when it is not off,
    even when it comes from lifecycle.yaml: the mode decides what the partner's own leads become."""
    lines = []
    for p in yaml_partners.partners:
        if only is not None and p.id != only:
            continue
        own = changes.get(p.id, {})
        s = in_force(p, own, portal)
        for setting in SETTINGS:
            shown = setting in s.changes or (setting in s.locked and setting in own)
            if setting == "auto_registration" and only is not None and portal.auto_registration is not None:
                shown = shown or s.auto_registration != "off"
            if shown:
                lines.append(f"{p.id}.{setting} = {json.dumps(getattr(s, setting))} ({s.origin(setting)})")
    return lines


def stored_lines(store_url: str | None, partners: PartnersConfig, portal: PortalSettings,
                 partner_id: str | None = None) -> list[str]:
    """describe() over a store, for the CLI. A store that does not exist yet is not opened (a check must
    not create one): partners.yaml and lifecycle.yaml are all there is then."""
    from leadsync.store import LeadStore
    from leadsync.store.engine import default_store_url

    url = store_url or default_store_url()
    changes: dict[str, dict[str, Change]] = {}
    if not (url.startswith("duckdb:///") and not Path(url.removeprefix("duckdb:///")).exists()):
        with LeadStore(url).begin() as conn:
            if sa.inspect(conn).has_table(partner_settings.name):
                changes = latest_changes(conn, partner_id)
    return describe(partners, changes, portal, only=partner_id)


USER_LANGUAGE = "language:"  # + email: a partner user's own language for the portal and sign-in emails


def save_user_language(conn: sa.Connection, partner_id: str, email: str, language: str, now: datetime) -> None:
    if language not in LANGUAGE_CODES:
        raise SettingError(Message("Choose one of the languages %(codes)s.", codes=", ".join(LANGUAGE_CODES)), "language")
    conn.execute(sa.insert(partner_settings).values(
        change_id=f"{partner_id}:{USER_LANGUAGE}{email}:{now:%Y%m%dT%H%M%S%f}:{secrets.token_hex(4)}",
        partner_id=partner_id, setting=USER_LANGUAGE + email, value=json.dumps(language), changed_by=email,
        changed_at=now))


def user_language(conn: sa.Connection, partner_id: str, email: str) -> str | None:
    """The language the user chose in the portal, else None."""
    change = latest_changes(conn, partner_id).get(partner_id, {}).get(USER_LANGUAGE + email)
    return change.value if change else None
