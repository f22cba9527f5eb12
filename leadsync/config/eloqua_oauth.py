"""An Eloqua source's OAuth 2.0 settings from its YAML (`connection.auth: oauth`) and the environment.

Eloqua rotates refresh tokens: each refresh answers a new one and the old one stops working. With
`connection.token_file` the newest is written there (mode 600) on every rotation and read first next time,
so a token given once through `refresh_token_env` keeps working run after run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from leadsync.config.loader import ProjectPaths
from leadsync.config.schema import ApiSource, SourceConfig

Secret = Callable[[SourceConfig, Path, str, str], str]


def eloqua_oauth(cfg: ApiSource, file: Path, paths: ProjectPaths, secret: Secret) -> dict:
    """client_id, client_secret, refresh_token and on_refresh_token for EloquaSettings. `secret(cfg, file,
    key, env_name)` reads an environment variable or raises ConfigError naming it (leadsync/sources.py)."""
    c = cfg.connection

    def env(key: str) -> str | None:
        return secret(cfg, file, key, getattr(c, key)) if getattr(c, key) else None

    token_file = paths.resolve(c.token_file) if c.token_file else None
    stored = token_file.read_text().strip() if token_file is not None and token_file.is_file() else None
    settings = {"client_id": env("client_id_env"), "client_secret": env("client_secret_env"),
                "refresh_token": stored or env("refresh_token_env")}
    if token_file is not None:
        settings["on_refresh_token"] = lambda token: _keep(token_file, token)
    return settings


def _keep(path: Path, token: str) -> None:
    """Write the rotated refresh token where the next run reads it: a new file, mode 600, swapped in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(path.name + ".new")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.replace(fresh, path)
