"""Dagster's conventions on every asset of the demo's code location, derived from the YAML: a column schema
of what each asset stores, its owners (the source's contacts; lifecycle.yaml's support contact for the
partners group), kinds (the source system or the email/CRM/report it serves, plus the store), a freshness
policy from the source's schedule that turns stale when a pull is missed, and a row count on every
materialisation."""

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.definitions.freshness_evaluator import TimeWindowFreshnessPolicyEvaluator
from dagster._core.loader import LoadingContextForTest
from dagster._core.test_utils import freeze_time
from dagster._time import get_current_datetime
from jobs import run_job
from sftp_drop import EMAILED_LEADS, HEADER, PASSWORD, inbox, point_at

from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.defs.build import build_definitions

REPO = Path(__file__).resolve().parents[1]
SOURCES = {"sftp_demo": ("sftp", "leadops@supplier.example"),
           "salesforce_demo": ("salesforce", "crm-admin@supplier.example"),
           "marketo_demo": ("marketo", "marketing-ops@supplier.example"),
           "eloqua_demo": ("eloqua", "marketing-ops@supplier.example")}
STAGES = ("raw_rows", "leads", "assignments", "reroutes", "writeback")
PARTNER_ASSETS = {"partners/deliveries": "email", "partners/leaderboard": "report",
                  "partners/crm_deliveries": "salesforce", "partners/crm_updates": "salesforce"}


@pytest.fixture
def mappings(tmp_path) -> Path:
    """A copy of the shipped mappings/, every source included (nothing connects while the location loads)."""
    return Path(shutil.copytree(REPO / "mappings", tmp_path / "mappings"))


def edit_source(mappings: Path, source: str, **changes) -> None:
    path = mappings / "sources" / f"{source}.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **changes}, sort_keys=False))


def nodes(mappings: Path) -> dict:
    graph = build_definitions(mappings).resolve_asset_graph()
    return {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}


def columns(node) -> dict[str, dg.TableColumn]:
    return {c.name: c for c in node.metadata["dagster/column_schema"].columns}


def ours(name: str) -> bool:
    return not name.startswith("reports/")  # the report assets are defined in leadsync/reports/


def test_every_asset_has_its_column_schema_owners_and_kinds(mappings):
    found = nodes(mappings)
    for source, (kind, contact) in SOURCES.items():
        for stage in STAGES:
            node = found[f"{source}/{stage}"]
            assert node.kinds == {kind, "duckdb"}, f"{source}/{stage}"
            assert node.owners == [contact], f"{source}/{stage}"
            assert isinstance(node.metadata["dagster/column_schema"], dg.TableSchema)
    for name, kind in PARTNER_ASSETS.items():
        assert found[name].kinds == {kind, "duckdb"} and found[name].owners == ["leadops@supplier.example"]
    assert all("dagster/column_schema" in node.metadata for name, node in found.items() if ours(name))


def test_the_leads_schema_is_the_sources_mapping_and_raw_rows_its_columns_as_received(mappings):
    found = nodes(mappings)
    leads = columns(found["sftp_demo/leads"])
    mapping = yaml.safe_load((mappings / "sources/sftp_demo.yaml").read_text())["fields"]
    assert {f["field"] for f in mapping} <= set(leads) and "lead_id" in leads
    assert leads["email"].constraints.nullable is False  # required: true
    assert leads["country"].type == "picklist" and leads["country"].constraints.other == ["one of: US, CA, GB, DE, FR"]
    assert leads["created_at"].type == "datetime" and "internal only" in leads["created_at"].description
    assert "from the source's column 'Job Title'" in leads["title"].description

    raw = columns(found["sftp_demo/raw_rows"])
    assert {"batch_id", "row_number", "Email", "Job Title", "Products of Interest"} <= set(raw)
    assert columns(found["salesforce_demo/raw_rows"])["Id"].description.endswith("the record's id in the source")
    assert "ContactID" in columns(found["eloqua_demo/raw_rows"])

    writeback = columns(found["salesforce_demo/writeback"])
    assert {"event_id", "lead_id", "kind", "distribution_status", "rejection_reason"} <= set(writeback)
    assert writeback["distribution_status"].description == \
        "written to the source's field LeadSync_Distribution_Status__c"
    decisions = columns(found["sftp_demo/assignments"])
    assert {"lead_id", "partner_id", "status", "step", "reason"} <= set(decisions)
    assert columns(found["partners/deliveries"])["state"].description.startswith("pending")


def test_owners_follow_the_yaml_contacts_and_a_broken_file_still_builds(mappings):
    edit_source(mappings, "marketo_demo", contacts=["ops@newco.example", "not an address", "ops@newco.example"])
    (mappings / "sources/broken.yaml").write_text("name: broken\nfields: [unclosed\n")
    found = nodes(mappings)
    assert found["marketo_demo/leads"].owners == ["ops@newco.example"]
    assert found["broken/leads"].owners == [] and found["broken/leads"].kinds == {"sftp", "duckdb"}
    assert "email" in columns(found["broken/leads"])  # the store's standard lead columns


def test_freshness_comes_from_each_sources_schedule(mappings):
    edit_source(mappings, "salesforce_demo", schedule="0 9 * * 1-5")  # weekdays at 9: Friday to Monday is 3 days
    edit_source(mappings, "marketo_demo", schedule=None)
    found = nodes(mappings)

    def fail_window(name):
        policy = found[name].freshness_policy
        return policy.fail_window.to_timedelta() if policy else None

    assert {fail_window(f"sftp_demo/{s}") for s in STAGES} == {timedelta(minutes=30 + 15)}  # the default */30
    assert fail_window("salesforce_demo/raw_rows") == timedelta(days=3, minutes=15)
    assert fail_window("marketo_demo/raw_rows") is None  # no schedule, no expectation
    assert fail_window("partners/crm_updates") == timedelta(minutes=15 + 15)


def test_a_source_that_has_not_pulled_within_its_schedule_shows_stale(mappings):
    node = nodes(mappings)["sftp_demo/raw_rows"]
    instance = dg.DagsterInstance.ephemeral()
    pulled = get_current_datetime()
    instance.report_runless_asset_event(dg.AssetMaterialization(node.key))

    def state(after: timedelta) -> FreshnessState:
        with freeze_time(pulled + after):
            return asyncio.run(TimeWindowFreshnessPolicyEvaluator().evaluate_freshness(
                LoadingContextForTest(instance), node))

    assert state(timedelta(minutes=29)) == FreshnessState.PASS
    assert state(timedelta(minutes=36)) == FreshnessState.WARN  # the */30 pull is late
    assert state(timedelta(minutes=46)) == FreshnessState.FAIL  # and missed


@pytest.fixture
def sftp(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"demo": PASSWORD}) as server:
        yield server


def test_every_materialisation_reports_its_row_count(project, sftp, monkeypatch, duckdb_url):
    point_at(project, sftp, monkeypatch)
    (inbox(sftp) / "drop.csv").write_text(HEADER + EMAILED_LEADS)
    result = run_job(project, duckdb_url)
    assert result.success
    counts = {e.asset_key.to_user_string(): e.materialization.metadata.get("dagster/row_count")
              for e in result.get_asset_materialization_events()}
    assert {f"sftp_demo/{s}" for s in STAGES} | set(PARTNER_ASSETS) <= set(counts)
    assert [name for name, count in counts.items() if ours(name) and count is None] == []
    assert counts["sftp_demo/raw_rows"].value == 2 and counts["sftp_demo/leads"].value == 2
    assert counts["partners/deliveries"].value == 2  # two leads announced by email
