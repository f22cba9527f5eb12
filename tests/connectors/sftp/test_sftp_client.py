"""The SFTP client against the real sandbox server on loopback: inbox, moves, outbox, failures."""

import dataclasses
import re
import shutil
import socket
import threading

import paramiko
import pytest
from leadsync.connectors.loopback_ports import free_port
from leadsync.connectors.sftp.client import SftpClient, SftpSettings
from leadsync.connectors.sftp.errors import (
    SftpConfigError,
    SftpError,
    SftpFileNotFoundError,
    SftpTransientError,
)
from leadsync.connectors.sftp.sandbox import SftpSandbox

STAMPED = r"_\d{8}T\d{6}Z"


# ------------------------------------------------------------------------------------------ inbox


def test_lists_lead_files_oldest_first_skipping_uploads_in_flight(sandbox, client, drop):
    names = ["b.csv", "a.XLSX", "c.csv.part", ".hidden.csv", "~$open.xlsx", "notes.pdf", "d.tsv",
             "e.csv.tmp", "f.csv.filepart", "g.TXT"]
    for i, name in enumerate(names):
        drop("inbox", name, "x", mtime=1_700_000_000 + i)
    (sandbox.root / "inbox/folder.csv").mkdir()
    drop("inbox", "same_time_b.csv", "x", mtime=1_600_000_000)
    drop("inbox", "same_time_a.csv", "xyz", mtime=1_600_000_000)

    listed = client.list_inbox()
    assert [f.name for f in listed] == ["same_time_a.csv", "same_time_b.csv", "b.csv", "a.XLSX", "d.tsv",
                                        "g.TXT"]
    assert listed[0].size == 3 and listed[0].mtime.tzinfo is not None
    assert listed[0].mtime.timestamp() == 1_600_000_000


def test_download_returns_the_exact_bytes(client, drop):
    data = bytes(range(256)) * 8192  # 2 MiB, every byte value
    drop("inbox", "big.csv", data)
    assert client.download("big.csv") == data


def test_download_of_a_vanished_file_names_it(client):
    with pytest.raises(SftpFileNotFoundError, match=r"inbox/gone\.csv is not on alice@127\.0\.0\.1:\d+"):
        client.download("gone.csv")


def test_file_names_cannot_leave_the_folder(client):
    with pytest.raises(ValueError, match="not a plain file name"):
        client.download("../outbox/x.csv")


def test_move_to_processed_never_overwrites(sandbox, client, drop):
    drop("processed", "leads.csv", "an older file of the same name")
    for content in ("first", "second"):
        drop("inbox", "leads.csv", content)
        moved = client.move_to_processed("leads.csv")
        assert re.fullmatch(rf"processed/leads{STAMPED}(_2)?\.csv", moved), moved
        assert (sandbox.root / moved).read_text() == content
    assert (sandbox.root / "processed/leads.csv").read_text() == "an older file of the same name"
    assert len(list((sandbox.root / "processed").iterdir())) == 3
    assert not list((sandbox.root / "inbox").iterdir())


def test_move_to_processed_creates_the_folder(sandbox, client, drop):
    shutil.rmtree(sandbox.root / "processed")
    drop("inbox", "a.csv", "x")
    assert client.move_to_processed("a.csv") == "processed/a.csv"
    assert (sandbox.root / "processed/a.csv").read_text() == "x"


def test_moving_a_file_that_is_already_gone_is_harmless(sandbox, client, drop):
    drop("inbox", "a.csv", "x")
    assert client.move_to_processed("a.csv") == "processed/a.csv"
    assert client.move_to_processed("a.csv") == "processed/a.csv"  # a retried step: no error, no change
    assert client.move_to_error("a.csv", "late") == "error/a.csv"
    assert sorted(p.name for p in (sandbox.root / "error").iterdir()) == []
    assert (sandbox.root / "processed/a.csv").read_text() == "x"


def test_move_to_error_writes_the_reason_next_to_the_file(sandbox, client, drop):
    drop("inbox", "bad.csv", "")
    assert client.move_to_error("bad.csv", "bad.csv: the file has no data rows\n") == "error/bad.csv"
    assert (sandbox.root / "error/bad.csv.error.txt").read_text() == "bad.csv: the file has no data rows\n"

    drop("inbox", "bad.csv", "again")
    moved = client.move_to_error("bad.csv", "Zoë's file: still broken")
    assert re.fullmatch(rf"error/bad{STAMPED}\.csv", moved)
    assert (sandbox.root / f"{moved}.error.txt").read_text(encoding="utf-8") == "Zoë's file: still broken\n"
    assert (sandbox.root / "error/bad.csv.error.txt").read_text() == "bad.csv: the file has no data rows\n"


