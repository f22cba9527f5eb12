"""The bundled sandboxes a project's YAML points at, started together: what `leadsync demo` (and `leadsync scale`)
run on, and what anything else that wants the demo world up (the UI) can start the same way.

The YAML is the one truth about where things are. A source whose connection names a loopback host
(127.0.0.1 / localhost) gets the bundled sandbox of its type on the port it names, logging in with the
credentials its `*_env` variables hold (.env has the demo's); a partner whose `crm.connection.login_url` is on
loopback gets a Salesforce org of its own as its CRM; lifecycle.yaml's SMTP server on loopback gets the SMTP
sandbox. Anything pointing elsewhere is a real system and is left alone.

Each sandbox keeps its state under `<state_dir>/<name>/` (by default $DAGSTER_HOME/sandboxes/), so a later
start sees the records the lead store knows about; an empty one is seeded with realistic leads, campaigns and
activities. `fresh=True` wipes that state first.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import pandas as pd

from leadsync.config import load_partners, load_source, source_files
from leadsync.config.loader import ProjectPaths
from leadsync.config.partners import Partner
from leadsync.config.schema import SourceConfig

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SandboxSetupError(RuntimeError):
    """The YAML asks for a sandbox that cannot be started as configured (a missing secret, a busy port)."""


@dataclass
class Started:
    """One running sandbox: what it is, where, what it holds, and the object itself (to inspect or stop)."""

    kind: str  # sftp | salesforce | marketo | eloqua | partner_crm | smtp
    name: str  # the source name, partner id, or "smtp"
    url: str
    server: Any
    holds: str = ""  # e.g. "2,000 leads, 12 campaigns, 3,105 activities (seeded)"


@dataclass
class Sandboxes:
    """The running sandboxes of a project; `stop()` stops them all (state saved where a sandbox keeps it)."""

    started: list[Started] = field(default_factory=list)
    stack: ExitStack = field(default_factory=ExitStack)
    dropped_files: list[Path] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Started]:
        return [s for s in self.started if s.kind == kind]

    def get(self, name: str) -> Started:
        return next(s for s in self.started if s.name == name)

    def stop(self) -> None:
        self.stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def default_state_dir() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or "dagster_home").resolve() / "sandboxes"


def on_loopback(url_or_host: str) -> bool:
    host = urlsplit(url_or_host).hostname if "//" in url_or_host else url_or_host
    return (host or "").lower() in LOOPBACK


def _port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _secret(cfg_name: str, key: str, var: str | None) -> str:
    value = os.environ.get(var or "")
    if not var or not value:
        raise SandboxSetupError(
            f"{cfg_name}: connection.{key} names the environment variable {var!r}, which is not set; the bundled "
            "sandbox logs in with the same secret leadsync uses (the repo's .env holds the demo's values)")
    return value


def _fmt(n: int) -> str:
    return f"{n:,}"


# ---------------------------------------------------------------------------------------------- the vendors


def start_salesforce(cfg, data: Path, leads: int, seed: int) -> Started:
    from leadsync.connectors.salesforce.sandbox import SalesforceSandbox, SandboxCredentials

    c = cfg.connection
    if c.auth != "client_credentials":
        raise SandboxSetupError(f"{cfg.name}: the bundled Salesforce sandbox is set up for auth client_credentials")
    creds = SandboxCredentials(client_id=_secret(cfg.name, "consumer_key_env", c.consumer_key_env),
                               client_secret=_secret(cfg.name, "consumer_secret_env", c.consumer_secret_env))
    tls = urlsplit(c.login_url).scheme == "https"
    org = SalesforceSandbox(credentials=creds, data_dir=data, port=_port(c.login_url), tls=tls,
                            tls_dir=data.parent / f"{data.name}-tls" if tls else None, autosave_s=30)
    holds = f"{_fmt(org.count('Lead'))} leads"
    if org.count("Lead") == 0 and leads:
        s = org.seed(leads=leads, seed=seed)
        holds = (f"{_fmt(s.leads)} leads, {_fmt(s.campaigns)} campaigns ({_fmt(s.campaign_members)} members), "
                 f"{_fmt(s.tasks + s.events)} activities, {_fmt(s.opportunities)} opportunities (seeded)")
    org.start()
    return Started("salesforce", cfg.name, org.url, org, holds)


def start_marketo(cfg, data: Path, leads: int, seed: int) -> Started:
    from leadsync.connectors.marketo.sandbox import MarketoSandbox

    c = cfg.connection
    url = c.base_url
    mkto = MarketoSandbox(client_id=_secret(cfg.name, "client_id_env", c.client_id_env),
                          client_secret=_secret(cfg.name, "client_secret_env", c.client_secret_env),
                          data_dir=data, port=_port(url), tls=urlsplit(url).scheme == "https",
                          tls_dir=data / "tls" if urlsplit(url).scheme == "https" else None,
                          seed_leads=leads, seed=seed)
    mkto.start()
    s = mkto.seeded
    holds = (f"{_fmt(s.leads)} leads, {_fmt(s.programs)} programs ({_fmt(s.members)} members), "
             f"{_fmt(s.activities)} activities (seeded)") if s else f"{_fmt(mkto.leads.count())} leads"
    return Started("marketo", cfg.name, mkto.url, mkto, holds)


def start_eloqua(cfg, data: Path, leads: int, seed: int) -> Started:
    from leadsync.connectors.eloqua.sandbox import EloquaSandbox

    c = cfg.connection
    if urlsplit(c.login_url).scheme == "https":
        raise SandboxSetupError(f"{cfg.name}: the bundled Eloqua sandbox serves plain http; use "
                                f"login_url: http://{urlsplit(c.login_url).netloc}")
    eloqua = EloquaSandbox(site=c.site, username=c.username, password=_secret(cfg.name, "password_env",
                                                                              c.password_env),
                           seed_contacts=leads, seed=seed, data_dir=data, port=_port(c.login_url))
    eloqua.start()
    state = eloqua.state
    holds = (f"{_fmt(state.contacts.table.num_rows)} contacts, {_fmt(len(state.campaigns))} campaigns, "
             f"{_fmt(state.activities.num_rows)} activities" + ("" if eloqua.restored else " (seeded)"))
    return Started("eloqua", cfg.name, eloqua.url, eloqua, holds)


def start_sftp(cfg, paths: ProjectPaths, data: Path) -> Started:
    from leadsync.connectors.sftp.sandbox import SftpSandbox

    c = cfg.connection
    if not c.password_env or not c.known_hosts:
        raise SandboxSetupError(f"{cfg.name}: the bundled SFTP sandbox needs connection.password_env and "
                                "connection.known_hosts (where it writes its host key)")
    known_hosts = paths.resolve(c.known_hosts)
    # the host key lives beside known_hosts, so a restarted sandbox keeps the key known_hosts trusts
    server = SftpSandbox(data / "root", users={c.username: _secret(cfg.name, "password_env", c.password_env)},
                         host_key_path=known_hosts.parent / "host_key", port=c.port)
    server.root.mkdir(parents=True, exist_ok=True)
    server.start()
    server.write_known_hosts(known_hosts)
    return Started("sftp", cfg.name, f"sftp://{server.host}:{server.port}", server)


def start_partner_crm(partner: Partner, data: Path) -> Started:
    """A Salesforce org of the partner's own: the external id field and withdrawal flag its crm block names,
    its status values, and a user for each of the partner's users and reps (owners of the leads it gets)."""
    from leadsync.connectors.salesforce.sandbox import FieldSpec, SalesforceSandbox, SandboxCredentials

    crm = partner.crm
    c = crm.connection
    creds = SandboxCredentials(client_id=_secret(partner.id, "consumer_key_env", c.consumer_key_env),
                               client_secret=_secret(partner.id, "consumer_secret_env", c.consumer_secret_env),
                               my_domain=f"{partner.id}-crm", username=f"leadsync@{partner.id}.crm")
    extra = [FieldSpec(crm.external_id_field, "string", "LeadSync Lead Id", length=80, external_id=True,
                       unique=True)]
    if crm.withdrawal.field:
        kind = "boolean" if isinstance(crm.withdrawal.value, bool) else "string"
        extra.append(FieldSpec(crm.withdrawal.field, kind, "Withdrawn by supplier",
                               **({"default_value": False} if kind == "boolean" else {})))
    picklists = {"Lead": {"Status": list(dict.fromkeys(
        [*crm.status_map, *([crm.withdrawal.status] if crm.withdrawal.status else [])]))}} if crm.status_map \
        else None
    tls = urlsplit(c.login_url).scheme == "https"
    org = SalesforceSandbox(credentials=creds, extra_fields={"Lead": extra}, picklists=picklists, data_dir=data,
                            port=_port(c.login_url), tls=tls, tls_dir=data.parent / f"{data.name}-tls" if tls else None,
                            autosave_s=30)
    people = {u.email: u.name for u in partner.users} | {r.email: r.name for r in partner.reps}
    if crm.owner.default_email:
        people.setdefault(crm.owner.default_email, "Lead Desk")
    users = org.store.table("User")
    new = [{"Username": email, "FirstName": name.split(" ")[0], "LastName": name.split(" ", 1)[-1],
            "Email": email, "IsActive": True} for email, name in people.items() if not users.find("Username", email)]
    if new:
        org.insert("User", new)
    org.start()
    return Started("partner_crm", partner.id, org.url, org, f"{partner.name}'s own org ({len(people)} user{'s' if len(people) != 1 else ''})")


