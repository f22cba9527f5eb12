"""Which SSH host keys a client trusts, read from an OpenSSH known_hosts file and/or one key line.

Host key checking is never optional: a lead drop carries personal data, and accepting whatever key a
server presents (paramiko's AutoAddPolicy) would hand it to anyone able to intercept the connection.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field

import paramiko
from paramiko.hostkeys import HostKeyEntry

from leadsync.connectors.sftp.errors import SftpConfigError
from leadsync.connectors.sftp.settings import SftpSettings

# The signature algorithms paramiko negotiates for a key of each type. An "ssh-rsa" key is offered by
# modern servers only under the SHA-2 algorithm names.
_ALGORITHMS_FOR_KEY_TYPE = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}


@dataclass
class TrustedHostKeys:
    keys: list[paramiko.PKey] = field(default_factory=list)
    revoked: list[paramiko.PKey] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # where the keys came from, for messages

    def accepts(self, presented: paramiko.PKey) -> bool:
        if self.is_revoked(presented):
            return False
        return any(hmac.compare_digest(presented.asbytes(), k.asbytes()) for k in self.keys)

    def is_revoked(self, presented: paramiko.PKey) -> bool:
        return any(hmac.compare_digest(presented.asbytes(), k.asbytes()) for k in self.revoked)

    def preferred_algorithms(self, available: tuple[str, ...]) -> list[str]:
        """`available` reordered so the server presents a key type we hold a key for, when it has one;
        the rest stay allowed so a server with only another key type gets a clear mismatch message."""
        first: list[str] = []
        for key in self.keys:
            for algorithm in _ALGORITHMS_FOR_KEY_TYPE.get(key.get_name(), (key.get_name(),)):
                if algorithm in available and algorithm not in first:
                    first.append(algorithm)
        return first + [a for a in available if a not in first]


def known_hosts_label(host: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: bare on port 22, "[host]:port" otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    """SHA256 fingerprint as `ssh-keygen -l` prints it, so users can compare with their admin's."""
    return f"{key.get_name()} {key.fingerprint}"


def parse_key_line(line: str) -> paramiko.PKey:
    """An OpenSSH public key line ("ssh-ed25519 AAAA... comment"); a known_hosts line works too."""
    tokens = line.split()
    for i in range(len(tokens) - 1):
        try:
            return paramiko.PKey.from_type_string(tokens[i], base64.b64decode(tokens[i + 1], validate=True))
        except (paramiko.SSHException, binascii.Error, ValueError, TypeError):
            continue
    raise ValueError("not an OpenSSH public key line")


def trusted_host_keys(settings: SftpSettings) -> TrustedHostKeys:
    """The keys this host may present. Raises SftpConfigError when host key checking is not set up."""
    s = settings
    if not s.known_hosts_path and not s.host_key:
        raise SftpConfigError(
            f"no host key configured for {s.where}: host key checking is mandatory; set known_hosts_path "
            f"to a known_hosts file holding the server's key (get it with: {s.keyscan_hint}, and check its "
            "fingerprint with the server's admin) or set host_key to the key line ('ssh-ed25519 AAAA...')")
    trusted = TrustedHostKeys()
    if s.host_key:
        try:
            trusted.keys.append(parse_key_line(s.host_key))
        except ValueError:
            raise SftpConfigError(
                f"host_key for {s.where} is not an OpenSSH public key line: expected 'TYPE BASE64' such as "
                f"'ssh-ed25519 AAAAC3Nz...'; copy it from the output of {s.keyscan_hint}") from None
        trusted.sources.append("host_key")
    if s.known_hosts_path:
        _load_known_hosts(s, trusted)
        trusted.sources.append(f"known_hosts file {s.known_hosts_path}")
    return trusted


def _load_known_hosts(s: SftpSettings, trusted: TrustedHostKeys) -> None:
    label = known_hosts_label(s.host, s.port)
    try:
        with open(s.known_hosts_path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        raise SftpConfigError(
            f"known_hosts file {s.known_hosts_path} for {s.where} does not exist; create it with "
            f"{s.keyscan_hint} > {s.known_hosts_path} (check the fingerprint with the server's "
            "admin)") from None
    except OSError as exc:
        raise SftpConfigError(f"cannot read known_hosts file {s.known_hosts_path} for {s.where}: "
                              f"{exc.strerror or exc}; check the path and its permissions") from None
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        marker = None
        if line.startswith("@"):
            marker, _, line = line.partition(" ")
            if marker not in ("@revoked",):
                continue  # @cert-authority: paramiko cannot check host certificates
        try:
            entry = HostKeyEntry.from_line(line, lineno)
        except paramiko.SSHException:
            entry = None
        if entry is None or entry.key is None or not any(_host_matches(h, label) for h in entry.hostnames):
            continue
        (trusted.revoked if marker == "@revoked" else trusted.keys).append(entry.key)


def _host_matches(pattern: str, label: str) -> bool:
    if pattern.startswith("|1|"):  # hashed entry (ssh-keygen -H)
        return hmac.compare_digest(paramiko.HostKeys.hash_host(label, pattern), pattern)
    return pattern == label