# ------------------------------------------------------------------------------------------ outbox


def test_outbox_upload_is_atomic_and_never_overwrites(sandbox, client):
    shutil.rmtree(sandbox.root / "outbox")  # created on demand
    assert client.upload_outbox("status.csv", b"a,b\r\n1,2\r\n") == "outbox/status.csv"
    path = sandbox.root / "outbox/status.csv"
    first_write = path.stat().st_mtime_ns
    assert client.upload_outbox("status.csv", b"a,b\r\n1,2\r\n") == "outbox/status.csv"  # same bytes: no-op
    assert path.stat().st_mtime_ns == first_write
    with pytest.raises(SftpError, match=r"outbox/status\.csv already exists .* different content"):
        client.upload_outbox("status.csv", b"a,b\r\n1,3\r\n")  # same size, other bytes
    with pytest.raises(SftpError, match="never overwritten"):
        client.upload_outbox("status.csv", b"other")
    assert path.read_bytes() == b"a,b\r\n1,2\r\n"
    assert sorted(p.name for p in (sandbox.root / "outbox").iterdir()) == ["status.csv"]  # no .part left


def test_outbox_upload_of_parts_sends_them_in_order_as_one_file(sandbox, client, tmp_path):
    parts = []
    for i, text in enumerate([b"a,b\r\n", b"1,2\r\n" * 300_000, b"3,4\r\n"]):  # the middle part: 1.5 MB
        parts.append(tmp_path / f"part{i}.csv")
        parts[-1].write_bytes(text)
    whole = b"".join(p.read_bytes() for p in parts)
    taken = []

    def arriving():  # as a renderer hands them over: one at a time
        for part in parts:
            taken.append(part.name)
            yield part

    assert client.upload_outbox("status.csv", arriving()) == "outbox/status.csv"
    assert taken == ["part0.csv", "part1.csv", "part2.csv"]
    assert (sandbox.root / "outbox/status.csv").read_bytes() == whole
    assert client.upload_outbox("status.csv", iter(parts)) == "outbox/status.csv"  # a retry, same bytes: no-op
    parts[1].write_bytes(b"1,2\r\n" * 299_999 + b"9,9\r\n")  # same size, other bytes
    with pytest.raises(SftpError, match="different content"):
        client.upload_outbox("status.csv", iter(parts))
    assert (sandbox.root / "outbox/status.csv").read_bytes() == whole
    assert sorted(p.name for p in (sandbox.root / "outbox").iterdir()) == ["status.csv"]


def test_outbox_listing_skips_partial_uploads(client, drop):
    drop("outbox", "half.csv.part", "x", mtime=1_700_000_001)
    drop("outbox", "done.csv", "abc", mtime=1_700_000_000)
    assert [(f.name, f.size) for f in client.list_outbox()] == [("done.csv", 3)]
    assert client.read_outbox("done.csv") == b"abc"


def test_a_server_without_posix_rename_still_moves_and_publishes(tmp_path):
    with SftpSandbox(tmp_path / "legacy", users={"alice": "pw"}, posix_rename=False) as legacy:
        s = SftpSettings(host=legacy.host, port=legacy.port, username="alice", password="pw",
                         host_key=legacy.host_key_line)
        (legacy.root / "inbox/a.csv").write_text("new")
        (legacy.root / "processed/a.csv").write_text("old")
        with SftpClient(s) as c:
            moved = c.move_to_processed("a.csv")
            assert c.upload_outbox("s.csv", b"x") == "outbox/s.csv"
            assert c.upload_outbox("t.csv", b"y") == "outbox/t.csv"
        assert re.fullmatch(rf"processed/a{STAMPED}\.csv", moved)
        assert (legacy.root / moved).read_text() == "new"
        assert (legacy.root / "processed/a.csv").read_text() == "old"
        assert sorted(p.name for p in (legacy.root / "outbox").iterdir()) == ["s.csv", "t.csv"]


# ------------------------------------------------------------------------------------------ host keys


def test_an_unknown_host_key_is_refused_with_the_fix(sandbox, tmp_path):
    other = SftpSandbox(tmp_path / "other")  # never started: only its key is used
    known = tmp_path / "other_known_hosts"
    known.write_text(f"[127.0.0.1]:1 {other.host_key_line}\nexample.com {other.host_key_line}\n")
    s = SftpSettings(host=sandbox.host, port=sandbox.port, username="alice", password="x",
                     known_hosts_path=str(known))
    with pytest.raises(SftpConfigError) as info:
        SftpClient(s).connect()
    message = str(info.value)
    assert f"host key for 127.0.0.1:{sandbox.port} is not in known_hosts file {known}" in message
    assert "(user alice)" in message
    assert f"ssh-keyscan -p {sandbox.port} 127.0.0.1" in message and "or set host_key" in message
    assert "ssh-ed25519 SHA256:" in message  # the fingerprint to check with the admin
    assert sandbox.connection_count == 1  # not retried


