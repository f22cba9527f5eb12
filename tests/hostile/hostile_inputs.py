"""Helpers of the hostile-input tests (a module of its own name: `conftest` is taken by every test folder)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import paramiko
import yaml

from leadsync.connectors.sftp.sandbox import SftpSandbox

PASSWORD = "s3cret-for-hostile-tests"
HEADER = ("Email,First Name,Last Name,Company,Country,State,Postal Code,Products of Interest,Lead Type,Campaign,"
          "Created Date,Partner\n")


def lead_line(n: int, company: str = "Acme", partner: str = "Blue Peak Security") -> str:
    return f"p{n}@acme{n}.com,Pat{n},Lee,{company},US,TX,73301,Firewall,SMB,Expo,2026-11-01,{partner}\n"


def edit_source(project: Path, **changes) -> None:
    """Merge `changes` into mappings/sources/sftp_demo.yaml (one level deep for dict values)."""
    path = project / "mappings/sources/sftp_demo.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


class Uploader:
    """A real SFTP client (paramiko) writing files to the sandbox's inbox, as a supplier's tool would: whole
    files with `put`, or held open with `open` and written a piece at a time, like a slow upload."""

    def __init__(self, sandbox: SftpSandbox):
        self.sandbox = sandbox

    @contextmanager
    def session(self) -> Iterator[paramiko.SFTPClient]:
        ssh = paramiko.SSHClient()
        ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # the test's own loopback server
        ssh.connect(self.sandbox.host, port=self.sandbox.port, username="demo", password=PASSWORD,
                    look_for_keys=False, allow_agent=False)
        try:
            with ssh.open_sftp() as sftp:
                yield sftp
        finally:
            ssh.close()

    def put(self, name: str, data: bytes | str, folder: str = "inbox") -> None:
        with self.open(name, folder) as f:
            f.write(data)

    @contextmanager
    def open(self, name: str, folder: str = "inbox") -> Iterator[paramiko.SFTPFile]:
        with self.session() as sftp, sftp.open(f"{folder}/{name}", "wb") as f:
            yield f


def outbox_rows(sandbox: SftpSandbox) -> pd.DataFrame:
    files = sorted((sandbox.root / "outbox").glob("*.csv"))
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False).assign(file=f.name) for f in files],
                     ignore_index=True)
