"""An upload's client work: AES-GCM where the server offers it (no HMAC per packet), else the usual CTR + HMAC;
and SFTP write requests sized so that each fills one SSH packet instead of a full one and a sliver."""

import paramiko
import pytest

from leadsync.connectors.sftp.client import SftpClient, SftpSettings
from leadsync.connectors.sftp.sandbox import SftpSandbox

PASSWORD = "pw-for-tests"
USER = "alice"


@pytest.fixture
def sent_packets(monkeypatch):
    """SSH packets the client sends, by message type (paramiko's Packetizer)."""
    sent: list[int] = []
    real = paramiko.packet.Packetizer.send_message

    def counting(self, data):
        sent.append(data.asbytes()[0])
        return real(self, data)

    monkeypatch.setattr(paramiko.packet.Packetizer, "send_message", counting)
    return sent


def parts_of(tmp_path, sizes: list[int]) -> list:
    parts = []
    for i, size in enumerate(sizes):
        parts.append(tmp_path / f"part{i}.csv")
        parts[-1].write_bytes(bytes((i * 7 + j) % 251 for j in range(251)) * (size // 251) + b"x" * (size % 251))
    return parts


def test_an_upload_goes_out_in_one_packet_a_write_request(sandbox, client, tmp_path, sent_packets):
    parts = parts_of(tmp_path, [3_000_001, 1_500_000])
    size = sum(p.stat().st_size for p in parts)
    sent_packets.clear()
    assert client.upload_outbox("status.csv", iter(parts)) == "outbox/status.csv"
    assert (sandbox.root / "outbox/status.csv").read_bytes() == b"".join(p.read_bytes() for p in parts)
    data = sent_packets.count(paramiko.common.MSG_CHANNEL_DATA)
    # the sandbox's channel takes 32 KiB packets: with 32 KiB requests each went out as two packets (the request
    # and its header overflow one), so the data packets were at least twice size / 32 KiB
    assert data <= size / 32_000 + 20, data
    assert data >= size / 32_768, data


def test_the_client_prefers_aes_gcm_where_the_server_offers_it(client):
    assert client._transport.remote_cipher == "aes128-gcm@openssh.com"
    assert client._transport.local_cipher == "aes128-gcm@openssh.com"


def test_a_server_without_aes_gcm_is_reached_with_ctr_and_a_mac(tmp_path, known_hosts_for):
    with SftpSandbox(tmp_path / "root", users={USER: PASSWORD}, ciphers=["aes256-ctr", "aes128-ctr"]) as server:
        settings = SftpSettings(host=server.host, port=server.port, username=USER, password=PASSWORD,
                                known_hosts_path=str(known_hosts_for(server)), timeout_s=5)
        parts = parts_of(tmp_path, [100_000, 70_001])
        with SftpClient(settings) as client:
            assert client._transport.local_cipher == "aes128-ctr"
            assert client._transport.local_mac.startswith("hmac-sha2")
            client.upload_outbox("status.csv", iter(parts))
        assert (server.root / "outbox/status.csv").read_bytes() == b"".join(p.read_bytes() for p in parts)


@pytest.fixture
def known_hosts_for(tmp_path):
    return lambda server: server.write_known_hosts(tmp_path / "known_hosts_other")
