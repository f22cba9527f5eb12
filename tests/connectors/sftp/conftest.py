"""Shared fixtures: a real SFTP sandbox on loopback, settings that trust it, a connected client, keys."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest
from tenacity import wait_fixed

from leadsync.connectors.sftp import client as client_module
from leadsync.connectors.sftp.client import SftpClient, SftpSettings
from leadsync.connectors.sftp.sandbox import SftpSandbox

PASSWORD = "pw-for-tests"
USER = "alice"
KEY_USER = "bot"


@dataclass
class ClientKey:
    path: Path  # private key file, mode 600 (OpenSSH refuses others)
    public_line: str


def make_key(folder: Path, name: str = "id_ed25519") -> ClientKey:
    key = asyncssh.generate_private_key("ssh-ed25519")
    path = folder / name
    key.write_private_key(str(path))
    path.chmod(0o600)
    return ClientKey(path, key.export_public_key("openssh").decode().strip())


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    """Keep the retry schedule, shorten the waits: tests count attempts, not seconds."""
    monkeypatch.setattr(client_module, "CONNECT_WAIT", wait_fixed(0.05))


@pytest.fixture
def client_key(tmp_path) -> ClientKey:
    return make_key(tmp_path)


@pytest.fixture
def sandbox(tmp_path, client_key):
    with SftpSandbox(tmp_path / "root", users={USER: PASSWORD},
                     authorized_keys={KEY_USER: [client_key.public_line]}) as server:
        yield server


@pytest.fixture
def known_hosts(sandbox, tmp_path) -> Path:
    return sandbox.write_known_hosts(tmp_path / "known_hosts")


@pytest.fixture
def settings(sandbox, known_hosts) -> SftpSettings:
    return SftpSettings(host=sandbox.host, port=sandbox.port, username=USER, password=PASSWORD,
                        known_hosts_path=str(known_hosts), timeout_s=5)


@pytest.fixture
def client(settings):
    with SftpClient(settings) as c:
        yield c


@pytest.fixture
def drop(sandbox):
    """drop(folder, name, data, mtime=None): put a file straight into the served folder, as a supplier's
    upload would. (A fixture, not a helper import: test folders here have no __init__ files.)"""
    def put(folder: str, name: str, data: bytes | str, mtime: int | None = None) -> Path:
        path = sandbox.root / folder / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path
    return put


@pytest.fixture
def new_key(tmp_path):
    """new_key(name) -> ClientKey: a fresh Ed25519 key pair on disk."""
    return lambda name="id_other": make_key(tmp_path, name)
