"""leadsync's components in a user's own Dagster project: `dg scaffold defs` writes a LeadSource for an SFTP
source, `dg check defs` passes, and the source's job runs against the SFTP sandbox.

Each `dg` command starts Python processes of its own (seconds each), so the test runs two of them; the
partners and lifecycle components are scaffolded in this process by the function `dg scaffold defs` calls
(tests/components/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import yaml
from dagster.components.core.package_entry import discover_entry_point_package_objects
from dg_project_files import dg_command, scaffold_source
from leadsync.connectors.sftp.sandbox import SftpSandbox

HEADER = "Email,First Name,Last Name,Company,Country\n"


def test_dg_finds_leadsyncs_components_through_the_entry_point():
    found = {f"{key.namespace}.{key.name}" for key in discover_entry_point_package_objects()}
    assert {"leadsync.components.LeadSource", "leadsync.components.Routing",
            "leadsync.components.PartnerLifecycle"} <= found


def test_scaffolded_sftp_source_checks_and_runs_against_the_sandbox(lead_desk: Path, sandbox: SftpSandbox,
                                                                     tmp_path: Path):
    written = yaml.safe_load(scaffold_source(lead_desk, sandbox.port).read_text())
    assert written["type"] == "leadsync.components.LeadSource"
    assert written["attributes"]["name"] == "inbox_leads"
    assert written["attributes"]["connection"]["port"] == sandbox.port
    assert written["requirements"]["env"] == ["INBOX_LEADS_SFTP_PASSWORD"]

    checked = dg_command(lead_desk, "check", "defs", "--use-active-venv")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (lead_desk / ".leadsync/sources/inbox_leads.yaml").exists()  # the mappings folder the runs read

    (sandbox.root / "inbox/fair.csv").write_text(
        HEADER + "ann@acme.com,Ann,Lee,Acme,US\nbob@beta.com,Bob,Ray,Beta,US\nnot-an-email,Cid,Fox,Gamma,US\n")
    defs = dg.load_from_defs_folder(path_within_project=lead_desk)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("inbox_leads_sync").execute_in_process(instance=instance, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    with duckdb.connect(str(tmp_path / "leads.duckdb"), read_only=True) as store:
        leads = {row[0] for row in store.execute("select email from leads").fetchall()}
        routed = dict(store.execute("select l.email, a.partner_id from leads l join assignments a "
                                    "on a.lead_id = l.lead_id").fetchall())
    assert leads == {"ann@acme.com", "bob@beta.com"}  # not-an-email is quarantined
    assert routed == {"ann@acme.com": "first_partner", "bob@beta.com": "first_partner"}
    assert [f.name for f in (sandbox.root / "processed").iterdir()] == ["fair.csv"]
    assert list((sandbox.root / "outbox").glob("*.csv"))  # the status rows written back to the source
