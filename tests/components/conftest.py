"""A fresh dg project with leadsync's partners and lifecycle components, and the SFTP sandbox its source
reads (tests/components/dg_project_files.py writes the project)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster.components.component_scaffolding import scaffold_object
from dg_project_files import forget_module, write_project
from leadsync.connectors.sftp.sandbox import SftpSandbox

PASSWORD = "dg-project-sftp-password"


@pytest.fixture
def sandbox(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"leads": PASSWORD}) as server:
        yield server


@pytest.fixture
def lead_desk(tmp_path, sandbox, mail_sandbox, monkeypatch) -> Path:
    """A dg project with the partners and lifecycle components; partner emails go to the test's SMTP server."""
    root = tmp_path / "lead_desk"
    defs = write_project(root, "lead_desk")
    sandbox.write_known_hosts(root / "known_hosts")  # the scaffold's known_hosts: relative to the project root
    for name, component in (("partners", "Routing"), ("lifecycle", "PartnerLifecycle")):
        scaffold_object(defs / name, f"leadsync.components.{component}", None, "yaml", root)
    lifecycle = defs / "lifecycle/defs.yaml"
    lifecycle.write_text(lifecycle.read_text().replace("host: smtp.example.com", "host: 127.0.0.1")
                         .replace("port: 587", f"port: {mail_sandbox.port}")
                         .replace("security: starttls", "security: plain"))
    for variable, value in (("INBOX_LEADS_SFTP_PASSWORD", PASSWORD), ("LEADSYNC_LIFECYCLE_SECRET", "link-secret"),
                            ("LEADSYNC_STORE_URL", f"duckdb:///{tmp_path / 'leads.duckdb'}")):
        monkeypatch.setenv(variable, value)
    monkeypatch.syspath_prepend(str(root))
    forget_module("lead_desk")
    yield root
    forget_module("lead_desk")