# ---------------------------------------------------------------------------------------------- all of them


def start_sandboxes(paths: ProjectPaths, *, leads: int, seed: int, state_dir: Path | None = None,
                    fresh: bool = False, on_start: Callable[[Started], None] | None = None) -> Sandboxes:
    """Start every sandbox the project's YAML points at (see the module's docstring). `leads`: how many
    records an empty API sandbox is seeded with. Raises SandboxSetupError naming the file and the fix."""
    from leadsync.connectors.smtp_sandbox import SmtpSandbox
    from leadsync.lifecycle.settings import load_settings

    state = (state_dir or default_state_dir()).resolve()
    if fresh and state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True, exist_ok=True)
    running = Sandboxes()
    starters = {"salesforce": start_salesforce, "marketo": start_marketo, "eloqua": start_eloqua}
    try:
        for i, file in enumerate(source_files(paths)):
            cfg: SourceConfig = load_source(file)
            c = cfg.connection
            where = c.host if cfg.type == "sftp" else getattr(c, "login_url", None) or getattr(c, "base_url", "")
            if not on_loopback(where):
                continue
            port, key = (c.port, "connection.port") if cfg.type == "sftp" else (
                urlsplit(where).port, "connection.base_url" if cfg.type == "marketo" else "connection.login_url")
            _port_free(port, f"{cfg.name}'s {KIND_LABELS[cfg.type]} sandbox ({file.name} {key})")
            data = state / cfg.name
            if cfg.type == "sftp":
                started = start_sftp(cfg, paths, data)
            else:
                started = _guard(cfg.name, starters[cfg.type], cfg, data, leads, seed + i)
            running.stack.callback(started.server.stop)
            running.started.append(started)
            if on_start:
                on_start(started)
        for partner in load_partners(paths.partners_file).partners:
            crm = partner.crm
            if crm is None or crm.type != "salesforce" or not on_loopback(crm.connection.login_url):
                continue
            started = _guard(partner.id, start_partner_crm, partner, state / f"partner_crm_{partner.id}")
            running.stack.callback(started.server.stop)
            running.started.append(started)
            if on_start:
                on_start(started)
        lifecycle = paths.mappings / "lifecycle.yaml"
        if lifecycle.exists():
            smtp = load_settings(lifecycle).smtp
            if on_loopback(smtp.host) and smtp.security == "plain":
                mail = _guard("lifecycle.yaml smtp", lambda: SmtpSandbox(state / "mail", port=smtp.port).start())
                running.stack.callback(mail.stop)
                started = Started("smtp", "smtp", f"smtp://{mail.host}:{mail.port}", mail,
                                  f"emails kept in {mail.folder}")
                running.started.append(started)
                if on_start:
                    on_start(started)
    except BaseException:
        running.stop()
        raise
    return running


