"""The wheel as a user gets it: `python -m build --wheel` over a copy of the sources, installed into a fresh venv
(no system site-packages, nothing of this checkout on its path), then `leadsync init` and `leadsync demo` in an
empty folder. The venv borrows the wheel's dependencies from this test session's environment (a .pth naming its
site-packages, whose own .pth files, this checkout's editable finder among them, are not run) instead of
downloading them again: minutes of pip per suite run for what `pip check` proves as well, that the installed
wheel's declared requirements are met. The wheel holds one top-level module, `leadsync`, and everything a run reads: templates,
locales and the starter project (mappings/, .env, dagster_home/'s instance files).

That demo is the suite's one full demo (a minute of two cores): the shipped project, every source on its sandbox,
Maple working its leads in its own CRM org. Its summary must name all four sources with leads pulled and outcomes
written back, and each vendor sandbox, read back from the data it saved, must hold those write-backs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from test_demo import CRM_PARTNER, SOURCES, figures, free_ports, routed_per_partner

from leadsync.starter_project import starter_files

REPO = Path(__file__).resolve().parents[1]
SOURCE_TREES = ("leadsync", "connectors", "mappings")
SOURCE_FILES = ("setup.py", "pyproject.toml", "README.md")


def run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy holding only what a source distribution would: no __pycache__, no build/ left in the
    checkout, no runtime state of dagster_home/."""
    src = tmp_path_factory.mktemp("src")
    for tree in SOURCE_TREES:
        shutil.copytree(REPO / tree, src / tree, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in SOURCE_FILES:
        shutil.copy(REPO / name, src / name)
    for relative in starter_files(REPO):
        (src / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / relative, src / relative)
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--wheel", "--outdir", dist, src, cwd=src)
    (built,) = dist.glob("leadsync-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin/ folder. The venv gets no pip of its own (ensurepip
    takes seconds): this session's pip installs into it and checks it through `--python`, which runs pip under
    the venv's interpreter, so it sees, and installs into, exactly what `<venv>/bin/pip` would."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False, system_site_packages=False, clear=True).create(env_dir)
    python = env_dir / "bin/python"
    site_packages = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=env_dir)
                         .stdout.strip())
    (site_packages / "leadsync_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = (sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check")
    run(*pip, "install", "--quiet", "--no-compile", "--no-deps", "--force-reinstall", wheel, cwd=env_dir)
    checked = subprocess.run([str(c) for c in (*pip, "check")], check=False, cwd=env_dir, capture_output=True,
                             text=True)
    unmet = [line for line in checked.stdout.splitlines() if line.lower().startswith("leadsync ")]
    assert not unmet, unmet  # the wheel's declared requirements are all met
    found = run(python, "-c", "import leadsync; print(leadsync.__file__)", cwd=env_dir).stdout.strip()
    assert found.startswith(str(site_packages)), found  # the wheel's leadsync, not this checkout's
    return env_dir / "bin"


