"""SFTP client for lead drops (paramiko): list and download the inbox, move files to processed/ or error/,
publish result files to the outbox.

Host keys are always checked. Connecting is retried a few times on transient errors (dropped connection,
timeout); configuration errors (credentials, host key, host, folder) are raised at once, since a retry
cannot fix them and a failing login retried in a loop can lock the account.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import posixpath
import socket
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

import paramiko
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from leadsync.connectors.sftp.errors import SftpConfigError, SftpError, SftpFileNotFoundError, SftpTransientError
from leadsync.connectors.sftp.host_keys import TrustedHostKeys, fingerprint, known_hosts_label, trusted_host_keys
from leadsync.connectors.sftp.pipelined_read import read_pipelined
from leadsync.connectors.sftp.settings import SftpSettings

__all__ = ["LEAD_FILE_SUFFIXES", "Downloaded", "RemoteFile", "SftpClient", "SftpSettings", "is_lead_file"]

log = logging.getLogger(__name__)

LEAD_FILE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")
# Producers upload under a temporary name and rename when complete; Excel leaves "~$name.xlsx" lock files
# and editors leave hidden files. None of these is a finished lead file.
IN_FLIGHT_SUFFIXES = (".part", ".tmp", ".filepart")
IGNORED_PREFIXES = (".", "~$")

# An SFTP write request carries at most 32 KiB (paramiko's limit, OpenSSH's packet size); read a MiB at a time.
UPLOAD_CHUNK = 1 << 20
# Bytes of an SFTP write request besides its data: length, type, request id, handle length, offset, data length.
WRITE_REQUEST_OVERHEAD = 4 + 1 + 4 + 4 + 8 + 4
# AES-GCM first where the server offers it (OpenSSH has by default since 6.2, asyncssh too): an AEAD cipher
# needs no separate MAC, and paramiko's HMAC over every packet was a third of an upload's client CPU. Otherwise
# paramiko's own order (AES-CTR with HMAC-SHA2 first) applies. Paramiko has no chacha20-poly1305.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
CONNECT_ATTEMPTS = 3
CONNECT_WAIT = wait_exponential(multiplier=0.5, max=4)  # 0.5 s, then 1 s: a blip, not an outage
# A server this machine logged in to this recently that now refuses connections is restarting (it dropped a
# download and is not back yet), not misconfigured: the refusal is transient. The memory is a file per
# connection (host, port, user, trusted key) in LEADSYNC_SFTP_STATE_DIR (default: the temp folder), so the
# step retries of a run, each in a process of its own, share it.
REACHED_WINDOW_S = 15 * 60.0


def _reached_marker(s: SftpSettings) -> Path:
    root = Path(os.environ.get("LEADSYNC_SFTP_STATE_DIR") or Path(tempfile.gettempdir()) / "leadsync-sftp-reached")
    identity = repr((s.host.lower(), s.port, s.username, s.host_key, s.known_hosts_path))
    return root / hashlib.sha1(identity.encode()).hexdigest()


def _remember_reached(s: SftpSettings) -> None:
    marker = _reached_marker(s)
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError as exc:  # only a refusal's wording depends on it
        log.debug("cannot note that %s was reached: %s", s.where, exc)


def _reached_at(s: SftpSettings) -> datetime | None:
    """When this machine last logged in to this server, if within REACHED_WINDOW_S."""
    try:
        stamp = _reached_marker(s).stat().st_mtime
    except OSError:
        return None
    return datetime.fromtimestamp(stamp, UTC) if time.time() - stamp <= REACHED_WINDOW_S else None


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    mtime: datetime  # UTC


@dataclass(frozen=True)
class Downloaded:
    path: Path  # the local copy
    sha256: str  # hex digest of its bytes
    size: int


class _HashingWriter:
    """A file-like sink that hashes and counts what is written through it (and drops it without a target)."""

    def __init__(self, target: BinaryIO | None = None):
        self._target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._target.write(data) if self._target is not None else len(data)


def is_lead_file(name: str) -> bool:
    """A finished lead file by its name: a lead-file extension, not an upload in flight, not hidden."""
    low = name.lower()
    return (low.endswith(LEAD_FILE_SUFFIXES) and not low.endswith(IN_FLIGHT_SUFFIXES)
            and not name.startswith(IGNORED_PREFIXES))


def _leaf(name: str) -> str:
    """A bare file name; anything that could address another folder is a caller bug."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise ValueError(f"{name!r} is not a plain file name (no folders, no '..')")
    return name