KIND_LABELS = {"sftp": "SFTP", "salesforce": "Salesforce", "marketo": "Marketo", "eloqua": "Eloqua"}


def _port_free(port: int | None, what: str, host: str = "127.0.0.1") -> None:
    """Stop before starting anything else when a sandbox's port is taken, naming the port and its YAML key."""
    if not port:
        return
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            raise SandboxSetupError(
                f"port {port} for {what} is taken: is `leadsync demo`, `leadsync dev` or `leadsync sandbox` running? "
                "Stop it, or change the port in the YAML") from None


def _guard(name: str, start: Callable, *args):
    try:
        return start(*args)
    except OSError as exc:  # typically: the port is taken (another demo, or the sandbox run by hand)
        raise SandboxSetupError(f"{name}: could not start its sandbox: {exc}. Is another `leadsync demo` or "
                                "sandbox running on that port? Stop it, or change the port in the YAML.") from exc
    except RuntimeError as exc:
        if "failed to start" in str(exc) or "did not start" in str(exc):
            raise SandboxSetupError(f"{name}: {exc}: the port is probably in use (another `leadsync demo` or "
                                    "sandbox?); stop it, or change the port in the YAML") from exc
        raise


# ---------------------------------------------------------------------------------------------- SFTP drops


def drop_demo_files(inbox: Path, partners_file: Path, n_leads: int, seed: int) -> list[Path]:
    """A realistic drop: a big clean CSV, a Windows-1252 CSV with a few bad rows, an XLSX, and a file that
    lacks the Email column (it goes to error/)."""
    from leadsync.connectors.sftp.seed import write_demo_leads

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    partners = [p.name for p in load_partners(partners_file).partners]
    inbox.mkdir(parents=True, exist_ok=True)
    made = []

    main = write_demo_leads(inbox / f".tradeshow_{stamp}.csv.part", n_leads, seed=seed, partner_names=partners)
    final = inbox / f"tradeshow_{stamp}.csv"
    main.rename(final)  # publish atomically, as a well-behaved producer does
    made.append(final)

    sample = pd.read_csv(final, dtype=str, keep_default_na=False).head(40).copy()
    sample.loc[0, "First Name"], sample.loc[0, "Last Name"] = "Zoë", "Müller"
    sample.loc[1, "Email"] = "not-an-email"
    sample.loc[2, "Created Date"] = "yesterday"
    sample.loc[3, "Lead Type"] = "Huge"
    sample.loc[4, "Partner"] = "Unknown Partner GmbH"
    latin = inbox / f"webinar_{stamp}.csv"
    latin.write_bytes(sample.to_csv(index=False, sep=";").encode("cp1252"))
    made.append(latin)

    xlsx = inbox / f"field_event_{stamp}.xlsx"
    sample.iloc[5:25].to_excel(xlsx, index=False, sheet_name="Leads")
    made.append(xlsx)

    broken = inbox / f"partner_list_{stamp}.csv"
    broken.write_text(sample.drop(columns=["Email"]).head(5).to_csv(index=False), encoding="utf-8")
    made.append(broken)
    return made


