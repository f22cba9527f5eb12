"""The SFTP client against the real sandbox server on loopback."""

import dataclasses
import os
import shutil
import subprocess
import time

import pytest

from connectors.sftp.client import SftpClient, SftpSettings
from connectors.sftp.errors import SftpConfigError, SftpError, SftpTransientError
from connectors.sftp.sandbox import SftpSandbox


def test_lists_lead_files_oldest_first_ignoring_uploads_in_flight(sandbox, client):
    inbox = sandbox.root / "inbox"
    for i, name in enumerate(["b.csv", "a.XLSX", "c.csv.part", ".hidden.csv", "notes.pdf", "d.tsv"]):
        (inbox / name).write_text("x")
        os.utime(inbox / name, (1_700_000_000 + i, 1_700_000_000 + i))
    assert [f.name for f in client.list_inbox()] == ["b.csv", "a.XLSX", "d.tsv"]


def test_download_and_move_to_processed_never_overwrites(sandbox, client):
    (sandbox.root / "inbox/leads.csv").write_bytes(b"Email\na@x.com\n")
    (sandbox.root / "processed/leads.csv").write_bytes(b"an older file of the same name")
    assert client.download("leads.csv") == b"Email\na@x.com\n"
    moved = client.move_to_processed("leads.csv")
    assert moved.startswith("processed/leads.") and moved.endswith(".csv") and moved != "processed/leads.csv"
    assert (sandbox.root / "processed/leads.csv").read_bytes() == b"an older file of the same name"
    assert not (sandbox.root / "inbox/leads.csv").exists()
    assert client.move_to_processed("leads.csv") == "processed/leads.csv"  # already gone: no error


def test_move_to_error_writes_the_reason_next_to_the_file(sandbox, client):
    (sandbox.root / "inbox/bad.csv").write_bytes(b"")
    assert client.move_to_error("bad.csv", "bad.csv: the file is empty") == "error/bad.csv"
    assert (sandbox.root / "error/bad.csv.error.txt").read_text() == "bad.csv: the file is empty\n"


def test_outbox_upload_is_atomic_and_never_overwrites_a_different_file(sandbox, client):
    assert client.upload_outbox("status.csv", b"a,b\n1,2\n") == "outbox/status.csv"
    assert client.upload_outbox("status.csv", b"a,b\n1,2\n") == "outbox/status.csv"  # same bytes: no-op
    with pytest.raises(SftpError, match="different content"):
        client.upload_outbox("status.csv", b"other")
    assert [f.name for f in client.list_outbox()] == ["status.csv"]
    assert client.read_outbox("status.csv") == b"a,b\n1,2\n"


def test_unknown_host_key_is_refused_with_how_to_fix(sandbox, tmp_path):
    other = tmp_path / "other_known_hosts"
    other.write_text("[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmL5jHNz0sRz1vxH7wEwX4dHnHZ0Tq9xtqwf1v3g4bR\n")
    s = SftpSettings(host=sandbox.host, port=sandbox.port, username="alice", password="x", known_hosts_path=str(other))
    with pytest.raises(SftpConfigError, match=r"not in known_hosts file .*ssh-keyscan -p"):
        SftpClient(s).__enter__()


def test_a_changed_host_key_is_refused(sandbox, tmp_path):
    impostor = SftpSandbox(tmp_path / "impostor", users={"alice": "pw-for-tests"})
    s = SftpSettings(host=sandbox.host, port=sandbox.port, username="alice", password="pw-for-tests",
                     host_key=impostor.host_key_line)
    with pytest.raises(SftpConfigError, match="host key mismatch"):
        SftpClient(s).__enter__()


def test_host_key_checking_cannot_be_skipped(sandbox):
    s = SftpSettings(host=sandbox.host, port=sandbox.port, username="alice", password="pw-for-tests")
    with pytest.raises(SftpConfigError, match="host keys are always checked"):
        SftpClient(s).__enter__()


def test_wrong_password_is_a_config_error_and_not_retried(settings):
    started = time.perf_counter()
    with pytest.raises(SftpConfigError, match=r"authentication failed for alice@127\.0\.0\.1"):
        SftpClient(dataclasses.replace(settings, password="nope")).__enter__()
    assert time.perf_counter() - started < 5


def test_nothing_listening_is_a_config_error(sandbox, settings):
    s = dataclasses.replace(settings, port=1, known_hosts_path=None, host_key=sandbox.host_key_line)
    with pytest.raises(SftpConfigError, match="refused: no SFTP server listens there"):
        SftpClient(s).__enter__()


def test_missing_inbox_folder_fails_the_check(sandbox, settings):
    shutil.rmtree(sandbox.root / "inbox")
    with SftpClient(settings) as c, pytest.raises(SftpConfigError, match="inbox folder 'inbox' does not exist"):
        c.check()


def test_a_dropped_connection_is_transient(sandbox, client):
    (sandbox.root / "inbox/a.csv").write_text("x")
    sandbox.disconnect_all()
    time.sleep(0.2)
    with pytest.raises(SftpTransientError):
        client.download("a.csv")


def test_key_auth(tmp_path):
    import asyncssh

    private = asyncssh.generate_private_key("ssh-ed25519")
    private.write_private_key(str(tmp_path / "id_ed25519"))
    public = private.export_public_key("openssh").decode()
    with SftpSandbox(tmp_path / "root", authorized_keys={"bot": [public]}) as server:
        s = SftpSettings(host=server.host, port=server.port, username="bot",
                         private_key_path=str(tmp_path / "id_ed25519"), host_key=server.host_key_line)
        with SftpClient(s) as c:
            c.check()


@pytest.mark.skipif(shutil.which("sftp") is None, reason="OpenSSH sftp client not installed")
def test_openssh_sftp_client_works_against_the_sandbox(tmp_path):
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(tmp_path / "id"))
    (tmp_path / "id").chmod(0o600)
    (tmp_path / "upload.csv").write_text("Email\na@x.com\n")
    with SftpSandbox(tmp_path / "root", authorized_keys={"bot": [key.export_public_key().decode()]}) as server:
        known = server.write_known_hosts(tmp_path / "known_hosts")
        (tmp_path / "batch").write_text(f"put {tmp_path / 'upload.csv'} inbox/upload.csv\n"
                                        "rename inbox/upload.csv processed/upload.csv\nls processed\n")
        out = subprocess.run(
            ["sftp", "-b", str(tmp_path / "batch"), "-P", str(server.port), "-i", str(tmp_path / "id"),
             "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}", "-o", "BatchMode=yes",
             "-o", "IdentitiesOnly=yes", "bot@127.0.0.1"],
            capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert (server.root / "processed/upload.csv").read_text() == "Email\na@x.com\n"
