"""The sandbox is a real SSH/SFTP server: OpenSSH's client works against it, clients stay jailed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

from leadsync.connectors.sftp.client import SftpClient, SftpSettings
from leadsync.connectors.sftp.sandbox import FOLDERS, SftpSandbox
from signal_defaults import reset_stop_signals

REPO = Path(__file__).resolve().parents[3]
SFTP = "/usr/bin/sftp"


def test_known_hosts_line_uses_the_bracketed_form_for_other_ports(sandbox, tmp_path):
    line = sandbox.write_known_hosts(tmp_path / "kh").read_text()
    assert line == f"[127.0.0.1]:{sandbox.port} {sandbox.host_key_line}\n"
    assert sandbox.host_key_line.startswith("ssh-ed25519 AAAA") and len(sandbox.host_key_line.split()) == 2
    assert sorted(p.name for p in sandbox.root.iterdir()) == sorted(FOLDERS)


def test_a_kept_host_key_survives_restarts(tmp_path):
    key_file = tmp_path / "keys/host_key"
    with SftpSandbox(tmp_path / "root", users={"a": "b"}, host_key_path=key_file) as first:
        line = first.host_key_line
    assert key_file.stat().st_mode & 0o777 == 0o600
    with SftpSandbox(tmp_path / "root", users={"a": "b"}, host_key_path=key_file) as second:
        assert second.host_key_line == line


def test_clients_are_jailed_in_the_root(sandbox, tmp_path):
    (tmp_path / "secret.txt").write_text("outside the root")
    transport = paramiko.Transport((sandbox.host, sandbox.port))
    try:
        transport.connect(username="alice", password="pw-for-tests")
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sorted(sftp.listdir("/../..")) == sorted(FOLDERS)
        assert sftp.normalize("../..") == "/"
        with pytest.raises(FileNotFoundError):
            sftp.stat("../secret.txt")
    finally:
        transport.close()


def test_stop_is_quick_with_live_sessions(tmp_path):
    server = SftpSandbox(tmp_path / "root", users={"a": "b"}).start()
    s = SftpSettings(host=server.host, port=server.port, username="a", password="b",
                     host_key=server.host_key_line)
    c = SftpClient(s).__enter__()
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 2
    server.stop()  # idempotent
    c.close()


@pytest.mark.skipif(not os.path.exists(SFTP), reason=f"OpenSSH sftp client not installed at {SFTP}")
def test_openssh_sftp_client_works_against_the_sandbox(sandbox, client_key, tmp_path):
    known = sandbox.write_known_hosts(tmp_path / "known_hosts")
    (tmp_path / "upload.csv").write_text("Email\na@x.com\n")
    (tmp_path / "batch").write_text(
        f"put {tmp_path / 'upload.csv'} inbox/upload.csv.part\n"
        "rename inbox/upload.csv.part inbox/upload.csv\n"
        "ls inbox\n"
        "rename inbox/upload.csv processed/upload.csv\n"
        f"get processed/upload.csv {tmp_path / 'back.csv'}\n")
    out = subprocess.run(
        [SFTP, "-b", str(tmp_path / "batch"), "-P", str(sandbox.port), "-i", str(client_key.path),
         "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}", "-o", "BatchMode=yes",
         "-o", "IdentitiesOnly=yes", "-F", "/dev/null", "bot@127.0.0.1"],
        capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    assert "inbox/upload.csv" in out.stdout
    assert (sandbox.root / "processed/upload.csv").read_text() == "Email\na@x.com\n"
    assert (tmp_path / "back.csv").read_text() == "Email\na@x.com\n"


@pytest.mark.skipif(not os.path.exists(SFTP), reason=f"OpenSSH sftp client not installed at {SFTP}")
def test_openssh_sftp_refuses_the_sandbox_with_a_wrong_known_host(sandbox, client_key, tmp_path):
    impostor = SftpSandbox(tmp_path / "impostor")
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sandbox.port} {impostor.host_key_line}\n")
    (tmp_path / "batch").write_text("ls\n")
    out = subprocess.run(
        [SFTP, "-b", str(tmp_path / "batch"), "-P", str(sandbox.port), "-i", str(client_key.path),
         "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}", "-o", "BatchMode=yes",
         "-F", "/dev/null", "bot@127.0.0.1"],
        capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode != 0 and "HOST IDENTIFICATION HAS CHANGED" in out.stderr


def test_command_line_serves_seeded_leads_until_interrupted(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "leadsync.connectors.sftp.sandbox", "--root", str(tmp_path / "root"), "--port", "0",
         "--user", "demo", "--password", "demo", "--seed-leads", "25", "--known-hosts", str(tmp_path / "kh")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=reset_stop_signals)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line.strip())
            if line.startswith("Ctrl-C"):
                break
        printed = dict(line.split(": ", 1) for line in lines if ": " in line)
        port = int(printed["port"])
        assert printed["host"] == "127.0.0.1"
        assert printed["known_hosts line"].startswith(f"[127.0.0.1]:{port} ssh-ed25519 ")
        s = SftpSettings(host="127.0.0.1", port=port, username="demo", password="demo",
                         known_hosts_path=str(tmp_path / "kh"))
        with SftpClient(s) as c:
            [seeded] = c.list_inbox()
            assert seeded.name == "seeded_leads_7.csv"
            assert c.download(seeded.name).count(b"\n") == 26
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

