"""A test project's SFTP source pointed at a sandbox of the test's own, and lead files to drop in its inbox
(imported by name: pytest puts tests/ on sys.path)."""

from pathlib import Path

import yaml

from leadsync.connectors.sftp.sandbox import SftpSandbox

PASSWORD = "pw-for-tests"
HEADER = ("Email,First Name,Last Name,Company,Country,State,Postal Code,Products of Interest,Lead Type,Campaign,"
          "Created Date,Partner\n")
# Routed by the shipped partners.yaml to partners told by email (Northwind, Blue Peak), none auto-accepting.
EMAILED_LEADS = ("ann@acme.com,Ann,Lee,Acme,US,CA,94105,Firewall,SMB,Expo,2026-11-01,\n"
                 "bob@beta.com,Bob,Ray,Beta,US,NY,10001,Endpoint,Mid-Market,Expo,2026-11-01,\n")


def point_at(project: Path, sandbox: SftpSandbox, monkeypatch, **sftp_source) -> None:
    """sftp_demo.yaml of `project` on `sandbox` (its port and host key), with `sftp_source` keys set on top."""
    path = project / "mappings/sources/sftp_demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["connection"].update(port=sandbox.port, known_hosts=str(sandbox.write_known_hosts(project / "known_hosts")))
    data.update(sftp_source)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", PASSWORD)


def inbox(sandbox: SftpSandbox) -> Path:
    return sandbox.root / "inbox"
