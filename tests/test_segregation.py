"""`segregate:` on every source kind, end to end through the Dagster job: leads matching the filter (routing's
literal rules over mapped lead fields) are stored, never routed, never written back, and counted in the
intake and routing metadata and the Lead Summary; `leadsync check` refuses a filter on an unmapped field or
with an unknown operator."""

import re
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from jobs import materialization, outbox_states, read_table, run_job
from three_sources import marketo_source, write_source

from leadsync.connectors.eloqua.sandbox import EloquaSandbox
from leadsync.connectors.marketo.sandbox import MarketoSandbox
from leadsync.connectors.sftp.sandbox import SftpSandbox
from leadsync.cli import main
from leadsync.reports.leads import lead_summary
from leadsync.store import LeadStore, tables

SFTP_PASSWORD = "s3cret-for-tests"
HEADER = "Email,First Name,Last Name,Company,Country,State,Postal Code,Products of Interest,Lead Type,Campaign\n"


def set_segregate(project: Path, source: str, segregate: dict) -> None:
    path = project / f"mappings/sources/{source}.yaml"
    data = yaml.safe_load(path.read_text())
    data["segregate"] = segregate
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def held_and_routed(store_url: str, source: str):
    """(leads, per lead id its current distribution status) of one source."""
    leads = read_table(store_url, tables.leads)
    leads = leads[leads["source"] == source]
    status = read_table(store_url, tables.assignments).set_index("lead_id")["status"]
    return leads, status


def assert_never_written_back(store_url: str, held_ids: set[str]) -> None:
    outbox = outbox_states(store_url)
    assert not held_ids & set(outbox["lead_id"]), "a segregated lead reached the writeback outbox"


def decided_by_step(result, source: str) -> dict[str, int]:
    """The routing run's metadata: leads decided per step (a markdown table)."""
    table = materialization(result, f"{source}/assignments")["decided_by_step"]
    return {m[1]: int(m[2]) for m in re.finditer(r"^\|\s*([a-z_]+)\s*\|\s*(\d+)\s*\|$", table, re.MULTILINE)}


def decided_by_segregation(result, source: str) -> int:
    return decided_by_step(result, source).get("segregated", 0)


def summary_row(store_url: str, source: str) -> dict:
    store = LeadStore(store_url)
    try:
        frame = lead_summary(store)
    finally:
        store.dispose()
    return frame.set_index("source").loc[source].to_dict()


@pytest.fixture
def sftp(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"demo": SFTP_PASSWORD}) as server:
        yield server


@pytest.fixture
def sftp_project(project, sftp, monkeypatch):
    path = project / "mappings/sources/sftp_demo.yaml"
    data = yaml.safe_load(path.read_text())
    data["connection"].update(port=sftp.port, known_hosts=str(sftp.write_known_hosts(project / "known_hosts")))
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", SFTP_PASSWORD)
    return project


def test_sftp_leads_matching_the_filter_are_stored_but_never_routed_or_in_the_status_file(sftp_project, sftp,
                                                                                          store_url):
    """On both stores: the filter runs inside the embedded DuckDB, and in an in-process DuckDB for Postgres."""
    # internal-only campaign OR any Californian postal code (a range of leading characters, as routing reads it)
    set_segregate(sftp_project, "sftp_demo", {"any": [
        {"field": "campaign", "op": "in", "value": ["Employee Referral"]},
        {"field": "postal_code", "op": "prefix", "value": ["90000-96199"]}]})
    (sftp.root / "inbox").mkdir(parents=True, exist_ok=True)
    (sftp.root / "inbox" / "expo.csv").write_text(
        HEADER
        + "ann@acme.com,Ann,Lee,Acme,US,TX,73301,Firewall,SMB,employee referral \n"
        + "bob@beta.com,Bob,Ray,Beta,US,CA,94105,Endpoint,SMB,Expo\n"
        + "cid@gamma.com,Cid,Fox,Gamma,US,NY,10001,Firewall,SMB,Expo\n"
        + "dee@delta.com,Dee,Oak,Delta,US,TX,73301,Firewall,SMB,Expo\n", encoding="utf-8")

    result = run_job(sftp_project, store_url)
    assert result.success

    leads, status = held_and_routed(store_url, "sftp_demo")
    held = set(leads.loc[leads["segregated"].astype(bool), "email"])
    assert held == {"ann@acme.com", "bob@beta.com"}
    ids = dict(zip(leads["email"], leads["lead_id"], strict=True))
    assert {status[ids[e]] for e in held} == {"segregated"}
    assert {status[ids[e]] for e in ("cid@gamma.com", "dee@delta.com")} <= {"routed", "accepted", "unassigned"}
    assert_never_written_back(store_url, {ids[e] for e in held})
    written = "".join(f.read_text() for f in (sftp.root / "outbox").glob("*.csv"))
    assert "cid@gamma.com" in written and "ann@acme.com" not in written and "bob@beta.com" not in written

    assert decided_by_segregation(result, "sftp_demo") == 2
    row = summary_row(store_url, "sftp_demo")
    assert (row["leads"], row["segregated"]) == (4, 2)


