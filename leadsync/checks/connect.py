"""`leadsync check --connect`: log in to each source with its YAML and secrets, and check what the YAML
names exists there (the SFTP inbox; an API source's mapped fields); then each partner CRM (its login, the
external id field, the fields leadsync writes and reads, the withdrawal value) and the lifecycle's SMTP server.

Each source is checked on its own: whatever goes wrong with one (even an unexpected exception) becomes a
problem naming its file, and the next source is still checked. Nothing is pulled, moved or sent.

Every check answers with a `Connection`: its problems, and on success what was tried (logged in where, which
folders or fields were checked), which `leadsync check --connect` prints so a clean result says what it means.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from leadsync.connectors.api_client import ApiConfigError, ApiError, ApiQuotaExhausted
from leadsync.connectors.sftp.errors import SftpConfigError, SftpError
from leadsync.checks.problems import WHOLE_FILE, Problem, error, from_config_error, shown_path, warning
from leadsync.config import ConfigError, load_source, source_files
from leadsync.config.loader import ProjectPaths
from leadsync.config.schema import ApiSource, SftpSource
from leadsync.pull.api_records import CAMPAIGN_COLUMNS, check_mapping, object_label
from leadsync.sources import lead_source, sftp_client

PARALLEL_CHECKS = 8


@dataclass(frozen=True)
class Connection:
    """One connection check: `target` names what was checked (a source, a partner's CRM, the SMTP server),
    `file` the YAML it comes from; `done` says what was tried and found when it worked."""

    target: str
    file: str
    problems: list[Problem] = field(default_factory=list)
    done: str = ""

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)


def check_connections(paths: ProjectPaths, only: str | None = None) -> list[Problem]:
    """Every source's connection (or only the source `only`), and the SMTP server when checking all."""
    return [p for c in connections(paths, only) for p in c.problems]


def connections(paths: ProjectPaths, only: str | None = None) -> list[Connection]:
    """Every source's connection (or only the source `only`), then the SMTP server and the partner CRMs when
    checking all. The checks run side by side: a server that times out delays the answer by its timeout, not
    the others."""
    checks = [partial(_source, paths, f) for f in source_files(paths) if only is None or f.stem == only]
    if only is None:
        checks.append(partial(smtp_connection, paths))
        checks += [partial(partner_crm_connection, paths, partner) for partner in _crm_partners(paths)]
    if not checks:
        return []
    with ThreadPoolExecutor(max_workers=min(len(checks), PARALLEL_CHECKS)) as pool:
        return [c for c in pool.map(lambda check: check(), checks) if c is not None]


def connection_problems(paths: ProjectPaths, source: str) -> list[Problem]:
    """One source's connection check, for a Dagster asset check on that source."""
    return source_connection(paths, source).problems


def source_connection(paths: ProjectPaths, source: str) -> Connection:
    files = [f for f in source_files(paths) if f.stem == source]
    if not files:
        file = paths.sources_dir / f"{source}.yaml"
        return Connection(source, shown_path(paths, file), [error(
            paths, file, WHOLE_FILE, "source file not found; create it or fix the source name", sources=[source])])
    return _source(paths, files[0])


def _source(paths: ProjectPaths, file: Path) -> Connection:
    name = file.stem
    shown = shown_path(paths, file)
    try:
        cfg = load_source(file)
        if isinstance(cfg, ApiSource):
            problems, done = _api(paths, file, cfg)
        else:
            problems, done = _sftp(paths, file, cfg)
    except ConfigError as exc:  # the YAML itself, a secret not set, a mapped field the source lacks
        return Connection(name, shown, from_config_error(paths, exc, sources=[name]))
    except Exception as exc:  # noqa: BLE001 - one source's surprise must not hide the other sources' results
        return Connection(name, shown, [error(paths, file, "connection", (
            f"the connection check failed unexpectedly ({type(exc).__name__}: {exc}); check the connection "
            "settings, and report this if they are right"), sources=[name])])
    return Connection(name, shown, problems, done)


def _sftp(paths: ProjectPaths, file: Path, cfg: SftpSource) -> tuple[list[Problem], str]:
    c = cfg.connection
    try:
        with sftp_client(cfg, file, paths) as client:
            client.check()
            waiting = len(client.list_inbox())
    except SftpConfigError as exc:
        return [error(paths, file, _sftp_key(cfg, str(exc)), str(exc), sources=[file.stem])], ""
    except SftpError as exc:  # transient, retries spent
        return [error(paths, file, "connection", (
            f"{exc}; the server could not be checked now: run the check again, and if it persists check "
            "connection.host and connection.port"), sources=[file.stem])], ""
    trusted = "known_hosts" if c.known_hosts else "host_key"
    how = "password" if c.password_env else "private key"
    files = f"{waiting} lead file{'' if waiting == 1 else 's'} waiting"
    return [], (f"logged in to {c.host}:{c.port} as {c.username} ({how}; host key matches {trusted}); inbox "
                f"folder '{c.folders.inbox}' exists and lists ({files}); nothing moved")


def _sftp_key(cfg: SftpSource, message: str) -> str:
    """The setting an SftpConfigError is about, from its message."""
    c = cfg.connection
    text = message.lower()
    if "authentication failed" in text:
        return "connection.password_env" if c.password_env else "connection.private_key_path"
    if "private key" in text:
        return "connection.private_key_path"
    if "host key" in text or "known_hosts" in text:
        return "connection.known_hosts" if c.known_hosts else "connection.host_key"
    if "inbox folder" in text:
        return "connection.folders.inbox"
    if any(w in text for w in ("refused", "resolve", "unreachable")):
        return "connection.host"
    return "connection"


def _api(paths: ProjectPaths, file: Path, cfg: ApiSource) -> tuple[list[Problem], str]:
    try:
        with lead_source(cfg, file, paths) as api:
            api.check()
            fields = check_mapping(cfg, api, file)  # raises ConfigError: one line per mapped column it lacks
    except ApiConfigError as exc:
        return [error(paths, file, "connection", str(exc), sources=[file.stem])], ""
    except ApiQuotaExhausted as exc:
        return [warning(paths, file, "connection", (
            f"the API quota is spent, so the mapped fields could not be checked: {exc}"), sources=[file.stem])], ""
    except ApiError as exc:  # transient, retries spent
        return [error(paths, file, "connection", (
            f"{exc}; the source could not be checked now: run the check again, and if it persists check "
            "the connection settings"), sources=[file.stem])], ""
    c = cfg.connection
    where = getattr(c, "login_url", None) or getattr(c, "base_url", None) or cfg.type
    mapped = sum(1 for f in cfg.fields if f.column not in CAMPAIGN_COLUMNS)
    return [], (f"logged in to {where}; {object_label(cfg)} has all {mapped} mapped fields "
                f"({len(fields)} fields read with the record id and modified date); nothing pulled")


def _crm_partners(paths: ProjectPaths) -> list:
    """Partners with a `crm` block; [] when partners.yaml does not load (the lint reports that)."""
    from leadsync.config.loader import load_partners

    try:
        return [p for p in load_partners(paths.partners_file).partners if p.crm is not None]
    except (ConfigError, OSError):
        return []


def partner_crm_problems(paths: ProjectPaths, partner) -> list[Problem]:
    return partner_crm_connection(paths, partner).problems


def partner_crm_connection(paths: ProjectPaths, partner) -> Connection:
    """Log in to one partner's CRM and check what leadsync will write and read there; nothing is written."""
    from leadsync.partner_crm.kinds import open_crm

    key = f"partners[{partner.id}].crm"
    target = f"{partner.name}'s CRM"
    shown = shown_path(paths, paths.partners_file)

    def failed(problem: Problem) -> Connection:
        return Connection(target, shown, [problem])

    try:
        crm = open_crm(partner, paths)
        try:
            crm.check()
        finally:
            crm.close()
    except ApiConfigError as exc:
        return failed(error(paths, paths.partners_file, key, f"{partner.name}'s CRM: {exc}"))
    except ApiQuotaExhausted as exc:
        return failed(warning(paths, paths.partners_file, key, f"{partner.name}'s CRM: the API quota is spent, "
                                                               f"so it could not be checked: {exc}"))
    except ApiError as exc:
        return failed(error(paths, paths.partners_file, key, f"{partner.name}'s CRM could not be checked now "
                                                             f"({exc}); run the check again, and if it persists "
                                                             "check the connection"))
    except Exception as exc:  # noqa: BLE001 - one partner's surprise must not hide the other results
        return failed(error(paths, paths.partners_file, key,
                            f"{partner.name}'s CRM check failed unexpectedly ({type(exc).__name__}: {exc})"))
    crm_cfg = partner.crm
    where = getattr(crm_cfg.connection, "login_url", None) or crm_cfg.type
    return Connection(target, shown, [], (
        f"logged in to {where}; Lead has the external id field {crm_cfg.external_id_field}, the fields leadsync "
        "writes and reads, and the withdrawal value; nothing written"))


def smtp_problems(paths: ProjectPaths) -> list[Problem]:
    found = smtp_connection(paths)
    return found.problems if found else []


def smtp_connection(paths: ProjectPaths) -> Connection | None:
    """Connect (and log in) to lifecycle.yaml's SMTP server, sending nothing; None without lifecycle.yaml."""
    from leadsync.lifecycle.settings import load_settings
    from leadsync.lifecycle.smtp import Mailer, SmtpError

    file = paths.mappings / "lifecycle.yaml"
    if not file.exists():
        return None
    shown = shown_path(paths, file)
    try:
        smtp = load_settings(file).smtp
        # One attempt: a check reports what it finds now, rather than waiting out the sender's retries.
        Mailer(smtp.model_copy(update={"retries": 0})).check()
    except ConfigError as exc:
        return Connection("smtp", shown, from_config_error(paths, exc, file=file))
    except SmtpError as exc:
        return Connection("smtp", shown, [error(paths, file, "smtp", str(exc))])
    except Exception as exc:  # noqa: BLE001 - reported like any other problem
        return Connection("smtp", shown, [error(paths, file, "smtp", (
            f"the SMTP check failed unexpectedly ({type(exc).__name__}: {exc})"))])
    login = f"logged in as {smtp.username}" if smtp.username else "no login (open relay)"
    return Connection("smtp", shown, [], (
        f"SMTP server {smtp.host}:{smtp.effective_port} reached ({smtp.security}, {login}); nothing sent"))