def user_env(bin_dir: Path) -> dict[str, str]:
    """The environment of a user of the installed wheel: nothing of this test session (no LEADSYNC_*, DAGSTER_*,
    PYTHONPATH), the venv first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LEADSYNC_", "DAGSTER_", "PYTHON", "VIRTUAL_ENV", "PYTEST"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", COLUMNS="160")
    return env


def test_the_wheel_installs_leadsync_alone_with_its_data(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        assert zf.read(f"{info}/top_level.txt").decode().split() == ["leadsync"]
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    assert {n.split("/")[0] for n in names} == {"leadsync", info}
    assert "leadsync = leadsync.cli:main" in entry_points
    assert "[leadsync.partner_crm_kinds]" in entry_points  # partners.yaml finds the Salesforce CRM kind
    expected = ["leadsync/connectors/sftp/sandbox.py", "leadsync/connectors/salesforce/sandbox/__init__.py",
                "leadsync/portal/locales/de/LC_MESSAGES/messages.po", "leadsync/portal/templates/portal/base.html",
                "leadsync/lifecycle/templates/email/new_lead.html", "leadsync/console/templates/console/base.html",
                *(f"leadsync/starter/{f.as_posix()}" for f in starter_files(REPO))]
    missing = [n for n in expected if n not in names]
    assert not missing, missing
    assert "leadsync/starter/mappings/sources/sftp_demo.yaml" in names and "leadsync/starter/.env" in names


def starter_with_free_ports(project: Path) -> None:
    """The written project's sandbox ports moved to free ones, so the demo meets no other server on this
    machine (another demo, another test)."""
    fixed = {"mappings/sources/sftp_demo.yaml": ["port: 2222"], "mappings/sources/salesforce_demo.yaml": [":8443"],
             "mappings/sources/marketo_demo.yaml": [":8444"], "mappings/sources/eloqua_demo.yaml": [":8445"],
             "mappings/partners.yaml": [":8446"], "mappings/lifecycle.yaml": ["port: 8025", "port: 8040"]}
    ports = iter(free_ports(sum(map(len, fixed.values()))))
    for file, olds in fixed.items():
        path = project / file
        text = path.read_text()
        for old in olds:
            assert old in text, f"{file} no longer holds {old!r}: update this test"
            text = text.replace(old, old.replace(old.split(":")[-1].strip(), str(next(ports))))
        path.write_text(text)


# A guard against a hung demo, not a speed check: the demo takes about a minute idle, and passed 300 s on this
# 2-core machine at a load average of 15.
DEMO_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def demo(installed, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`leadsync init` then `leadsync demo` in an empty folder, the sandboxes on free ports: (the folder, the demo)."""
    project = tmp_path_factory.mktemp("project")
    env = user_env(installed)
    run(installed / "leadsync", "init", cwd=project, env=env)
    starter_with_free_ports(project)
    done = subprocess.run([installed / "leadsync", "demo", "--leads", "120", "--seed", "3"], check=False, cwd=project,
                          env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S)
    return project, done


