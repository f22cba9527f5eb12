"""Downloads keep their read requests pipelined to the end of the file, whatever the timing.

paramiko's getfo() prefetch took "no request outstanding" for "file done" when its reader caught up with its
sending thread, then re-read the rest of the file one synchronous request at a time while the rest was also
being prefetched (a 271 MB download: 50 s instead of 3 s, in about one run of ten). The tests below slow the
sending of read requests so the reader always catches up, and check what was asked of the server: every range
once, never more than IN_FLIGHT requests out. That is what failed; the time it cost is not asserted.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time

import paramiko
import pytest
from paramiko.sftp import CMD_READ

from leadsync.connectors.sftp import sandbox as sandbox_module
from leadsync.connectors.sftp.client import SftpClient, SftpSettings
from leadsync.connectors.sftp.pipelined_read import IN_FLIGHT, READ_REQUEST
from leadsync.connectors.sftp.sandbox import SftpSandbox

CHUNK = READ_REQUEST


@pytest.fixture
def read_requests(monkeypatch):
    """Records each READ request sent (offset, length, requests outstanding before it) and sends them late:
    a pause before each one after the first few lets every answer so far arrive and be read first."""
    sent: list[tuple[int, int, int]] = []
    original = paramiko.SFTPClient._async_request

    def spying(self, fileobj, kind, *args):
        if kind == CMD_READ:
            _handle, offset, length = args
            sent.append((int(offset), int(length), len(self._expecting)))
            if len(sent) > 4:
                time.sleep(0.002)
        return original(self, fileobj, kind, *args)

    monkeypatch.setattr(paramiko.SFTPClient, "_async_request", spying)
    return sent


def _asked_once(sent: list[tuple[int, int, int]], size: int) -> None:
    """Every byte of the file requested exactly once (plus the request that finds the end)."""
    within = sorted((offset, length) for offset, length, _ in sent if offset < size)
    covered = 0
    for offset, length in within:
        assert offset == covered, f"range at {offset} requested again or out of line (covered to {covered})"
        covered = offset + length
    assert covered >= size
    assert len(sent) - len(within) == 1  # one request finds the end, not one per chunk


def test_a_slow_sender_does_not_make_the_download_read_twice(client, drop, read_requests, tmp_path):
    data = os.urandom(300 * CHUNK + 123)  # ~9.4 MB: far more requests than are ever in flight
    drop("inbox", "big.csv", data)
    got = client.download_to("big.csv", tmp_path / "big.csv")
    assert (got.size, got.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (tmp_path / "big.csv").read_bytes() == data
    _asked_once(read_requests, len(data))
    assert max(out for _, _, out in read_requests) < IN_FLIGHT  # bounded: memory and the server's queue


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, IN_FLIGHT * CHUNK + 5])
def test_download_sizes_around_request_boundaries(client, drop, read_requests, size):
    data = os.urandom(size)
    drop("inbox", "f.csv", data)
    assert client.download("f.csv") == data
    _asked_once(read_requests, size)


def test_bytes_appended_after_open_are_read_too(client, drop, read_requests, monkeypatch):
    """getfo() read to the end of the file, not to the size it had at open; so does the pipeline."""
    first, appended = os.urandom(5 * CHUNK), os.urandom(2 * CHUNK + 9)
    path = drop("inbox", "growing.csv", first)
    spying = paramiko.SFTPClient._async_request

    def appending(self, fileobj, kind, *args):
        if kind == CMD_READ and len(read_requests) == 2:  # after the open and its stat, mid-download
            with path.open("ab") as f:
                f.write(appended)
        return spying(self, fileobj, kind, *args)

    monkeypatch.setattr(paramiko.SFTPClient, "_async_request", appending)
    assert client.download("growing.csv") == first + appended


def test_short_reads_are_completed(tmp_path, monkeypatch, read_requests):
    """A server may answer a read with fewer bytes than asked (not only at the end): the rest is asked for."""
    class ShortReads(sandbox_module._SandboxSFTPServer):
        def read(self, file_obj, offset, size):
            return super().read(file_obj, offset, min(size, 10_000))

    monkeypatch.setattr(sandbox_module, "_SandboxSFTPServer", ShortReads)
    data = os.urandom(7 * CHUNK + 77)
    with SftpSandbox(tmp_path / "root", users={"alice": "pw"}) as server:
        (server.root / "inbox" / "s.csv").write_bytes(data)
        settings = _settings(server, tmp_path)
        with SftpClient(settings) as client:
            assert client.download("s.csv") == data
            assert client._digest("inbox/s.csv") == hashlib.sha256(data).hexdigest()


def _settings(server: SftpSandbox, tmp_path) -> SftpSettings:
    return SftpSettings(host=server.host, port=server.port, username="alice", password="pw",
                        known_hosts_path=str(server.write_known_hosts(tmp_path / "kh")), timeout_s=5)


def test_requests_go_out_without_waiting_for_acks(client):
    """Nagle's algorithm held each small read request until the previous one was ACKed: downloads at half
    speed against OpenSSH. The connection must send them at once."""
    sock = client._transport.sock
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
