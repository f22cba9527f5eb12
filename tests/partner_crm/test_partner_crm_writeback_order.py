"""In the `partner_crm` job every source's writeback runs after `partners/crm_updates`, so a change the
partner makes in its CRM reaches the supplier's source in the same run, whatever the source is called: a
source whose name sorts before "partners" (as eloqua_demo and marketo_demo do) used to be written back before
the partners' changes were read, and got them only a run later."""

from pathlib import Path

import dagster as dg
import yaml
from jobs import read_table, run_job

from leadsync.defs.build import build_definitions
from leadsync.store import tables

EARLY = "apex_org"  # sorts before "partners"
UPDATES, WRITEBACK = "partners/crm_updates", f"{EARLY}/writeback"


def rename_source(project: Path, old: str, new: str) -> None:
    path = project / f"mappings/sources/{old}.yaml"
    data = yaml.safe_load(path.read_text())
    data["name"] = new
    (project / f"mappings/sources/{new}.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    path.unlink()


def finished(result: dg.ExecuteInProcessResult) -> list[str]:
    """The assets materialised by the run, in the order they were."""
    return [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()]


def test_every_writeback_depends_on_the_crm_updates_in_the_partner_crm_job():
    defs = build_definitions(Path(__file__).resolve().parents[2] / "mappings")
    job = defs.resolve_job_def("partner_crm")
    graph = defs.resolve_asset_graph()
    writebacks = [k for k in job.asset_layer.selected_asset_keys if k.path[-1] == "writeback"]
    assert {k.path[0] for k in writebacks} == {"sftp_demo", "salesforce_demo", "marketo_demo", "eloqua_demo"}
    for key in writebacks:
        assert dg.AssetKey(["partners", "crm_updates"]) in graph.get(key).parent_keys, key
    # reading the partners' CRMs waits for nothing: a failed delivery step must not hold back the writebacks
    assert not graph.get(dg.AssetKey(["partners", "crm_updates"])).parent_keys


def test_a_partner_crm_change_is_written_back_in_the_same_run(project, supplier_org, partner_org, store_url):
    rename_source(project, "sfdc", EARLY)
    assert run_job(project, store_url).success
    ada = read_table(store_url, tables.leads).set_index("email").loc["ada@engines.example"]
    [record] = partner_org.connect().query_all(
        f"SELECT Id FROM Lead WHERE LeadSync_Lead_Id__c = '{ada['lead_id']}'")["records"]
    assert supplier_org.get("Lead", ada["source_record_id"])["LeadSync_Sales_Status__c"] is None

    partner_org.update("Lead", record["Id"], {"Status": "Working – Contacted"})
    result = run_job(project, store_url, "partner_crm")
    assert result.success
    order = finished(result)
    assert order.index(UPDATES) < order.index(WRITEBACK), order
    # one run: the partner's change is on the supplier's lead now, not after the next run
    assert supplier_org.get("Lead", ada["source_record_id"])["LeadSync_Sales_Status__c"] == "Contacted"


def test_a_broken_source_mapping_holds_back_no_other_writeback(project, partner_org, supplier_org,
                                                                               store_url):
    rename_source(project, "sfdc", EARLY)
    assert run_job(project, store_url).success
    broken = project / "mappings/sources/broken_feed.yaml"
    broken.write_text("name: broken_feed\ntype: sftp\nuniquness: {mode: every_record}\nfields: []\n")
    ada = read_table(store_url, tables.leads).set_index("email").loc["ada@engines.example"]
    [record] = partner_org.connect().query_all(
        f"SELECT Id FROM Lead WHERE LeadSync_Lead_Id__c = '{ada['lead_id']}'")["records"]
    partner_org.update("Lead", record["Id"], {"Status": "Working – Contacted"})

    result = run_job(project, store_url, "partner_crm")
    failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "broken_feed__writeback" in failed and "partners__crm_updates" not in failed
    assert {UPDATES, WRITEBACK} <= set(finished(result))
    assert supplier_org.get("Lead", ada["source_record_id"])["LeadSync_Sales_Status__c"] == "Contacted"