@pytest.fixture
def mkto():
    with MarketoSandbox(seed_leads=60, seed=5) as sandbox:
        yield sandbox


@pytest.fixture
def mkto_project(project: Path, mkto: MarketoSandbox, monkeypatch) -> Path:
    (project / "mappings/sources/sftp_demo.yaml").unlink()
    source = marketo_source(mkto)
    source["pull"]["bulk_threshold"] = 1000
    write_source(project / "mappings", source)
    monkeypatch.setenv("MKTO_ID", mkto.client_id)
    monkeypatch.setenv("MKTO_SECRET", mkto.client_secret)
    return project


def test_marketo_leads_matching_the_filter_are_held_back_and_their_marketo_leads_untouched(mkto_project, mkto,
                                                                                         duckdb_url):
    set_segregate(mkto_project, "mkto", {"all": [{"field": "country", "op": "not_in", "value": ["us"]}]})
    result = run_job(mkto_project, duckdb_url)
    assert result.success

    leads, status = held_and_routed(duckdb_url, "mkto")
    foreign = leads["country"].fillna("").str.strip().str.upper().ne("US") & leads["country"].notna()
    assert foreign.any() and (~foreign).any()  # the seed has both, or this test proves nothing
    assert leads["segregated"].astype(bool).tolist() == foreign.tolist()
    held = leads[foreign]
    assert set(status[held["lead_id"]]) == {"segregated"}
    assert_never_written_back(duckdb_url, set(held["lead_id"]))
    for record_id in held["source_record_id"]:
        assert not mkto.leads.row(int(record_id)).get("leadsyncDistributionStatus")
    kept = leads[~foreign].iloc[0]
    assert mkto.leads.row(int(kept["source_record_id"]))["leadsyncDistributionStatus"]
    assert decided_by_segregation(result, "mkto") == len(held)
    assert summary_row(duckdb_url, "mkto")["segregated"] == len(held)


@pytest.fixture
def eloqua():
    with EloquaSandbox(seed_contacts=40, sync_delay_s=0.005) as sandbox:
        yield sandbox


@pytest.fixture
def eloqua_project(project: Path, eloqua: EloquaSandbox, monkeypatch) -> Path:
    (project / "mappings/sources/sftp_demo.yaml").unlink()
    source = {
        "name": "elq", "type": "eloqua", "contacts": ["ops@supplier.example"],
        "connection": {"login_url": eloqua.url, "site": eloqua.site, "username": eloqua.username,
                       "password_env": "ELQ_PASSWORD", "sync_poll_s": 0.01, "timeout_s": 10},
        "writeback": {"fields": {"distribution_status": "C_LeadSync_Distribution_Status1",
                                 "partner_name": "C_LeadSync_Partner1"}},
        "fields": [
            {"column": "C_EmailAddress", "field": "email", "format": "email", "required": True},
            {"column": "C_Company", "field": "company"},
            {"column": "C_Country", "field": "country"},
            {"column": "C_Title", "field": "title"},
        ],
    }
    write_source(project / "mappings", source)
    monkeypatch.setenv("ELQ_PASSWORD", eloqua.password)
    return project


def test_eloqua_contacts_matching_the_filter_are_held_back_and_their_contacts_untouched(eloqua_project, eloqua,
                                                                                      duckdb_url):
    contacts = eloqua.state.contacts.table.to_pylist()
    chosen = {c["C_EmailAddress"].lower() for c in contacts[:5]}
    set_segregate(eloqua_project, "elq", {"any": [{"field": "email", "op": "in", "value": sorted(chosen)}]})
    result = run_job(eloqua_project, duckdb_url)
    assert result.success

    leads, status = held_and_routed(duckdb_url, "elq")
    assert len(leads) == len(contacts)
    assert set(leads.loc[leads["segregated"].astype(bool), "email"]) == chosen
    held = leads[leads["email"].isin(chosen)]
    assert set(status[held["lead_id"]]) == {"segregated"}
    assert_never_written_back(duckdb_url, set(held["lead_id"]))
    for email in chosen:
        assert not eloqua.contact(email).get("C_LeadSync_Distribution_Status1")
    routed = leads[~leads["email"].isin(chosen)]
    assert any(eloqua.contact(e).get("C_LeadSync_Distribution_Status1") for e in routed["email"])
    assert decided_by_segregation(result, "elq") == 5
    assert summary_row(duckdb_url, "elq")["segregated"] == 5


