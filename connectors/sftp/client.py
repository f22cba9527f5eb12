"""SFTP client for lead drops (paramiko). Host keys are always checked; transient errors are retried
on connect, configuration errors never."""

from __future__ import annotations

import base64
import hashlib
import posixpath
import socket
import stat
from dataclasses import dataclass
from datetime import UTC, datetime

import paramiko
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from connectors.sftp.errors import SftpConfigError, SftpError, SftpTransientError

LEAD_FILE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")
IN_FLIGHT_SUFFIXES = (".part", ".tmp", ".filepart")


@dataclass(frozen=True)
class SftpSettings:
    host: str
    username: str
    port: int = 22
    password: str | None = None
    private_key_path: str | None = None
    known_hosts_path: str | None = None
    host_key: str | None = None
    inbox: str = "inbox"
    processed: str = "processed"
    error: str = "error"
    outbox: str = "outbox"
    timeout_s: float = 15.0


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    mtime: datetime


def _host_label(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class SftpClient:
    """`with SftpClient(settings) as client:` — one authenticated SFTP session."""

    def __init__(self, settings: SftpSettings):
        self.settings = settings
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None

    # ------------------------------------------------------------------------------- connection

    def __enter__(self) -> SftpClient:
        self._connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for thing in (self._sftp, self._transport):
            try:
                if thing is not None:
                    thing.close()
            except Exception:  # closing a dead connection must not hide the real error
                pass
        self._sftp = self._transport = None

    @property
    def _where(self) -> str:
        s = self.settings
        return f"{s.username}@{s.host}:{s.port}"

    def _expected_key(self) -> paramiko.PKey:
        s = self.settings
        if s.host_key:
            parts = s.host_key.split()
            if len(parts) < 2:
                raise SftpConfigError(f"host_key for {s.host}:{s.port} must be an OpenSSH key line 'type base64'")
            return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))
        if not s.known_hosts_path:
            raise SftpConfigError(f"no known_hosts file or host_key given for {s.host}:{s.port}: host keys are "
                                  "always checked; add one (ssh-keyscan -p PORT HOST > known_hosts)")
        keys = paramiko.HostKeys()
        try:
            keys.load(s.known_hosts_path)
        except FileNotFoundError:
            raise SftpConfigError(f"known_hosts file {s.known_hosts_path} does not exist; create it with "
                                  f"ssh-keyscan -p {s.port} {s.host}") from None
        found = keys.lookup(_host_label(s.host, s.port))
        if not found:
            raise SftpConfigError(
                f"host key for {s.host}:{s.port} is not in known_hosts file {s.known_hosts_path}; add the "
                f"server's key line (ssh-keyscan -p {s.port} {s.host}) or set host_key")
        return next(iter(found.values()))

    @retry(retry=retry_if_exception_type(SftpTransientError), stop=stop_after_attempt(3),
           wait=wait_exponential(multiplier=0.5, max=4), reraise=True)
    def _connect(self) -> None:
        s = self.settings
        expected = self._expected_key()
        try:
            sock = socket.create_connection((s.host, s.port), timeout=s.timeout_s)
        except socket.gaierror as exc:
            raise SftpConfigError(f"cannot resolve SFTP host {s.host!r} ({exc}); check connection.host") from None
        except ConnectionRefusedError:
            raise SftpConfigError(f"connection to {s.host}:{s.port} refused: no SFTP server listens there; "
                                  "check connection.host and connection.port") from None
        except (TimeoutError, OSError) as exc:
            raise SftpTransientError(f"cannot reach {s.host}:{s.port}: {exc}") from exc
        transport = paramiko.Transport(sock)
        transport.banner_timeout = transport.auth_timeout = s.timeout_s
        self._transport = transport
        try:
            transport.start_client(timeout=s.timeout_s)
            presented = transport.get_remote_server_key()
            if presented.get_name() != expected.get_name() or presented.asbytes() != expected.asbytes():
                raise SftpConfigError(
                    f"host key mismatch for {s.host}:{s.port}: the server presented {presented.get_name()} "
                    f"SHA256:{base64.b64encode(hashlib.sha256(presented.asbytes()).digest()).decode().rstrip('=')}, "
                    "which is not the key on record; if the server's key really changed, update known_hosts")
            self._authenticate(transport)
            self._sftp = paramiko.SFTPClient.from_transport(transport)
            self._sftp.get_channel().settimeout(s.timeout_s)
        except SftpError:
            self.close()
            raise
        except paramiko.AuthenticationException as exc:
            self.close()
            raise SftpConfigError(f"authentication failed for {self._where} ({exc}); check the username and "
                                  "the password environment variable or the private key") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self.close()
            raise SftpTransientError(f"SSH handshake with {s.host}:{s.port} failed: {exc}") from exc

    def _authenticate(self, transport: paramiko.Transport) -> None:
        s = self.settings
        if s.private_key_path:
            try:
                key = paramiko.PKey.from_path(s.private_key_path)
            except FileNotFoundError:
                raise SftpConfigError(f"private key {s.private_key_path} does not exist") from None
            transport.auth_publickey(s.username, key)
        else:
            transport.auth_password(s.username, s.password or "")

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            raise SftpError("not connected: use `with SftpClient(settings) as client:`")
        return self._sftp

    def _io(self, what: str, fn, *args):
        """Run one SFTP operation, mapping a dropped connection to SftpTransientError."""
        try:
            return fn(*args)
        except FileNotFoundError:
            raise
        except PermissionError as exc:
            raise SftpConfigError(f"{what} on {self._where}: permission denied ({exc})") from None
        except (EOFError, socket.timeout, paramiko.SSHException, ConnectionError) as exc:
            raise SftpTransientError(f"{what} on {self._where}: connection lost ({exc}); will retry") from exc
        except OSError as exc:
            if self._transport is None or not self._transport.is_active():
                raise SftpTransientError(f"{what} on {self._where}: connection lost ({exc})") from exc
            raise

    # ---------------------------------------------------------------------------------- folders

    def _folder_exists(self, folder: str) -> bool:
        try:
            return stat.S_ISDIR(self._io(f"stat {folder}", self.sftp.stat, folder).st_mode)
        except FileNotFoundError:
            return False

    def _ensure_folder(self, folder: str) -> None:
        if not self._folder_exists(folder):
            self._io(f"create folder {folder}", self.sftp.mkdir, folder)

    def check(self) -> None:
        """Authenticate (done on enter) and make sure the inbox folder exists."""
        if not self._folder_exists(self.settings.inbox):
            raise SftpConfigError(f"inbox folder {self.settings.inbox!r} does not exist on {self._where}; "
                                  "create it or fix connection.folders.inbox")

    def _list(self, folder: str) -> list[RemoteFile]:
        try:
            entries = self._io(f"list {folder}", self.sftp.listdir_attr, folder)
        except FileNotFoundError:
            raise SftpConfigError(f"folder {folder!r} does not exist on {self._where}; create it or fix "
                                  "connection.folders") from None
        files = [
            RemoteFile(e.filename, e.st_size or 0, datetime.fromtimestamp(e.st_mtime or 0, UTC))
            for e in entries if e.st_mode is not None and stat.S_ISREG(e.st_mode)
        ]
        return sorted(files, key=lambda f: (f.mtime, f.name))

    def list_inbox(self) -> list[RemoteFile]:
        """Lead files waiting in the inbox, oldest first; uploads still in flight are ignored."""
        def wanted(name: str) -> bool:
            low = name.lower()
            return (not name.startswith(".") and low.endswith(LEAD_FILE_SUFFIXES)
                    and not low.endswith(IN_FLIGHT_SUFFIXES))
        return [f for f in self._list(self.settings.inbox) if wanted(f.name)]

    def download(self, name: str) -> bytes:
        path = posixpath.join(self.settings.inbox, name)
        with self._io(f"open {path}", self.sftp.open, path, "rb") as fh:
            fh.prefetch()
            return self._io(f"read {path}", fh.read)

    # ----------------------------------------------------------------------------------- moves

    def _free_name(self, folder: str, name: str) -> str:
        """`name`, or `name` with a UTC timestamp before the extension when taken (never overwrite)."""
        if not self._exists(posixpath.join(folder, name)):
            return name
        stem, dot, ext = name.rpartition(".")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return f"{stem}.{stamp}.{ext}" if dot else f"{name}.{stamp}"

    def _exists(self, path: str) -> bool:
        try:
            self._io(f"stat {path}", self.sftp.stat, path)
            return True
        except FileNotFoundError:
            return False

    def _move(self, name: str, folder: str) -> str | None:
        source = posixpath.join(self.settings.inbox, name)
        if not self._exists(source):
            return None  # moved by an earlier attempt
        self._ensure_folder(folder)
        target = posixpath.join(folder, self._free_name(folder, name))
        # SFTP v3 rename refuses an existing target; the target is free, so plain rename is right.
        self._io(f"move {source} to {target}", self.sftp.rename, source, target)
        return target

    def move_to_processed(self, name: str) -> str:
        return self._move(name, self.settings.processed) or posixpath.join(self.settings.processed, name)

    def move_to_error(self, name: str, reason: str) -> str:
        target = self._move(name, self.settings.error)
        if target is None:
            return posixpath.join(self.settings.error, name)
        with self._io(f"write {target}.error.txt", self.sftp.open, f"{target}.error.txt", "wb") as fh:
            fh.write(reason.rstrip("\n").encode("utf-8") + b"\n")
        return target

    # ---------------------------------------------------------------------------------- outbox

    def upload_outbox(self, name: str, data: bytes) -> str:
        """Publish atomically (write .part, then rename). Identical bytes already there: nothing to do;
        different bytes under the same name: an error, result files are never overwritten."""
        folder = self.settings.outbox
        self._ensure_folder(folder)
        target = posixpath.join(folder, name)
        if self._exists(target):
            if self.read_outbox(name) == data:
                return target
            raise SftpError(f"{target} already exists on {self._where} with different content; not overwritten")
        part = f"{target}.part"
        with self._io(f"write {part}", self.sftp.open, part, "wb") as fh:
            fh.set_pipelined(True)
            fh.write(data)
        try:
            self._io(f"rename {part}", self.sftp.posix_rename, part, target)
        except OSError:
            self._io(f"rename {part}", self.sftp.rename, part, target)
        return target

    def list_outbox(self) -> list[RemoteFile]:
        return [f for f in self._list(self.settings.outbox) if not f.name.endswith(".part")]

    def read_outbox(self, name: str) -> bytes:
        path = posixpath.join(self.settings.outbox, name)
        with self._io(f"open {path}", self.sftp.open, path, "rb") as fh:
            fh.prefetch()
            return fh.read()
