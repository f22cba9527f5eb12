"""What a configuration needs from the machine it runs on: secrets in environment variables and the files
it names (known_hosts, private keys, CA bundles). Warnings, not errors: `leadsync check` may run where the
deployment's secrets are not set; the connection check (connect.py) turns a missing one into an error."""

from __future__ import annotations

import os
from pathlib import Path

from leadsync.checks.problems import Problem, warning
from leadsync.config.loader import ProjectPaths
from leadsync.config.schema import SourceConfig
from leadsync.lifecycle.settings import LifecycleSettings

FILE_KEYS = ("known_hosts", "private_key_path", "ca_bundle")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
MIN_SECRET_LENGTH = 16  # as WebSettings.secret() requires


def source_environment(paths: ProjectPaths, file: Path, cfg: SourceConfig) -> list[Problem]:
    connection = getattr(cfg, "connection", None)
    if connection is None:
        return []
    problems = []
    for key, value in connection.model_dump().items():
        if key.endswith("_env") and value and not os.environ.get(value):
            problems.append(warning(paths, file, f"connection.{key}", (
                f"environment variable {value} is not set here; set it to the {file.stem} "
                f"{key.removesuffix('_env').replace('_', ' ')} (in the shell or .env) where leadsync runs"),
                sources=[file.stem]))
        if key in FILE_KEYS and value and not paths.resolve(value).exists() \
                and not _written_by_bundled_sandbox(paths, connection, key, paths.resolve(value)):
            problems.append(warning(paths, file, f"connection.{key}", (
                f"file {paths.resolve(value)} does not exist; create it or fix the path (relative paths start "
                "at the project root)"), sources=[file.stem]))
    return problems


def _written_by_bundled_sandbox(paths: ProjectPaths, connection, key: str, file: Path) -> bool:
    """The known_hosts file of a loopback source in the bundled SFTP sandbox's folder: the sandbox writes it
    when it starts (`leadsync dev`, `leadsync demo`), so its absence on a fresh clone is not a problem."""
    from leadsync.demo import sandbox_dir

    if key != "known_hosts" or getattr(connection, "host", None) not in LOOPBACK:
        return False
    return file.resolve().is_relative_to(sandbox_dir(paths).resolve())


def lifecycle_environment(paths: ProjectPaths, file: Path, settings: LifecycleSettings) -> list[Problem]:
    problems = []
    smtp = settings.smtp
    if smtp.password_env and not os.environ.get(smtp.password_env):
        problems.append(warning(paths, file, "smtp.password_env", (
            f"environment variable {smtp.password_env} is not set here; set it to the SMTP password of "
            f"{smtp.username}")))
    secret = os.environ.get(settings.web.secret_env, "")
    if len(secret) < MIN_SECRET_LENGTH:
        state = "is not set" if not secret else f"is shorter than {MIN_SECRET_LENGTH} characters"
        problems.append(warning(paths, file, "web.secret_env", (
            f"environment variable {settings.web.secret_env} {state} here; partner links cannot be signed. "
            "Set it to a long random string (python -c 'import secrets; print(secrets.token_urlsafe(32))')")))
    return problems