def check_lines(project: Path, capsys) -> tuple[int, str]:
    code = main(["--mappings", str(project / "mappings"), "check"])
    return code, capsys.readouterr().out


def test_check_refuses_a_filter_on_an_unmapped_field(project, capsys):
    set_segregate(project, "sftp_demo", {"all": [{"field": "industry", "op": "equals", "value": "Defense"}]})
    code, out = check_lines(project, capsys)
    assert code == 1
    assert "sftp_demo.yaml" in out and "segregate: condition field 'industry' is not a mapped lead field" in out


def test_check_refuses_an_unknown_operator_naming_the_ones_it_knows(project, capsys):
    set_segregate(project, "sftp_demo", {"any": [{"field": "country", "op": "like", "value": "U%"}]})
    code, out = check_lines(project, capsys)
    assert code == 1
    assert "sftp_demo.yaml" in out and "segregate" in out and "'like'" in out
    assert "'contains_any'" in out and "'is_empty'" in out


def segregated_emails(segregate: dict, **columns: list[str]) -> list[str]:
    """The emails the intake plan holds back from a batch of raw strings (the pure map_table, no store)."""
    from leadsync.config.schema import SftpSource
    from leadsync.intake.apply import map_table

    cfg = SftpSource.model_validate({
        "name": "s", "type": "sftp", "segregate": segregate,
        "connection": {"host": "h", "username": "u", "password_env": "P", "host_key": "k"},
        "fields": [{"column": "Email", "field": "email", "format": "email"}, {"column": "Country", "field": "country"},
                   {"column": "Zip", "field": "postal_code"}, {"column": "Products", "field": "products"},
                   {"column": "Employees", "field": "employees", "type": "number"}]})
    n = len(next(iter(columns.values())))
    table = pa.table({"Email": [f"{i}@x.io" for i in range(n)], **columns})
    leads = map_table(cfg, table).leads
    return leads.loc[leads["segregated"].astype(bool), "email"].tolist()


@pytest.mark.parametrize(("rule", "values", "held"), [
    ({"field": "country", "op": "equals", "value": "us"}, [" US", "DE", "", "usa"], [0]),
    ({"field": "country", "op": "in", "value": ["US", "ca"]}, ["Ca", "DE", "", "US"], [0, 3]),
    # an empty field fails every operator but is_empty, not_in included (as routing reads it)
    ({"field": "country", "op": "not_in", "value": ["US"]}, ["US", "DE", "", "fr"], [1, 3]),
    ({"field": "country", "op": "is_empty"}, ["US", " ", "", "DE"], [1, 2]),
    ({"field": "postal_code", "op": "prefix", "value": ["94", "SW1-SW9"]}, ["94105", "sw5a", "10001", "SE10"], [0, 1]),
    ({"field": "employees", "op": "range", "value": ["100", "200"]}, ["150", "99", "200", "x"], [0, 2]),
    ({"field": "employees", "op": "equals", "value": "5"}, ["5", "5.0", "50", ""], [0, 1]),
    ({"field": "products", "op": "contains_any", "value": ["SD-WAN"]}, ["Firewall; sd-wan", "SD", "", "sd-wan"],
     [0, 3]),
])
def test_each_operator_holds_back_what_routing_would_match(rule, values, held):
    column = {"country": "Country", "postal_code": "Zip", "employees": "Employees", "products": "Products"}
    assert segregated_emails({"all": [rule]}, **{column[rule["field"]]: values}) == [f"{i}@x.io" for i in held]


def test_all_needs_every_condition_and_any_one():
    columns = {"Country": ["US", "US", "DE", "DE"], "Zip": ["94105", "10001", "94105", "10001"]}
    conditions = [{"field": "country", "op": "in", "value": ["US"]}, {"field": "postal_code", "op": "prefix", "value": ["94"]}]
    assert segregated_emails({"all": conditions}, **columns) == ["0@x.io"]
    assert segregated_emails({"any": conditions}, **columns) == ["0@x.io", "1@x.io", "2@x.io"]
