"""A server that refuses connections is misconfigured (no SFTP server listens there) the first time; once this
machine has logged in there, a refusal is a server restarting: transient, and the run's retries try again."""

from __future__ import annotations

import dagster as dg
import pytest

from leadsync.connectors.sftp.client import SftpClient, SftpSettings
from leadsync.connectors.sftp.errors import SftpConfigError, SftpTransientError
from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.defs.errors import source_errors


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LEADSYNC_SFTP_STATE_DIR", str(tmp_path / "sftp-state"))


def test_a_refusal_after_a_login_in_this_run_is_transient_and_retried(sandbox, settings, client):
    client.list_inbox()  # connected and working, as when a download starts
    client.close()
    sandbox.stop()  # the server goes away (a restart): its port now refuses

    with pytest.raises(SftpTransientError, match=r"refused \(user alice\), though this machine logged in there "
                                                 r"at .* probably restarting"):
        SftpClient(settings).connect()
    with pytest.raises(dg.Failure) as failed, source_errors("sftp_demo"), SftpClient(settings) as again:
        again.check()
    assert failed.value.allow_retries is True  # the asset's RetryPolicy tries again


def test_a_refusal_from_a_server_never_reached_is_a_configuration_error(sandbox, settings):
    port = sandbox.port
    sandbox.stop()
    never = SftpSettings(host=settings.host, port=port, username=settings.username, password=settings.password,
                         known_hosts_path=settings.known_hosts_path, timeout_s=2)
    with pytest.raises(SftpConfigError, match="no SFTP server listens there; check the host and the port"):
        SftpClient(never).connect()


def test_a_login_elsewhere_does_not_make_another_servers_refusal_transient(tmp_path, settings, client):
    with SftpSandbox(tmp_path / "other", users={"alice": "pw"}) as other:
        other_settings = SftpSettings(host=other.host, port=other.port, username="alice", password="pw",
                                      host_key=other.host_key_line, timeout_s=2)
    with pytest.raises(SftpConfigError, match="no SFTP server listens there"):
        SftpClient(other_settings).connect()