def _stamped(name: str, stamp: str) -> str:
    """leads.csv -> leads_<stamp>.csv: the timestamp goes before the extension so the type stays visible."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem}_{stamp}.{ext}" if dot and stem else f"{name}_{stamp}"


def _is_generic_failure(exc: OSError) -> bool:
    """paramiko raises a bare OSError for SFTP's catch-all FAILURE status (e.g. rename onto an existing
    file); subclasses mean something specific (missing file, permission, timeout, dropped connection)."""
    return type(exc) is OSError


class SftpClient:
    """One authenticated SFTP session: `with SftpClient(settings) as client: ...`.

    After a transient error the session is closed; connect() again (or open a new client) to retry.
    Folder paths come from the settings; file names given to methods must be bare names.
    """

    def __init__(self, settings: SftpSettings):
        self.settings = settings
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lost = False
        self._posix_rename = True  # until the server says it lacks the OpenSSH extension

    # ---------------------------------------------------------------------------------- connection

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        """Connect, check the host key, log in; retried on transient errors only."""
        if self._sftp is not None:
            return
        retrying = Retrying(retry=retry_if_exception_type(SftpTransientError),
                            stop=stop_after_attempt(CONNECT_ATTEMPTS), wait=CONNECT_WAIT,
                            before_sleep=self._log_retry, reraise=True)
        for attempt in retrying:
            with attempt:
                self._connect_once()
        self._lost = False

    def close(self) -> None:
        for part in (self._sftp, self._transport):
            try:
                if part is not None:
                    part.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass  # closing a dead connection must not hide the error that killed it
        self._sftp = self._transport = None

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("connecting to %s failed (attempt %d of %d), retrying: %s", self.settings.where,
                    state.attempt_number, CONNECT_ATTEMPTS, exc)

    def _connect_once(self) -> None:
        s = self.settings
        trusted = trusted_host_keys(s)
        transport = paramiko.Transport(self._dial())
        self._transport = transport
        try:
            transport.banner_timeout = transport.auth_timeout = transport.handshake_timeout = s.timeout_s
            options = transport.get_security_options()
            options.key_types = trusted.preferred_algorithms(tuple(options.key_types))
            options.ciphers = _preferred_first(tuple(options.ciphers), PREFERRED_CIPHERS)
            transport.start_client(timeout=s.timeout_s)
            self._verify_host_key(transport.get_remote_server_key(), trusted)
            self._authenticate(transport)
            sftp = paramiko.SFTPClient.from_transport(transport)
            if sftp is None:
                raise SftpTransientError(f"{s.where} refused to open an SFTP session; retrying may help")
            sftp.get_channel().settimeout(s.timeout_s)  # a stalled read fails instead of hanging forever
            self._sftp = sftp
            _remember_reached(s)
        except SftpError:
            self.close()
            raise
        except paramiko.IncompatiblePeer as exc:
            self.close()
            raise SftpConfigError(f"{s.address} (user {s.username}) and this client share no SSH algorithms "
                                  f"({exc}); ask the server's admin to enable modern ones") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self.close()
            raise SftpTransientError(f"SSH handshake with {s.where} failed: {exc or type(exc).__name__}; "
                                     f"check that {s.address} is an SFTP server if this persists") from exc

    def _dial(self) -> socket.socket:
        s = self.settings
        try:
            sock = socket.create_connection((s.host, s.port), timeout=s.timeout_s)
            # Downloads keep a window of small read requests going out, one as each answer comes in: with
            # Nagle's algorithm each waited for the ACK of the one before, which halved download speed.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except socket.gaierror as exc:
            raise SftpConfigError(f"cannot resolve SFTP host {s.host!r} for {s.where} ({exc.strerror}); "
                                  "check the host name and this machine's DNS") from None
        except ConnectionRefusedError:
            reached = _reached_at(s)
            if reached is not None:
                raise SftpTransientError(f"connection to {s.address} refused (user {s.username}), though this "
                                         f"machine logged in there at {reached:%H:%M:%S} UTC: the server is "
                                         "probably restarting; retrying") from None
            raise SftpConfigError(f"connection to {s.address} refused (user {s.username}): no SFTP server "
                                  "listens there; check the host and the port (SFTP is usually 22)") from None
        except TimeoutError as exc:
            raise SftpTransientError(f"connecting to {s.address} (user {s.username}) timed out after "
                                     f"{s.timeout_s:g} s; if it persists check the host, port and "
                                     "firewall") from exc
        except OSError as exc:
            if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                raise SftpConfigError(f"{s.address} is unreachable from here (user {s.username}): "
                                      f"{exc.strerror}; check the host name and the network route") from None
            raise SftpTransientError(f"cannot connect to {s.address} (user {s.username}): {exc}") from exc

    def _verify_host_key(self, presented: paramiko.PKey, trusted: TrustedHostKeys) -> None:
        if trusted.accepts(presented):
            return
        s = self.settings
        sources = " and ".join(trusted.sources)
        if trusted.is_revoked(presented):
            raise SftpConfigError(f"the host key {s.address} presented ({fingerprint(presented)}) is marked "
                                  f"@revoked in {sources}; not connecting as {s.username}")
        if not trusted.keys:
            label = known_hosts_label(s.host, s.port)
            raise SftpConfigError(
                f"host key for {s.address} is not in {sources} (user {s.username}); the server presented "
                f"{fingerprint(presented)}. Add the server's key line for {label} ({s.keyscan_hint}) after "
                "checking that fingerprint with the server's admin, or set host_key")
        held = ", ".join(fingerprint(k) for k in trusted.keys)
        raise SftpConfigError(
            f"host key mismatch for {s.address} (user {s.username}): the server presented "
            f"{fingerprint(presented)}, but {sources} trusts {held}. If the admin confirms the server's key "
            "changed, replace the old key line; otherwise the connection may be intercepted: do not connect")

    def _authenticate(self, transport: paramiko.Transport) -> None:
        s = self.settings
        key = self._private_key()
        if key is None and s.password is None:
            raise SftpConfigError(f"no password and no private key configured for {s.where}; set one")
        try:
            if key is not None:
                try:
                    transport.auth_publickey(s.username, key)
                except paramiko.AuthenticationException:
                    if s.password is None:
                        raise
            if not transport.is_authenticated() and s.password is not None:
                transport.auth_password(s.username, s.password)
        except paramiko.BadAuthenticationType as exc:
            tried = "private key" if key is not None and s.password is None else "password"
            raise SftpConfigError(f"authentication failed for {s.where}: the server does not accept "
                                  f"{tried} logins (it allows: {', '.join(exc.allowed_types)}); configure "
                                  "one of those instead") from None
        except paramiko.AuthenticationException as exc:
            raise SftpConfigError(f"authentication failed for {s.where} ({exc}); check the username and the "
                                  "password (its environment variable) or the private key") from None
        if not transport.is_authenticated():
            raise SftpConfigError(f"{s.where} asks for further authentication steps (e.g. a second factor) "
                                  "this client cannot do; ask for an account with password or key login")

    def _private_key(self) -> paramiko.PKey | None:
        s = self.settings
        if not s.private_key_path:
            return None
        try:
            return paramiko.PKey.from_path(s.private_key_path)
        except FileNotFoundError:
            raise SftpConfigError(f"private key file {s.private_key_path} for {s.where} does not exist; "
                                  "fix private_key_path") from None
        except paramiko.PasswordRequiredException:
            raise SftpConfigError(f"private key {s.private_key_path} for {s.where} is protected by a "
                                  "passphrase; use a key without one, kept in a secret store") from None
        except (paramiko.SSHException, OSError, ValueError, TypeError) as exc:  # unreadable or unknown format
            raise SftpConfigError(f"cannot load private key {s.private_key_path} for {s.where} ({exc}); it "
                                  "must be an OpenSSH or PEM private key (Ed25519, ECDSA or RSA)") from None

    # ---------------------------------------------------------------------------------- plumbing

    @property
    def _session(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            if self._lost:
                raise SftpTransientError(f"the connection to {self.settings.where} was lost earlier; "
                                         "open a new SftpClient")
            raise SftpError("not connected: use `with SftpClient(settings) as client:`")
        return self._sftp

    def _alive(self) -> bool:
        return self._transport is not None and self._transport.is_active()

    @contextmanager
    def _remote(self, action: str) -> Iterator[None]:
        """Turn what paramiko raises during one operation into our error classes. FileNotFoundError passes
        through: what a missing path means depends on the caller."""
        s = self.settings
        try:
            yield
        except (FileNotFoundError, SftpError):
            raise
        except PermissionError as exc:
            raise SftpConfigError(f"{action} on {s.where}: permission denied ({exc.strerror or exc}); give "
                                  f"user {s.username} access there or fix the folder settings") from None
        except (EOFError, paramiko.SSHException, OSError) as exc:  # OSError covers timeouts and resets
            if isinstance(exc, OSError) and _is_generic_failure(exc) and self._alive():
                raise SftpError(f"{action} on {s.where} failed: the server answered '{exc}'") from exc
            self._lost = True
            self.close()
            raise SftpTransientError(f"{action} on {s.where}: the connection was lost "
                                     f"({type(exc).__name__}: {exc}); retry with a new connection") from exc

    def _stat(self, path: str) -> paramiko.SFTPAttributes | None:
        with self._remote(f"stat {path}"):
            try:
                return self._session.stat(path)
            except FileNotFoundError:
                return None

    def _is_folder(self, path: str) -> bool:
        attrs = self._stat(path)
        return attrs is not None and attrs.st_mode is not None and stat.S_ISDIR(attrs.st_mode)

    def _ensure_folder(self, folder: str) -> None:
        attrs = self._stat(folder)
        if attrs is not None:
            if attrs.st_mode is not None and not stat.S_ISDIR(attrs.st_mode):
                raise SftpConfigError(f"{folder} on {self.settings.where} is a file, not a folder; remove it "
                                      "or point the folder setting elsewhere")
            return
        parent = posixpath.dirname(folder.rstrip("/"))
        if parent not in ("", "/", "."):
            self._ensure_folder(parent)
        with self._remote(f"create folder {folder}"):
            try:
                self._session.mkdir(folder)
            except OSError:
                if not self._is_folder(folder):  # else another client created it meanwhile
                    raise

    def _list(self, folder: str) -> list[RemoteFile]:
        with self._remote(f"list folder {folder}"):
            try:
                entries = self._session.listdir_attr(folder)
            except FileNotFoundError:
                raise SftpConfigError(f"folder {folder!r} does not exist on {self.settings.where}; create it "
                                      "on the server or fix the folder setting") from None
        files = [RemoteFile(e.filename, e.st_size or 0, datetime.fromtimestamp(e.st_mtime or 0, UTC))
                 for e in entries if e.st_mode is not None and stat.S_ISREG(e.st_mode)]
        return sorted(files, key=lambda f: (f.mtime, f.name))

    def _read(self, path: str) -> bytes:
        buf = io.BytesIO()
        self._read_into(path, buf)
        return buf.getvalue()

    def _read_into(self, path: str, target: BinaryIO) -> int:
        """Stream a remote file into `target`, chunks written in order as they arrive (not paramiko's getfo:
        its prefetch can fall back to one request per round trip mid-file; see pipelined_read)."""
        with self._remote(f"download {path}"):
            try:
                return read_pipelined(self._session, path, target)
            except FileNotFoundError:
                raise SftpFileNotFoundError(f"{path} is not on {self.settings.where} (moved or deleted since "
                                            "it was listed?); list the folder again") from None

    def _write(self, path: str, data: bytes | Path | Iterable[Path]) -> list[Path] | None:
        """Write `data` to `path`; parts (local files, in order) are appended as they come and returned as a
        list, read once each."""
        with self._remote(f"upload {path}"):
            # confirm=True compares the size on the server, so a short write is an error, not a bad file.
            if isinstance(data, Path):
                with data.open("rb") as local:
                    self._session.putfo(local, path, file_size=data.stat().st_size, confirm=True)
                return None
            if isinstance(data, bytes):
                self._session.putfo(io.BytesIO(data), path, file_size=len(data), confirm=True)
                return None
            parts, size = [], 0
            # Unbuffered: each write() below is one SFTP write request, sized to fill one SSH packet.
            with self._session.open(path, "wb", bufsize=0) as remote:
                remote.set_pipelined(True)  # writes go out back to back; the server's answers are read at close
                request = self._write_request_size(remote)
                for part in data:
                    parts.append(part)
                    with part.open("rb") as local:
                        while chunk := local.read(UPLOAD_CHUNK):
                            view = memoryview(chunk)
                            for at in range(0, len(view), request):
                                remote.write(view[at:at + request])
                            size += len(chunk)
            written = self._session.stat(path).st_size
            if written != size:
                raise SftpTransientError(f"{path} on {self.settings.where} holds {written} bytes after an upload of "
                                         f"{size}: a short write; upload again")
            return parts

    def _write_request_size(self, remote: paramiko.SFTPFile) -> int:
        """The most data an SFTP write request can carry and still fit one SSH packet of the channel. 32 KiB
        requests (paramiko's size) overflow the 32 KiB packets OpenSSH and asyncssh accept: each went out as a
        full packet and a sliver, twice the packets to build, encrypt and send for the same bytes."""
        # paramiko's channel sends at most out_max_packet_size - 64 bytes a packet (Channel._wait_for_send_window)
        room = self._session.get_channel().out_max_packet_size - 64 - WRITE_REQUEST_OVERHEAD - len(remote.handle)
        return max(1024, min(paramiko.SFTPFile.MAX_REQUEST_SIZE, room))

    def _rename(self, source: str, target: str) -> bool:
        """Rename source to a target checked to be free. False when the server refused because the target
        exists after all (someone took the name meanwhile): the caller picks another name."""
        sftp = self._session
        with self._remote(f"move {source} to {target}"):
            if self._posix_rename:
                try:
                    sftp.posix_rename(source, target)  # one atomic rename(2) on OpenSSH-like servers
                    return True
                except OSError as exc:
                    if not (_is_generic_failure(exc) and self._alive()):
                        raise
                    # The server lacks the OpenSSH extension (or refused): fall back to standard rename.
                    self._posix_rename = "unsupported" not in str(exc).lower()
            try:
                sftp.rename(source, target)  # SFTP v3: refuses an existing target, so it never overwrites
                return True
            except OSError as exc:
                if _is_generic_failure(exc) and self._alive() and self._stat(target) is not None:
                    return False
                raise

    # ---------------------------------------------------------------------------------- inbox

    def check(self) -> None:
        """Connection check: logged in (done on enter) and the inbox folder exists and can be listed."""
        inbox = self.settings.inbox
        if not self._is_folder(inbox):
            raise SftpConfigError(f"inbox folder {inbox!r} does not exist on {self.settings.where}; create "
                                  "it on the server or fix the inbox folder setting")
        self._list(inbox)

    def list_inbox(self) -> list[RemoteFile]:
        """Lead files waiting in the inbox, oldest first; uploads in flight and hidden files are skipped."""
        return [f for f in self._list(self.settings.inbox) if is_lead_file(f.name)]

    def inbox_names(self) -> set[str]:
        """Every regular file's name in the inbox (lead files, uploads in flight, done-markers)."""
        return {f.name for f in self._list(self.settings.inbox)}

    def inbox_file(self, name: str) -> RemoteFile | None:
        """An inbox file's size and modification time now, or None when it is gone."""
        attrs = self._stat(posixpath.join(self.settings.inbox, _leaf(name)))
        if attrs is None:
            return None
        return RemoteFile(name, attrs.st_size or 0, datetime.fromtimestamp(attrs.st_mtime or 0, UTC))

    def remove_from_inbox(self, name: str) -> None:
        """Delete an inbox file (a done-marker whose lead file was handled); already gone is fine."""
        self._remove_quietly(posixpath.join(self.settings.inbox, _leaf(name)))

    def download(self, name: str) -> bytes:
        return self._read(posixpath.join(self.settings.inbox, _leaf(name)))

    def download_to(self, name: str, target: Path) -> Downloaded:
        """Download an inbox file to a local file, hashing the bytes as they stream: however large the
        file, it never sits in memory. A failed download leaves `target` incomplete; discard it."""
        with target.open("wb") as local:
            sink = _HashingWriter(local)
            self._read_into(posixpath.join(self.settings.inbox, _leaf(name)), sink)
        return Downloaded(target, sink.digest.hexdigest(), sink.size)

    def move_to_processed(self, name: str) -> str:
        """Move an inbox file to processed/ without overwriting; returns its final path."""
        return self._move_out(name, self.settings.processed, reason=None)

    def move_to_error(self, name: str, reason: str) -> str:
        """Move an inbox file to error/ with `<final name>.error.txt` holding the reason; returns its path."""
        return self._move_out(name, self.settings.error, reason=reason)

    def _move_out(self, name: str, folder: str, reason: str | None) -> str:
        source = posixpath.join(self.settings.inbox, _leaf(name))
        if self._stat(source) is None:
            # A previous attempt moved it (or the run died after the move): nothing left to do. The path
            # returned is where an un-renamed file would be; a timestamped name cannot be known any more.
            log.info("%s is no longer in the inbox on %s; assuming an earlier attempt moved it",
                     source, self.settings.where)
            return posixpath.join(folder, name)
        self._ensure_folder(folder)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        candidates = [name, _stamped(name, stamp)] + [_stamped(name, f"{stamp}_{i}") for i in range(2, 100)]
        for candidate in candidates:
            target = posixpath.join(folder, candidate)
            if self._stat(target) is not None:
                continue
            if reason is not None:
                # The reason goes first: if the connection drops after the move, a retry finds the inbox
                # file gone and would otherwise leave the file in error/ with no explanation.
                self._write(f"{target}.error.txt", reason.rstrip("\n").encode("utf-8") + b"\n")
            try:
                moved = self._rename(source, target)
            except FileNotFoundError:
                if reason is not None:
                    self._remove_quietly(f"{target}.error.txt")
                if self._stat(source) is None:  # another consumer moved it meanwhile: as if already gone
                    return posixpath.join(folder, name)
                raise SftpError(f"moving {source} to {target} on {self.settings.where} failed: the server "
                                f"reports a missing path; check that the folder {folder} exists") from None
            if moved:
                return target
            if reason is not None:  # the name was taken meanwhile: try the next one
                self._remove_quietly(f"{target}.error.txt")
        raise SftpError(f"cannot find a free name for {name} in {folder} on {self.settings.where}; clean "
                        "up that folder")

    def _remove_quietly(self, path: str) -> None:
        with self._remote(f"remove {path}"):
            try:
                self._session.remove(path)
            except OSError:
                if not self._alive():
                    raise
                # best effort otherwise: at worst a stale reason file or .part file is left behind

    # ---------------------------------------------------------------------------------- outbox

    def upload_outbox(self, name: str, data: bytes | Path | Iterable[Path]) -> str:
        """Publish a result file atomically: write `<name>.part`, then rename it to `<name>`, so a reader
        never sees half a file. Identical bytes already there: nothing to do (a retried upload). Different
        bytes under that name: SftpError, because result files are never overwritten. `data` may be a local
        file, streamed (a status file of a million rows never sits in memory), or the file's parts as local
        files in order, each sent as soon as it comes (while the caller writes the next)."""
        folder = self.settings.outbox
        target = posixpath.join(folder, _leaf(name))
        self._ensure_folder(folder)
        if not isinstance(data, bytes | Path) and self._stat(target) is not None:
            data = list(data)  # a retried upload: compared whole with what is there
        if self._same_as_existing(target, data):
            return target
        part = f"{target}.part"
        data = self._write(part, data) or data
        try:
            renamed = self._rename(part, target)
        except FileNotFoundError:
            raise SftpError(f"{part} vanished on {self.settings.where} before it could be renamed; another "
                            "process is cleaning the outbox folder: upload again") from None
        if renamed:
            return target
        self._same_as_existing(target, data)  # lost a race for the name: fine only with the same bytes
        self._remove_quietly(part)
        return target

    def _same_as_existing(self, target: str, data: bytes | Path | list[Path]) -> bool:
        """False when target does not exist, True when it holds exactly `data`, SftpError otherwise."""
        attrs = self._stat(target)
        if attrs is None:
            return False
        size = sum(p.stat().st_size for p in _files(data)) if not isinstance(data, bytes) else len(data)
        if attrs.st_size == size and self._digest(target) == _local_digest(data):
            return True
        raise SftpError(f"{target} already exists on {self.settings.where} with different content "
                        f"({attrs.st_size} bytes there, {size} to upload); result files are never "
                        "overwritten: upload under a new name or have the old file removed")

    def _digest(self, path: str) -> str:
        """SHA-256 of a remote file, read in chunks."""
        sink = _HashingWriter()
        with self._remote(f"download {path}"):
            read_pipelined(self._session, path, sink)
        return sink.digest.hexdigest()

    def list_outbox(self) -> list[RemoteFile]:
        files = self._list(self.settings.outbox)
        return [f for f in files if not f.name.lower().endswith(IN_FLIGHT_SUFFIXES)]

    def read_outbox(self, name: str) -> bytes:
        return self._read(posixpath.join(self.settings.outbox, _leaf(name)))


def _preferred_first(offered: tuple[str, ...], preferred: tuple[str, ...]) -> tuple[str, ...]:
    """`offered` (paramiko's algorithms, in its order of preference) with those of `preferred` it has first."""
    return tuple(p for p in preferred if p in offered) + tuple(o for o in offered if o not in preferred)


def _files(data: Path | list[Path]) -> list[Path]:
    return [data] if isinstance(data, Path) else data


def _local_digest(data: bytes | Path | list[Path]) -> str:
    if isinstance(data, bytes):
        return hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    for path in _files(data):
        with path.open("rb") as local:
            while chunk := local.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()
