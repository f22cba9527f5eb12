import pytest

from connectors.sftp.client import SftpClient, SftpSettings
from connectors.sftp.sandbox import SftpSandbox

PASSWORD = "pw-for-tests"


@pytest.fixture
def sandbox(tmp_path):
    with SftpSandbox(tmp_path / "root", users={"alice": PASSWORD}) as server:
        yield server


@pytest.fixture
def settings(sandbox, tmp_path) -> SftpSettings:
    return SftpSettings(host=sandbox.host, port=sandbox.port, username="alice", password=PASSWORD,
                        known_hosts_path=str(sandbox.write_known_hosts(tmp_path / "known_hosts")), timeout_s=5)


@pytest.fixture
def client(settings):
    with SftpClient(settings) as c:
        yield c
