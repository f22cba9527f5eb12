"""From a source's YAML to a connected client. Secrets come from the environment, never from YAML."""

from __future__ import annotations

import os
from pathlib import Path

from connectors.sftp.client import SftpClient, SftpSettings
from leadsync.config import ConfigError
from leadsync.config.loader import ProjectPaths
from leadsync.config.schema import SourceConfig


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
