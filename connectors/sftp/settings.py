"""Connection settings of one SFTP lead drop."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SftpSettings:
    """Where to connect, how to log in, which host key to trust, which folders to use.

    Host key checking is mandatory: give `known_hosts_path` (an OpenSSH known_hosts file) and/or `host_key`
    (one public key line, "ssh-ed25519 AAAA..."). Folders are relative to the login folder unless absolute.
    """

    host: str
    username: str
    port: int = 22
    # repr=False: settings end up in logs and Dagster metadata; secrets must not.
    password: str | None = field(default=None, repr=False)
    private_key_path: str | None = None
    known_hosts_path: str | None = None
    host_key: str | None = None
    inbox: str = "inbox"
    processed: str = "processed"
    error: str = "error"
    outbox: str = "outbox"
    timeout_s: float = 15.0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def where(self) -> str:
        """user@host:port, the way every error message names the connection."""
        return f"{self.username}@{self.host}:{self.port}"

    @property
    def keyscan_hint(self) -> str:
        return f"ssh-keyscan -p {self.port} {self.host}"