def test_a_changed_host_key_is_refused(sandbox, tmp_path):
    impostor = SftpSandbox(tmp_path / "impostor")
    s = SftpSettings(host=sandbox.host, port=sandbox.port, username="alice", password="pw-for-tests",
                     host_key=impostor.host_key_line)
    mismatch = rf"host key mismatch for 127\.0\.0\.1:{sandbox.port} \(user alice\)"
    with pytest.raises(SftpConfigError, match=mismatch):
        SftpClient(s).connect()


def test_host_key_checking_cannot_be_skipped(sandbox):
    s = SftpSettings(host=sandbox.host, port=sandbox.port, username="alice", password="pw-for-tests")
    with pytest.raises(SftpConfigError, match="host key checking is mandatory; set known_hosts_path"):
        SftpClient(s).connect()
    assert sandbox.connection_count == 0


@pytest.mark.parametrize("host_key, known_hosts, message", [
    ("not a key", None, "host_key for alice@127.0.0.1:.* is not an OpenSSH public key line"),
    (None, "/nonexistent/known_hosts", "known_hosts file /nonexistent/known_hosts .* does not exist"),
])
def test_broken_host_key_settings(settings, host_key, known_hosts, message):
    s = dataclasses.replace(settings, host_key=host_key, known_hosts_path=known_hosts)
    with pytest.raises(SftpConfigError, match=message):
        SftpClient(s).connect()


def test_known_hosts_with_several_keys_and_hashed_names(sandbox, tmp_path):
    rsa = paramiko.RSAKey.generate(2048)
    known = tmp_path / "known_hosts"
    label = f"[127.0.0.1]:{sandbox.port}"
    hashed = paramiko.HostKeys.hash_host(label)
    known.write_text(f"# comment\n{label} ssh-rsa {rsa.get_base64()}\n{hashed} {sandbox.host_key_line}\n")
    s = SftpSettings(host=sandbox.host, port=sandbox.port, username="alice", password="pw-for-tests",
                     known_hosts_path=str(known))
    with SftpClient(s) as c:
        c.check()


def test_a_revoked_key_is_refused_even_when_also_trusted(sandbox, tmp_path):
    known = sandbox.write_known_hosts(tmp_path / "known_hosts")
    known.write_text(known.read_text() + f"@revoked [127.0.0.1]:{sandbox.port} {sandbox.host_key_line}\n")
    s = SftpSettings(host=sandbox.host, port=sandbox.port, username="alice", password="pw-for-tests",
                     known_hosts_path=str(known))
    with pytest.raises(SftpConfigError, match="@revoked"):
        SftpClient(s).connect()


# ------------------------------------------------------------------------------------------ logins


def test_wrong_password_is_a_config_error_and_not_retried(sandbox, settings):
    with pytest.raises(SftpConfigError, match=r"authentication failed for alice@127\.0\.0\.1:\d+ .*password"):
        SftpClient(dataclasses.replace(settings, password="nope")).connect()
    assert sandbox.connection_count == 1


def test_password_is_not_shown_in_settings_repr(settings):
    assert "pw-for-tests" not in repr(settings)


def test_key_login(sandbox, client_key):
    s = SftpSettings(host=sandbox.host, port=sandbox.port, username="bot",
                     private_key_path=str(client_key.path), host_key=sandbox.host_key_line)
    with SftpClient(s) as c:
        c.check()


def test_an_unknown_key_is_a_config_error(sandbox, new_key):
    s = SftpSettings(host=sandbox.host, port=sandbox.port, username="bot",
                     private_key_path=str(new_key().path), host_key=sandbox.host_key_line)
    with pytest.raises(SftpConfigError, match="authentication failed for bot@"):
        SftpClient(s).connect()
    assert sandbox.connection_count == 1


def test_an_unreadable_key_file_is_a_config_error(sandbox, tmp_path):
    bad = tmp_path / "id_bad"
    bad.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n-----END OPENSSH PRIVATE KEY-----\n")
    s = SftpSettings(host=sandbox.host, port=sandbox.port, username="bot", private_key_path=str(bad),
                     host_key=sandbox.host_key_line)
    with pytest.raises(SftpConfigError, match=f"cannot load private key {bad}"):
        SftpClient(s).connect()
    assert sandbox.connection_count == 1


