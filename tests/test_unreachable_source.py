"""A run whose source does not answer says so: the Dagster failure names the source, says it is unreachable
(metadata `reason: source unreachable`) and, for a server on this machine, how to start the bundled sandboxes.
A refused SFTP connection fails at once; an API host that never answers is retried by the asset's policy first."""

import dagster as dg
import pytest
import requests
from leadsync.connectors.api_client import ApiConfigError, transport_errors
from leadsync.connectors.loopback_ports import free_port
from leadsync.connectors.sftp.client import SftpClient, SftpSettings

from leadsync.defs.errors import source_errors


def dead_port() -> int:
    return free_port()


def test_an_sftp_server_that_refuses_fails_the_run_saying_it_is_unreachable_and_how_to_start_the_sandbox():
    port = dead_port()
    settings = SftpSettings(host="127.0.0.1", port=port, username="demo", password="pw",
                            host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl")
    with pytest.raises(dg.Failure) as failed, source_errors("sftp_demo"), SftpClient(settings) as client:
        client.check()
    failure = failed.value
    assert failure.description.startswith(f"Source 'sftp_demo' is unreachable: connection to 127.0.0.1:{port} "
                                          "refused (user demo): no SFTP server listens there")
    assert "start them with the UI: `make ui` (`leadsync dev`)" in failure.description
    assert failure.metadata["reason"].value == "source unreachable"
    assert failure.allow_retries is False


def test_an_api_host_that_never_answers_is_retried_then_says_it_is_unreachable():
    port = dead_port()
    with pytest.raises(requests.ConnectionError) as refused:
        requests.get(f"http://127.0.0.1:{port}/services/oauth2/token", timeout=5)
    transient = transport_errors(refused.value, "Salesforce login")
    with pytest.raises(dg.Failure) as failed, source_errors("sfdc"):
        raise transient
    assert failed.value.description.startswith("Source 'sfdc' is unreachable: Salesforce login: ConnectionError")
    assert failed.value.allow_retries is True  # the asset's RetryPolicy tries again before the run fails


def test_a_remote_host_gets_no_sandbox_hint_and_other_errors_keep_their_meaning():
    with pytest.raises(dg.Failure) as failed, source_errors("mkto"):
        raise ApiConfigError("Marketo at https://123-abc-456.mktorest.com is unreachable (timed out); check base_url")
    assert "is unreachable" in failed.value.description and "leadsync dev" not in failed.value.description
    with pytest.raises(dg.Failure) as failed, source_errors("mkto"):
        raise ApiConfigError("identity: HTTP 401 bad client id; check the credentials")
    assert failed.value.description.startswith("Source 'mkto' is misconfigured: identity: HTTP 401")


@pytest.mark.parametrize("message, unreachable_", [
    ("connection to 127.0.0.1:2222 refused (user demo): no SFTP server listens there", True),
    ("cannot resolve SFTP host 'sftp.nowhere' for demo@sftp.nowhere:22 (Name or service not known)", True),
    ("connecting to 10.0.0.9:22 (user demo) timed out after 15 s; if it persists check the host", True),
    ("demo@127.0.0.1:2222 refused to open an SFTP session; retrying may help", False),
    ("authentication failed for demo@127.0.0.1:2222; check the password", False),
    ("export: ReadTimeout: HTTPSConnectionPool(host='x', port=443): Read timed out. (read timeout=10)", False),
])
def test_only_a_server_that_never_answered_counts_as_unreachable(message, unreachable_):
    from leadsync.defs.errors import unreachable

    assert unreachable(message) is unreachable_