def drop_into_sftp_sources(paths: ProjectPaths, running: Sandboxes, leads: int, seed: int) -> list[Path]:
    """A fresh drop of seeded files into the inbox of every SFTP source running on a sandbox."""
    made = []
    for started in running.of_kind("sftp"):
        cfg = load_source(paths.sources_dir / f"{started.name}.yaml")
        made += drop_demo_files(started.server.root / cfg.connection.folders.inbox, paths.partners_file,
                                leads, seed)
        started.holds = f"{len(made)} files dropped into {cfg.connection.folders.inbox}/"
    running.dropped_files += made
    return made


# ---------------------------------------------------------------------------------------------- on their own

STANDALONE_PORTS = {"salesforce": 8443, "marketo": 8444, "eloqua": 8445}
# --vendor-hosts: each on port 443 of its own loopback address, so a hosts-file line can send the vendor's
# real host names there (Linux routes all of 127.0.0.0/8 to loopback; the certificate names these addresses).
VENDOR_HOST_ADDRESSES = {"salesforce": "127.0.0.2", "marketo": "127.0.0.3", "eloqua": "127.0.0.4"}
VENDOR_HOST_NAMES = {"salesforce": ("login.salesforce.com", "test.salesforce.com", "leadsync-sandbox.my.salesforce.com"),
                     "marketo": ("123-sbx-456.mktorest.com",), "eloqua": ("login.eloqua.com",)}


