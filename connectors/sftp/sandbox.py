"""A real SSH/SFTP server on loopback (asyncssh), serving one folder, for the demo and the tests.

Password and/or public-key auth; a persistent or generated ed25519 host key that clients must check.
Works with paramiko and with OpenSSH's `sftp`.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from pathlib import Path

import asyncssh

FOLDERS = ("inbox", "processed", "error", "outbox")


class _Server(asyncssh.SSHServer):
    def __init__(self, sandbox: SftpSandbox):
        self.sandbox = sandbox
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.sandbox._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self.sandbox._connections.discard(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return bool(self.sandbox.users)

    def validate_password(self, username: str, password: str) -> bool:
        return self.sandbox.users.get(username) == password

    def public_key_auth_supported(self) -> bool:
        return bool(self.sandbox.authorized_keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        offered = key.export_public_key("openssh").decode().split()[:2]
        return any(line.split()[:2] == offered for line in self.sandbox.authorized_keys.get(username, []))


class SftpSandbox:
    def __init__(self, root: Path, users: dict[str, str] | None = None,
                 authorized_keys: dict[str, list[str]] | None = None, host_key_path: Path | None = None,
                 port: int = 0, host: str = "127.0.0.1"):
        self.root = Path(root).resolve()
        self.users = dict(users or {})
        self.authorized_keys = dict(authorized_keys or {})
        self.host_key_path = Path(host_key_path) if host_key_path else None
        self.host = host
        self.port = port
        self._connections: set = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self._key = self._host_key()

    def _host_key(self) -> asyncssh.SSHKey:
        if self.host_key_path and self.host_key_path.exists():
            return asyncssh.read_private_key(str(self.host_key_path))
        key = asyncssh.generate_private_key("ssh-ed25519")
        if self.host_key_path:
            self.host_key_path.parent.mkdir(parents=True, exist_ok=True)
            key.write_private_key(str(self.host_key_path))
            self.host_key_path.chmod(0o600)
        return key

    @property
    def host_key_line(self) -> str:
        return " ".join(self._key.export_public_key("openssh").decode().split()[:2])

    def write_known_hosts(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        label = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        path.write_text(f"{label} {self.host_key_line}\n")
        return path

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> SftpSandbox:
        for folder in FOLDERS:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sftp-sandbox", daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=15)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _listen(self):
        return await asyncssh.listen(
            self.host, self.port, server_host_keys=[self._key], server_factory=lambda: _Server(self),
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(self.root)), allow_scp=False,
            reuse_address=True,
        )

    def disconnect_all(self) -> None:
        """Close every live session at once, as a network drop would."""
        async def close():
            for conn in list(self._connections):
                conn.abort()
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)

    def stop(self) -> None:
        if self._loop is None:
            return
        async def shutdown():
            for conn in list(self._connections):
                conn.abort()
            self._server.close()
            await self._server.wait_closed()
        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
            self._loop = None

    def __enter__(self) -> SftpSandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the leadsync SFTP sandbox in the foreground.")
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--port", type=int, default=2222)
    parser.add_argument("--user", default="demo")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--host-key", type=Path, help="persist the host key in this file")
    parser.add_argument("--seed-leads", type=int, default=0, help="write N generated leads into inbox/")
    args = parser.parse_args()
    with SftpSandbox(args.root, users={args.user: args.password}, host_key_path=args.host_key,
                     port=args.port) as sandbox:
        if args.seed_leads:
            from connectors.sftp.seed import write_demo_leads
            write_demo_leads(sandbox.root / "inbox" / "seeded_leads.csv", args.seed_leads)
        print(f"SFTP sandbox serving {sandbox.root} on {sandbox.host}:{sandbox.port}")
        print(f"known_hosts line: [{sandbox.host}]:{sandbox.port} {sandbox.host_key_line}")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
