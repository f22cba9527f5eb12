"""`leadsync check --connect`: log in to each source with its YAML and secrets, and check what the YAML
names exists there (the SFTP inbox; an API source's mapped fields); then each partner CRM (its login, the
external id field, the fields leadsync writes and reads, the withdrawal value) and the lifecycle's SMTP server.

Each source is checked on its own: whatever goes wrong with one (even an unexpected exception) becomes a
problem naming its file, and the next source is still checked. Nothing is pulled, moved or sent.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from connectors.api_client import ApiConfigError, ApiError, ApiQuotaExhausted
from connectors.sftp.errors import SftpConfigError, SftpError
from leadsync.checks.problems import WHOLE_FILE, Problem, error, from_config_error, warning
from leadsync.config import ConfigError, load_source, source_files
from leadsync.config.loader import ProjectPaths
from leadsync.config.schema import ApiSource, SftpSource
from leadsync.pull.api_records import check_mapping
from leadsync.sources import lead_source, sftp_client

PARALLEL_CHECKS = 8


def check_connections(paths: ProjectPaths, only: str | None = None) -> list[Problem]:
    """Every source's connection (or only the source `only`), and the SMTP server when checking all.
    The checks run side by side: a server that times out delays the answer by its timeout, not the others."""
    checks = [partial(_source, paths, f) for f in source_files(paths) if only is None or f.stem == only]
    if only is None:
        checks.append(partial(smtp_problems, paths))
        checks += [partial(partner_crm_problems, paths, partner) for partner in _crm_partners(paths)]
    if not checks:
        return []
    with ThreadPoolExecutor(max_workers=min(len(checks), PARALLEL_CHECKS)) as pool:
        return [p for found in pool.map(lambda check: check(), checks) for p in found]


def connection_problems(paths: ProjectPaths, source: str) -> list[Problem]:
    """One source's connection check, for a Dagster asset check on that source."""
    files = [f for f in source_files(paths) if f.stem == source]
    if not files:
        return [error(paths, paths.sources_dir / f"{source}.yaml", WHOLE_FILE,
                      "source file not found; create it or fix the source name", sources=[source])]
    return [p for f in files for p in _source(paths, f)]


def _source(paths: ProjectPaths, file: Path) -> list[Problem]:
    name = file.stem
    try:
        cfg = load_source(file)
        return _api(paths, file, cfg) if isinstance(cfg, ApiSource) else _sftp(paths, file, cfg)
    except ConfigError as exc:  # the YAML itself, a secret not set, a mapped field the source lacks
        return from_config_error(paths, exc, sources=[name])
    except Exception as exc:  # noqa: BLE001 - one source's surprise must not hide the other sources' results
        return [error(paths, file, "connection", (
            f"the connection check failed unexpectedly ({type(exc).__name__}: {exc}); check the connection "
            "settings, and report this if they are right"), sources=[name])]


def _sftp(paths: ProjectPaths, file: Path, cfg: SftpSource) -> list[Problem]:
    try:
        with sftp_client(cfg, file, paths) as client:
            client.check()
    except SftpConfigError as exc:
        return [error(paths, file, _sftp_key(cfg, str(exc)), str(exc), sources=[file.stem])]
    except SftpError as exc:  # transient, retries spent
        return [error(paths, file, "connection", (
            f"{exc}; the server could not be checked now: run the check again, and if it persists check "
            "connection.host and connection.port"), sources=[file.stem])]
    return []


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


def _api(paths: ProjectPaths, file: Path, cfg: ApiSource) -> list[Problem]:
    try:
        with lead_source(cfg, file, paths) as api:
            api.check()
            check_mapping(cfg, api, file)  # raises ConfigError: one line per mapped column it lacks
    except ApiConfigError as exc:
        return [error(paths, file, "connection", str(exc), sources=[file.stem])]
    except ApiQuotaExhausted as exc:
        return [warning(paths, file, "connection", (
            f"the API quota is spent, so the mapped fields could not be checked: {exc}"), sources=[file.stem])]
    except ApiError as exc:  # transient, retries spent
        return [error(paths, file, "connection", (
            f"{exc}; the source could not be checked now: run the check again, and if it persists check "
            "the connection settings"), sources=[file.stem])]
    return []


def _crm_partners(paths: ProjectPaths) -> list:
    """Partners with a `crm` block; [] when partners.yaml does not load (the lint reports that)."""
    from leadsync.config.loader import load_partners

    try:
        return [p for p in load_partners(paths.partners_file).partners if p.crm is not None]
    except (ConfigError, OSError):
        return []


def partner_crm_problems(paths: ProjectPaths, partner) -> list[Problem]:
    """Log in to one partner's CRM and check what leadsync will write and read there; nothing is written."""
    from leadsync.partner_crm.kinds import open_crm

    key = f"partners[{partner.id}].crm"
    try:
        crm = open_crm(partner, paths)
        try:
            crm.check()
        finally:
            crm.close()
    except ApiConfigError as exc:
        return [error(paths, paths.partners_file, key, f"{partner.name}'s CRM: {exc}")]
    except ApiQuotaExhausted as exc:
        return [warning(paths, paths.partners_file, key, f"{partner.name}'s CRM: the API quota is spent, so it "
                                                         f"could not be checked: {exc}")]
    except ApiError as exc:
        return [error(paths, paths.partners_file, key, f"{partner.name}'s CRM could not be checked now ({exc}); "
                                                       "run the check again, and if it persists check the connection")]
    except Exception as exc:  # noqa: BLE001 - one partner's surprise must not hide the other results
        return [error(paths, paths.partners_file, key,
                      f"{partner.name}'s CRM check failed unexpectedly ({type(exc).__name__}: {exc})")]
    return []


def smtp_problems(paths: ProjectPaths) -> list[Problem]:
    """Connect (and log in) to lifecycle.yaml's SMTP server, sending nothing; [] without lifecycle.yaml."""
    from leadsync.lifecycle.settings import load_settings
    from leadsync.lifecycle.smtp import Mailer, SmtpError

    file = paths.mappings / "lifecycle.yaml"
    if not file.exists():
        return []
    try:
        smtp = load_settings(file).smtp
        # One attempt: a check reports what it finds now, rather than waiting out the sender's retries.
        Mailer(smtp.model_copy(update={"retries": 0})).check()
    except ConfigError as exc:
        return from_config_error(paths, exc, file=file)
    except SmtpError as exc:
        return [error(paths, file, "smtp", str(exc))]
    except Exception as exc:  # noqa: BLE001 - reported like any other problem
        return [error(paths, file, "smtp", f"the SMTP check failed unexpectedly ({type(exc).__name__}: {exc})")]
    return []