def test_init_writes_the_starter_project_and_keeps_what_is_there(installed, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    env = user_env(installed)
    lost = subprocess.run([installed / "leadsync", "check"], check=False, cwd=project, env=env, capture_output=True,
                          text=True)
    assert lost.returncode != 0 and "no mappings/ folder in" in lost.stderr and "leadsync init" in lost.stderr

    done = run(installed / "leadsync", "init", cwd=project, env=env)
    written = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert written == sorted(str(f) for f in starter_files(REPO)), done.stdout
    assert "next: leadsync demo" in done.stdout

    again = subprocess.run([installed / "leadsync", "init"], check=False, cwd=project, env=env, capture_output=True, text=True)
    assert again.returncode == 2
    assert "exist in" in again.stderr and "mappings/partners.yaml" in again.stderr and "--force" in again.stderr
    (project / "mappings/partners.yaml").write_text("partners: []\n")
    run(installed / "leadsync", "init", "--force", cwd=project, env=env)
    assert "id: maple" in (project / "mappings/partners.yaml").read_text()


def test_init_then_demo_in_an_empty_folder(installed, demo):
    project, done = demo
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    assert f"DAGSTER_HOME={project / 'dagster_home'}" in out, out[:2000]
    tables = figures(out)
    for source in SOURCES:
        assert tables.get(source, {}).get("pulled", 0) > 0, (source, out[-4000:])
    assert (project / "dagster_home" / "leadsync.duckdb").exists()
    assert not list(installed.parent.glob("lib/python3*/site-packages/dagster_home"))  # nothing written beside the code


def test_the_demo_runs_every_source_and_prints_a_table_per_source(demo):
    _, done = demo
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    # quiet: Dagster's own event lines stay in the instance
    assert "STEP_START" not in out and "DEBUG" not in out and "STEP_START" not in done.stderr
    for stage in ("pull", "map + validate", "route", "deliver", "write back"):
        assert re.search(rf"^\s*{re.escape(stage)}\s", out, re.MULTILINE), f"no progress line for {stage}:\n{out}"
    tables = figures(out)
    assert set(SOURCES) <= set(tables), out
    for source in SOURCES:
        row = tables[source]
        assert row["pulled"] > 0, (source, row)
        assert row["written back"] > 0, (source, row)
    # the SFTP drop has bad rows and a file without an Email column
    assert tables["sftp_demo"]["quarantined"] > 0
    # where the outcomes went, in the source's words
    assert re.search(r"Salesforce: [\d,]+ Lead records updated", out), out
    assert re.search(r"Marketo: [\d,]+ lead records updated", out), out
    assert re.search(r"Eloqua: [\d,]+ contact records updated", out), out
    assert re.search(r"SFTP: [\d,]+ status rows in files under outbox/", out), out
    # the partner's CRM got leads (maple auto-accepts Canadian leads and works them in its own org)
    assert sum(t.get("delivered into partner crm", 0) for t in tables.values()) > 0, out


def test_vendor_leads_are_routed_on_lead_type_products_and_iso_countries(demo):
    """The vendor orgs carry lead type and product interest custom fields and ISO countries, so their leads
    meet every rule group: enterprise accounts (Summit), territory and products (Northwind, Cascade, Blue Peak)
    and country only (Maple, Albion, Rhein), and most are routed."""
    _, done = demo
    assert done.returncode == 0, done.stdout[-3000:]
    tables, routed = figures(done.stdout), routed_per_partner(done.stdout)
    for source in ("salesforce_demo", "marketo_demo", "eloqua_demo"):
        partners = routed[source]
        assert partners.get("Summit Enterprise Partners", 0) > 0, (source, partners)
        assert sum(partners.get(p, 0) for p in ("Northwind Networks", "Cascade Secure", "Blue Peak Security")) > 0, (
            source, partners)
        assert partners.get("Maple Systems", 0) > 0 and partners.get("Rhein Digital", 0) > 0, (source, partners)
        assert tables[source]["unassigned"] < tables[source]["pulled"] / 2, (source, tables[source])


def test_each_vendor_sandbox_holds_the_write_backs(demo):
    """Read each sandbox's saved state back (the demo has stopped them): the outcomes are on the records."""
    root, done = demo
    assert done.returncode == 0, done.stdout[-3000:]
    state = root / "dagster_home" / "sandboxes"
    from leadsync.connectors.eloqua.sandbox import EloquaSandbox
    from leadsync.connectors.marketo.sandbox import MarketoSandbox
    from leadsync.connectors.salesforce.sandbox import SalesforceSandbox

    statuses = {"routed", "unassigned", "needs_review", "accepted", "rejected"}
    org = SalesforceSandbox(data_dir=state / "salesforce_demo")
    leads = org.store.table("Lead")
    written = [v for v in leads.column("LeadSync_Distribution_Status__c") if v]
    assert written and set(written) <= statuses, set(written)
    assert any(leads.column("LeadSync_Partner__c"))

    mkto = MarketoSandbox(data_dir=state / "marketo_demo")
    try:
        rows = mkto.db.rows("SELECT leadsyncDistributionStatus AS s FROM leads WHERE leadsyncDistributionStatus "
                            "IS NOT NULL")
        assert rows and {r["s"] for r in rows} <= {"Routed", "Not Routed", "Needs Review", "Accepted", "Rejected"}
    finally:
        mkto.db.close()

    eloqua = EloquaSandbox(data_dir=state / "eloqua_demo")
    contacts = eloqua.state.contacts.table.to_pylist()
    written = [c["C_LeadSync_Distribution_Status1"] for c in contacts if c["C_LeadSync_Distribution_Status1"]]
    assert written, "no Eloqua contact carries a distribution status"

    sftp_outbox = state / "sftp_demo" / "root" / "outbox"
    assert any(sftp_outbox.iterdir()), "no status file in the SFTP outbox"

    crm = SalesforceSandbox(data_dir=state / f"partner_crm_{CRM_PARTNER}")
    assert crm.count("Lead") > 0, "maple's CRM got no leads"
    # the partner worked some in its CRM; the sales status came back to the source it came from
    assert any(s == "Working - Contacted" for s in crm.store.table("Lead").column("Status"))
    sales = [v for v in leads.column("LeadSync_Sales_Status__c") if v]
    mkto_sales = MarketoSandbox(data_dir=state / "marketo_demo")
    try:
        sales += [r["s"] for r in mkto_sales.db.rows(
            "SELECT leadsyncSalesStatus AS s FROM leads WHERE leadsyncSalesStatus IS NOT NULL")]
    finally:
        mkto_sales.db.close()
    sales += [c["C_LeadSync_Sales_Status1"] for c in contacts if c["C_LeadSync_Sales_Status1"]]
    assert "Contacted" in sales, "the partner's CRM changes were not written back to any source"
