"""From a source's YAML to a connected client. Secrets come from the environment, never from YAML."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from leadsync.connectors.api_client import ApiConfigError, HttpSettings, RetryPolicy
from leadsync.connectors.sftp.client import SftpClient, SftpSettings
from leadsync.connectors.source_api import LeadSource
from leadsync.config import ConfigError
from leadsync.config.eloqua_oauth import eloqua_oauth
from leadsync.config.loader import ProjectPaths
from leadsync.config.schema import ApiSource, SourceConfig


def secret(cfg: SourceConfig, file: Path, key: str, env_name: str) -> str:
    value = os.environ.get(env_name)
    if not value:
        raise ConfigError(file, [(f"connection.{key}: environment variable {env_name} is not set; "
                                  f"set it to the {cfg.name} {key.removesuffix('_env')} (in the shell or .env)")])
    return value


def sftp_client(cfg: SourceConfig, file: Path, paths: ProjectPaths) -> SftpClient:
    c = cfg.connection
    return SftpClient(SftpSettings(
        host=c.host,
        port=c.port,
        username=c.username,
        password=secret(cfg, file, "password_env", c.password_env) if c.password_env else None,
        private_key_path=str(paths.resolve(c.private_key_path)) if c.private_key_path else None,
        known_hosts_path=str(paths.resolve(c.known_hosts)) if c.known_hosts else None,
        host_key=c.host_key,
        inbox=c.folders.inbox,
        processed=c.folders.processed,
        error=c.folders.error,
        outbox=c.folders.outbox,
        timeout_s=c.timeout_s,
    ))


@contextmanager
def lead_source(cfg: ApiSource, file: Path, paths: ProjectPaths) -> Iterator[LeadSource]:
    """The vendor connector for an API source, built from its YAML; closed afterwards."""
    factory = {"eloqua": _eloqua, "salesforce": _salesforce, "marketo": _marketo}.get(cfg.type)
    if factory is None:
        raise ConfigError(file, [f"type: '{cfg.type}' has no connector in this version of leadsync"])
    source = factory(cfg, file, paths)
    try:
        yield source
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _http(cfg: ApiSource, paths: ProjectPaths) -> HttpSettings:
    c = cfg.connection
    retry = RetryPolicy(attempts=c.retries.attempts, initial_s=c.retries.initial_s, max_s=c.retries.max_s)
    return HttpSettings(timeout_s=c.timeout_s, ca_bundle=paths.resolve(c.ca_bundle) if c.ca_bundle else None,
                        retry=retry)


def _eloqua(cfg: ApiSource, file: Path, paths: ProjectPaths) -> LeadSource:
    from leadsync.connectors.eloqua.source import EloquaSettings, EloquaSource

    c, wb = cfg.connection, cfg.writeback
    extra = {}
    if wb.opportunities.custom_object:
        extra["opportunity_object"] = wb.opportunities.custom_object
    if wb.events.custom_object:
        extra["event_object"] = wb.events.custom_object
    if wb.status_object:
        extra |= {"status_mode": "custom_object", "status_object": wb.status_object}
    try:
        settings = EloquaSettings(
            site=c.site, username=c.username,
            password=secret(cfg, file, "password_env", c.password_env) if c.password_env else None,
            **(eloqua_oauth(cfg, file, paths, secret) if c.auth == "oauth" else {}), login_url=c.login_url, http=_http(cfg, paths), identifier=c.identifier, sync_poll_interval_s=c.sync_poll_s,
            calls_per_window=c.calls_per_window, window_s=c.window_s, max_concurrent=c.max_concurrent,
            daily_quota=c.daily_quota,
            look_back=timedelta(minutes=cfg.pull.look_back_minutes), **extra)
    except ApiConfigError as exc:
        raise ConfigError(file, [f"connection: {exc}"]) from None
    return EloquaSource(settings)


def _salesforce(cfg: ApiSource, file: Path, paths: ProjectPaths) -> LeadSource:
    from leadsync.connectors.salesforce.source import SalesforceSettings, SalesforceSource, SegregationFilter

    c, wb = cfg.connection, cfg.writeback
    values: dict = {
        "auth": c.auth, "login_url": c.login_url, "object": c.object, "api_version": c.api_version,
        "http": _http(cfg, paths), "consumer_key": secret(cfg, file, "consumer_key_env", c.consumer_key_env),
        "bulk_threshold": cfg.pull.bulk_threshold, "look_back_s": cfg.pull.look_back_minutes * 60,
        "daily_api_budget": c.daily_api_budget, "max_concurrent": c.max_concurrent,
    }
    if c.consumer_secret_env:
        values["consumer_secret"] = secret(cfg, file, "consumer_secret_env", c.consumer_secret_env)
    if c.username:
        values["username"] = c.username
    if c.private_key_path:
        values["private_key_path"] = str(paths.resolve(c.private_key_path))
    if c.password_env:
        values["password"] = secret(cfg, file, "password_env", c.password_env)
    if wb.opportunities.mode == "custom_object" and wb.opportunities.custom_object:
        values["opportunity_object"] = wb.opportunities.custom_object
    if wb.events.mode == "custom_object" and wb.events.custom_object:
        values["event_object"] = wb.events.custom_object
    try:
        if cfg.segregate:
            values["segregation"] = SegregationFilter.from_config(cfg.segregate)
        settings = SalesforceSettings(**values)
    except ApiConfigError as exc:
        raise ConfigError(file, [f"connection: {exc}"]) from None
    return SalesforceSource(settings)


def _marketo(cfg: ApiSource, file: Path, paths: ProjectPaths) -> LeadSource:
    from leadsync.connectors.marketo.source import MarketoSettings, MarketoSource

    c, wb = cfg.connection, cfg.writeback
    extra: dict = {}
    if wb.opportunities.mode == "custom_object":
        extra["opportunity_mode"] = "custom_object"
        if wb.opportunities.custom_object:
            extra["custom_object_name"] = wb.opportunities.custom_object
    if wb.events.custom_object:
        extra["custom_activity_type"] = wb.events.custom_object
    try:
        settings = MarketoSettings(
            c.base_url, secret(cfg, file, "client_id_env", c.client_id_env),
            secret(cfg, file, "client_secret_env", c.client_secret_env), http=_http(cfg, paths),
            calls_per_20s=c.calls_per_20s, max_concurrent=c.max_concurrent, daily_quota=c.daily_quota,
            bulk_threshold=cfg.pull.bulk_threshold,
            look_back_s=cfg.pull.look_back_minutes * 60, export_poll_s=c.export_poll_s, **extra)
    except ApiConfigError as exc:
        raise ConfigError(file, [f"connection: {exc}"]) from None
    return MarketoSource(settings)
