"""A real SSH/SFTP server on loopback (asyncssh) serving one folder, for the demo and the tests.

Password and/or public-key logins; an Ed25519 host key (generated, or kept in a file) that clients must
check like any other; clients are jailed in the served folder. Works with paramiko and with OpenSSH's
`sftp`. A few fault switches let tests break it the way real servers break: dropped sessions, refused
handshakes, a server without the OpenSSH posix-rename extension, and one offering only some ciphers.

Run it in the foreground for `dagster dev` demos:
    python -m leadsync.connectors.sftp.sandbox --root DIR --port 2222 --user demo --password demo [--seed-leads N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import asyncssh

FOLDERS = ("inbox", "processed", "error", "outbox")

log = logging.getLogger(__name__)


class _SandboxSFTPServer(asyncssh.SFTPServer):
    """asyncssh's local-filesystem SFTP server, jailed in the sandbox root (asyncssh's chroot maps every
    client path inside it, ".." included)."""

    def __init__(self, chan: asyncssh.SSHServerChannel, sandbox: SftpSandbox):
        super().__init__(chan, chroot=os.fsencode(sandbox.root))
        self._sandbox = sandbox

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        if not self._sandbox.posix_rename:
            raise asyncssh.SFTPOpUnsupported("posix-rename@openssh.com unsupported by this server")
        return super().posix_rename(oldpath, newpath)


class _SandboxSSHServer(asyncssh.SSHServer):
    def __init__(self, sandbox: SftpSandbox):
        self._sandbox = sandbox
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._sandbox._on_connect(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self._sandbox._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # every login must authenticate

    def password_auth_supported(self) -> bool:
        return bool(self._sandbox.users)

    def validate_password(self, username: str, password: str) -> bool:
        expected = self._sandbox.users.get(username)
        return expected is not None and expected == password

    def public_key_auth_supported(self) -> bool:
        return bool(self._sandbox.authorized_keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        offered = key.export_public_key("openssh").decode().split()[:2]
        return any(line.split()[:2] == offered for line in self._sandbox.authorized_keys.get(username, []))


class SftpSandbox:
    """`with SftpSandbox(root, users={"demo": "pw"}) as server:` serves `root` on 127.0.0.1:server.port."""

    def __init__(self, root: Path, users: dict[str, str] | None = None,
                 authorized_keys: dict[str, list[str]] | None = None, host_key_path: Path | None = None,
                 port: int = 0, host: str = "127.0.0.1", posix_rename: bool = True,
                 ciphers: list[str] | None = None):
        self.root = Path(root).resolve()
        self.users = dict(users or {})
        self.authorized_keys = {user: list(lines) for user, lines in (authorized_keys or {}).items()}
        self.host_key_path = Path(host_key_path) if host_key_path else None
        self.host = host
        self.port = port
        self.posix_rename = posix_rename  # False: behave like a server without the OpenSSH extension
        self.ciphers = ciphers  # the only ciphers offered, e.g. a server without AES-GCM; None: asyncssh's
        self.connection_count = 0  # SSH connections accepted so far (tests count retries with it)
        self._drop_next = 0
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._key = self._load_or_create_host_key()

    def _load_or_create_host_key(self) -> asyncssh.SSHKey:
        if self.host_key_path and self.host_key_path.exists():
            return asyncssh.read_private_key(str(self.host_key_path))
        key = asyncssh.generate_private_key("ssh-ed25519")
        if self.host_key_path:  # kept, so known_hosts files stay valid across demo restarts
            self.host_key_path.parent.mkdir(parents=True, exist_ok=True)
            key.write_private_key(str(self.host_key_path))
            self.host_key_path.chmod(0o600)
        return key

    @property
    def host_key_line(self) -> str:
        """The server's public host key as an OpenSSH line: "ssh-ed25519 AAAA..."."""
        return " ".join(self._key.export_public_key("openssh").decode().split()[:2])

    @property
    def known_hosts_line(self) -> str:
        if not self.port:
            raise RuntimeError("the sandbox has no port yet; start() it first")
        label = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{label} {self.host_key_line}"

    def write_known_hosts(self, path: Path) -> Path:
        """Write a known_hosts file trusting this server, in OpenSSH's "[host]:port type key" form."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.known_hosts_line + "\n")
        return path

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        if self._loop is not None:
            return self
        for folder in FOLDERS:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=f"sftp-sandbox-{self.root.name}", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._acceptor = asyncio.run_coroutine_threadsafe(self._listen(), loop).result(timeout=15)
        except BaseException:
            self._stop_loop()
            raise
        self.port = self._acceptor.sockets[0].getsockname()[1]
        log.info("SFTP sandbox serving %s on %s:%d", self.root, self.host, self.port)
        return self

    async def _listen(self) -> asyncssh.SSHAcceptor:
        return await asyncssh.listen(
            self.host, self.port, server_host_keys=[self._key],
            server_factory=lambda: _SandboxSSHServer(self),
            sftp_factory=lambda chan: _SandboxSFTPServer(chan, self),
            allow_scp=False, reuse_address=True, login_timeout=30,
            **({"encryption_algs": self.ciphers} if self.ciphers is not None else {}),
        )

    def stop(self) -> None:
        if self._loop is None:
            return

        async def shutdown() -> None:
            for conn in list(self._connections):
                conn.abort()
            if self._acceptor is not None:
                self._acceptor.close()
                await self._acceptor.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = self._acceptor = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
        loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------------------ fault switches

    def _on_connect(self, conn: asyncssh.SSHServerConnection) -> None:
        self.connection_count += 1
        self._connections.add(conn)
        if self._drop_next > 0:
            self._drop_next -= 1
            asyncio.get_running_loop().call_soon(conn.abort)

    def drop_next_connections(self, n: int) -> None:
        """Abort the next n connections as soon as they are accepted, like a flaky network or a server
        at its connection limit: the client sees EOF during the handshake."""
        self._call(self._set_drop_next, n)

    def _set_drop_next(self, n: int) -> None:
        self._drop_next = n

    def disconnect_all(self) -> None:
        """Close every live session at once, as a network drop would."""
        def abort_all() -> None:
            for conn in list(self._connections):
                conn.abort()
        self._call(abort_all)

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        """Run fn on the server's event loop (its state belongs to that thread) and wait for it."""
        if self._loop is None:
            raise RuntimeError("the sandbox is not running")

        async def run() -> None:
            fn(*args)

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Run the leadsync SFTP sandbox in the foreground (Ctrl-C stops).")
    parser.add_argument("--root", required=True, type=Path, help="folder to serve; inbox/ etc. are created")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2222)
    parser.add_argument("--user", default="demo")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--authorized-keys", type=Path,
                        help="file of OpenSSH public key lines the user may log in with")
    parser.add_argument("--host-key", type=Path,
                        help="keep the host key in this file (default: a new key per run)")
    parser.add_argument("--known-hosts", type=Path,
                        help="also write a known_hosts file trusting the server here")
    parser.add_argument("--seed-leads", type=int, default=0, help="write N generated leads into inbox/")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generated leads")
    args = parser.parse_args(argv)

    keys = {}
    if args.authorized_keys:
        keys[args.user] = [line for line in args.authorized_keys.read_text().splitlines() if line.strip()]
    sandbox = SftpSandbox(args.root, users={args.user: args.password} if args.password else None,
                          authorized_keys=keys, host_key_path=args.host_key, port=args.port, host=args.host)
    with sandbox:
        if args.seed_leads:
            from leadsync.connectors.sftp.seed import write_demo_leads

            target = sandbox.root / "inbox" / f"seeded_leads_{args.seed}.csv"
            seeded = write_demo_leads(target, args.seed_leads, seed=args.seed)
            print(f"seeded {args.seed_leads} leads into {seeded}")
        if args.known_hosts:
            sandbox.write_known_hosts(args.known_hosts)
            print(f"known_hosts file: {args.known_hosts}")
        print(f"SFTP sandbox serving {sandbox.root}")
        print(f"host: {sandbox.host}")
        print(f"port: {sandbox.port}")
        print(f"user: {args.user}")
        print(f"known_hosts line: {sandbox.known_hosts_line}")
        print("Ctrl-C to stop", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping")


if __name__ == "__main__":
    main()