def test_a_login_method_the_server_refuses(tmp_path, client_key):
    with SftpSandbox(tmp_path / "pw_only", users={"alice": "pw"}) as server:
        s = SftpSettings(host=server.host, port=server.port, username="alice",
                         private_key_path=str(client_key.path), host_key=server.host_key_line)
        refused = r"does not accept private key logins \(it allows: .*password"
        with pytest.raises(SftpConfigError, match=refused):
            SftpClient(s).connect()


# ------------------------------------------------------------------------------------------ network


def test_nothing_listening_is_a_config_error(sandbox, settings):
    port = free_port()  # a port that was free a moment ago
    s = dataclasses.replace(settings, port=port, known_hosts_path=None, host_key=sandbox.host_key_line)
    with pytest.raises(SftpConfigError, match=rf"connection to 127\.0\.0\.1:{port} refused \(user alice\)"):
        SftpClient(s).connect()


def test_an_unresolvable_host_is_a_config_error(settings):
    s = dataclasses.replace(settings, host="no-such-host.invalid")  # .invalid never resolves (RFC 2606)
    with pytest.raises(SftpConfigError, match="cannot resolve SFTP host 'no-such-host.invalid'"):
        SftpClient(s).connect()


def test_a_server_that_never_answers_times_out_as_transient(settings):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts TCP, never speaks SSH
        s = dataclasses.replace(settings, port=silent.getsockname()[1], timeout_s=0.3)
        with pytest.raises(SftpTransientError, match="SSH handshake with alice@127.0.0.1"):
            SftpClient(s).connect()


def test_dropped_handshakes_are_retried(sandbox, settings):
    sandbox.drop_next_connections(2)
    with SftpClient(settings) as c:
        c.check()
    assert sandbox.connection_count == 3


def test_retries_give_up_with_a_transient_error(sandbox, settings):
    sandbox.drop_next_connections(3)
    with pytest.raises(SftpTransientError):
        SftpClient(settings).connect()
    assert sandbox.connection_count == 3


def test_a_dropped_connection_mid_session_is_transient(sandbox, client, drop):
    drop("inbox", "a.csv", "x")
    assert [f.name for f in client.list_inbox()] == ["a.csv"]
    sandbox.disconnect_all()
    with pytest.raises(SftpTransientError, match="connection was lost"):
        client.download("a.csv")
    with pytest.raises(SftpTransientError, match="lost earlier; open a new SftpClient"):
        client.list_inbox()
    client.connect()  # a retry on the same object reconnects
    assert client.download("a.csv") == b"x"


def test_concurrent_clients_do_not_interfere(sandbox, settings, drop):
    for i in range(8):
        drop("inbox", f"f{i}.csv", f"{i}")
    results: dict[int, bytes] = {}

    def fetch(i: int) -> None:
        with SftpClient(settings) as c:
            results[i] = c.download(f"f{i}.csv")

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {i: str(i).encode() for i in range(8)}


def test_two_consumers_moving_the_same_files_both_finish_cleanly(sandbox, settings, drop):
    for i in range(20):
        drop("inbox", f"f{i}.csv", str(i))
    errors: list[Exception] = []

    def move_all() -> None:
        try:
            with SftpClient(settings) as c:
                for i in range(20):
                    c.move_to_processed(f"f{i}.csv")
        except Exception as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=move_all) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert sorted(p.name for p in (sandbox.root / "processed").iterdir()) == sorted(f"f{i}.csv" for i in range(20))
    assert not list((sandbox.root / "inbox").iterdir())


# ------------------------------------------------------------------------------------------ check


def test_check_passes_on_a_healthy_drop(client):
    client.check()


def test_missing_inbox_folder_fails_the_check(sandbox, client):
    shutil.rmtree(sandbox.root / "inbox")
    missing = r"inbox folder 'inbox' does not exist on alice@127\.0\.0\.1:\d+"
    with pytest.raises(SftpConfigError, match=missing):
        client.check()


def test_an_inbox_that_is_a_file_fails_the_check(sandbox, client):
    shutil.rmtree(sandbox.root / "inbox")
    (sandbox.root / "inbox").write_text("not a folder")
    with pytest.raises(SftpConfigError, match="inbox folder 'inbox' does not exist"):
        client.check()


def test_listing_a_missing_folder_is_a_config_error(sandbox, client):
    shutil.rmtree(sandbox.root / "inbox")
    with pytest.raises(SftpConfigError, match="folder 'inbox' does not exist .* fix the folder setting"):
        client.list_inbox()
