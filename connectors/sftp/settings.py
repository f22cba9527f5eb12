"""Connection settings of one SFTP lead drop."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_TIMEOUT_S = 600.0


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

    def __post_init__(self) -> None:
        # Bounds a script using the client directly gets too (the YAML's schema checks the same ones).
        if not 1 <= self.port <= 65535:
            raise ValueError(f"SFTP port {self.port} is out of range; give 1 to 65535")
        if not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            raise ValueError(f"SFTP timeout_s {self.timeout_s} is out of range; give more than 0 and at most "
                             f"{MAX_TIMEOUT_S:g} seconds")

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