def start_standalone(vendors: list[str], state_dir: Path, *, leads: int, seed: int, tls: bool = True,
                     vendor_hosts: bool = False, on_start: Callable[[Started], None] | None = None) -> Sandboxes:
    """The named vendor sandboxes on fixed ports (see STANDALONE_PORTS, or VENDOR_HOST_ADDRESSES:443), each
    keeping its state under `state_dir/<vendor>` and seeded with `leads` when empty, all serving TLS from one
    CA kept in `state_dir/tls` (so a client trusts `state_dir/tls/sandbox-ca.pem` once). `started.holds`
    lists the URLs and credentials to print."""
    state_dir.mkdir(parents=True, exist_ok=True)
    running = Sandboxes()
    try:
        for vendor in vendors:
            host, port = (VENDOR_HOST_ADDRESSES[vendor], 443) if vendor_hosts else ("127.0.0.1",
                                                                                     STANDALONE_PORTS[vendor])
            _port_free(port, f"the {KIND_LABELS[vendor]} sandbox", host)
            started = _guard(vendor, _STANDALONE[vendor], state_dir / vendor, host, port,
                             state_dir / "tls" if tls else None, leads, seed)
            running.stack.callback(started.server.stop)
            running.started.append(started)
            if on_start:
                on_start(started)
    except BaseException:
        running.stop()
        raise
    return running


def _salesforce_alone(data: Path, host: str, port: int, tls_dir: Path | None, leads: int, seed: int) -> Started:
    from leadsync.connectors.salesforce.sandbox import SalesforceSandbox

    org = SalesforceSandbox(data_dir=data, autosave_s=30, **_where(host, port, tls_dir))
    if org.count("Lead") == 0 and leads:
        org.seed(leads=leads, seed=seed)
    c = org.credentials
    return _alone("salesforce", org, [
        f"{_fmt(org.count('Lead'))} leads",
        f"instance / login URL  {org.url}  (REST /services/data, Bulk 1.0 /services/async, OAuth /services/oauth2)",
        f"connected app         client_id {c.client_id}  client_secret {c.client_secret}",
        f"refresh token         {c.refresh_token}  (grant_type=refresh_token)",
        f"web-server flow       callback {c.callback_urls[1]} or any http://localhost:<port>/...",
        f"user                  {c.username}  password {c.password}  security token {c.security_token}",
        f"client credentials    My Domain {c.my_domain}.my.salesforce.com"])


def _marketo_alone(data: Path, host: str, port: int, tls_dir: Path | None, leads: int, seed: int) -> Started:
    from leadsync.connectors.marketo.sandbox import MarketoSandbox

    mkto = MarketoSandbox(data_dir=data, seed_leads=leads, seed=seed, **_where(host, port, tls_dir))
    return _alone("marketo", mkto, [
        f"{_fmt(mkto.leads.count())} leads",
        f"base URL (host)       {mkto.url}  (REST /rest, identity /identity/oauth/token, Bulk /bulk)",
        f"munchkin id           {mkto.munchkin_id}",
        f"client_id             {mkto.client_id}  client_secret {mkto.client_secret}"])


def _eloqua_alone(data: Path, host: str, port: int, tls_dir: Path | None, leads: int, seed: int) -> Started:
    from leadsync.connectors.eloqua.sandbox import EloquaSandbox

    eloqua = EloquaSandbox(data_dir=data, seed_contacts=leads, seed=seed, **_where(host, port, tls_dir))
    return _alone("eloqua", eloqua, [
        f"{_fmt(eloqua.state.contacts.table.num_rows)} contacts",
        f"login URL             {eloqua.url}  (/id gives the REST and Bulk base URLs)",
        f"site\\user             {eloqua.site}\\{eloqua.username}  password {eloqua.password}",
        f"OAuth client          {eloqua.client_id} / {eloqua.client_secret}  (/auth/oauth2/token)"])


def _where(host: str, port: int, tls_dir: Path | None) -> dict[str, Any]:
    return {"host": host, "port": port, "tls": tls_dir is not None, "tls_dir": tls_dir}


def _alone(kind: str, server: Any, lines: list[str]) -> Started:
    """Start `server`; `lines`: what it holds, then its URLs and credentials (one per line)."""
    server.start()
    return Started(kind, kind, server.url, server, "\n".join(lines))


_STANDALONE = {"salesforce": _salesforce_alone, "marketo": _marketo_alone, "eloqua": _eloqua_alone}
