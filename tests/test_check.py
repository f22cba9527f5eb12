"""`leadsync check`: every YAML file and the references between them, and with --connect each source's
credentials and mapped fields, on real servers on loopback (the SFTP, Eloqua and SMTP sandboxes). One line
per problem naming the file and the key path; exit 1 on any error, warnings only with --strict; --connect
says what it tried on each connection that works. Partners nobody would tell of their leads are warned about;
auto-accept without a CRM is refused unless partners.yaml says why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from leadsync.connectors.eloqua.sandbox import EloquaSandbox
from leadsync.connectors.loopback_ports import free_port
from leadsync.connectors.sftp.sandbox import SftpSandbox

from leadsync.checks import connection_problems, project_check_results, source_check_results
from leadsync.checks.connect import source_connection
from leadsync.cli import main
from leadsync.config.loader import project_paths
from leadsync.defs.check_results import asset_check_result

SFTP_PASSWORD = "s3cret-for-tests"
SFTP_FILE = "mappings/sources/sftp_demo.yaml"
ELOQUA_FILE = "mappings/sources/eloqua_demo.yaml"
PARTNERS_FILE = "mappings/partners.yaml"
LIFECYCLE_FILE = "mappings/lifecycle.yaml"
REPO = Path(__file__).resolve().parents[1]
CONNECTED = "connections that work (what was tried):"


@pytest.fixture
def sftp(tmp_path):
    with SftpSandbox(tmp_path / "sftp", users={"demo": SFTP_PASSWORD}) as server:
        yield server


@pytest.fixture
def eloqua():
    with EloquaSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def project(project: Path, sftp: SftpSandbox, eloqua: EloquaSandbox, monkeypatch) -> Path:
    """The repo's mappings with the SFTP source pointed at the sandbox, plus an Eloqua source mapping every
    field the routing rules use."""
    edit(project, SFTP_FILE, lambda d: d["connection"].update(
        port=sftp.port, known_hosts=str(sftp.write_known_hosts(project / "known_hosts"))))
    (project / ELOQUA_FILE).write_text(yaml.safe_dump({
        "name": "eloqua_demo", "type": "eloqua",
        "connection": {"login_url": eloqua.url, "site": eloqua.site, "username": eloqua.username,
                       "password_env": "LEADSYNC_ELOQUA_DEMO_PASSWORD", "timeout_s": 5},
        "fields": [
            {"column": "C_EmailAddress", "field": "email", "format": "email", "required": True},
            {"column": "C_Company", "field": "company"},
            {"column": "C_Country", "field": "country"},
            {"column": "C_State_Prov", "field": "state"},
            {"column": "C_Company_Size1", "field": "lead_type"},
            {"column": "C_Industry1", "field": "products"},
            {"column": "C_Title", "field": "title"},
        ],
    }, sort_keys=False))
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", SFTP_PASSWORD)
    monkeypatch.setenv("LEADSYNC_ELOQUA_DEMO_PASSWORD", eloqua.password)
    monkeypatch.setenv("DAGSTER_HOME", str(project / "dagster_home"))
    return project


def edit(project: Path, file: str, change) -> None:
    path = project / file
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def check(project: Path, capsys, *options: str) -> tuple[int, list[str], str]:
    """Exit code, the problem lines and the summary line of `leadsync check` (--connect's lines saying what
    worked are left out: see `connected`)."""
    code, lines, summary, _ = check_all(project, capsys, *options)
    return code, lines, summary


def check_all(project: Path, capsys, *options: str) -> tuple[int, list[str], str, list[str]]:
    """Exit code, problem lines, summary, and the connections that work (--connect)."""
    code = main(["--mappings", str(project / "mappings"), "check", *options])
    *lines, summary = capsys.readouterr().out.strip().splitlines()
    if CONNECTED in lines:
        at = lines.index(CONNECTED)
        return code, lines[:at], summary, [line.strip() for line in lines[at + 1:]]
    return code, lines, summary, []


def test_a_clean_project_passes(project, capsys):
    code, lines, summary = check(project, capsys)
    assert (code, lines) == (0, [])
    assert summary == "all 4 files valid"  # two sources, partners.yaml, lifecycle.yaml


def test_a_clean_project_connects_to_every_source_and_the_smtp_server_and_says_what_it_tried(
        project, capsys, sftp, eloqua, mail_sandbox):
    (sftp.root / "inbox").mkdir(exist_ok=True)
    (sftp.root / "inbox" / "leads.csv").write_text("Email\na@b.example\n")
    code, lines, summary, connected = check_all(project, capsys, "--connect")
    assert (code, lines, summary) == (0, [], "all 4 files valid; 3 of 3 connections work")
    assert connected == [
        (f"eloqua_demo ({ELOQUA_FILE}): logged in to {eloqua.url}; Eloqua contact has all 7 mapped fields "
        "(9 fields read with the record id and modified date); nothing pulled"),
        (f"sftp_demo ({SFTP_FILE}): logged in to 127.0.0.1:{sftp.port} as demo (password; host key matches "
        "known_hosts); inbox folder 'inbox' exists and lists (1 lead file waiting); nothing moved"),
        (f"smtp ({LIFECYCLE_FILE}): SMTP server 127.0.0.1:{mail_sandbox.port} reached (plain, no login (open "
        "relay)); nothing sent"),
    ]
    # without --connect nothing is tried, so nothing is claimed
    assert check_all(project, capsys)[3] == []


def test_the_connection_asset_check_says_what_it_tried_not_configuration_valid(project):
    from leadsync.defs.build import build_definitions

    paths = project_paths(project / "mappings")
    found = source_connection(paths, "sftp_demo")
    result = asset_check_result(found.problems, passed_description=found.done)
    assert result.passed and result.description.startswith("logged in to 127.0.0.1:")
    graph = build_definitions(project / "mappings").resolve_asset_graph()
    specs = {(key.asset_key.to_user_string(), key.name): graph.get_check_spec(key).description
             for key in graph.asset_check_keys}
    described = specs[("sftp_demo/raw_rows", "connection_ok")]
    assert "configuration valid" not in described and "log in to sftp_demo" in described
    assert "has someone to notify" in specs[("partners/deliveries", "configuration_valid")]


def typo_in_a_key(project):
    path = project / SFTP_FILE
    path.write_text(path.read_text().replace("quarantine_warn_ratio:", "quarantine_warn_ration:"))


def wrong_type(project):
    edit(project, SFTP_FILE, lambda d: d["connection"].update(timeout_s="fifteen seconds"))


def unknown_upload_partner(project):
    edit(project, SFTP_FILE, lambda d: d.update(upload_partner="northwnd"))


def rule_on_a_field_no_source_maps(project):
    edit(project, PARTNERS_FILE, lambda d: d["routing"]["rule_groups"][0]["rules"].append(
        {"field": "industry", "op": "equals", "value": "Retail"}))


def lifecycle_rules_for_an_unknown_partner(project):
    edit(project, LIFECYCLE_FILE, lambda d: d["auto_registration"]["partner_rules"].update(
        {"ghost": [{"name": "all", "rules": [{"field": "country", "op": "equals", "value": "US"}]}]}))


@pytest.mark.parametrize("break_it, line", [
    (typo_in_a_key, f"{SFTP_FILE}: quarantine_warn_ration: unknown key. Allowed keys here: "),
    (wrong_type, f"{SFTP_FILE}: connection.timeout_s: Input should be a valid number"),
    (unknown_upload_partner, f"{SFTP_FILE}: upload_partner: 'northwnd' is not a partner id in {PARTNERS_FILE}"),
    (rule_on_a_field_no_source_maps,
     (f"{PARTNERS_FILE}: routing.rule_groups[0] (enterprise accounts).rules[2] (industry).field: 'industry' is "
      "not a lead field: no source maps a column to it")),
    (lifecycle_rules_for_an_unknown_partner,
     f"{LIFECYCLE_FILE}: auto_registration.partner_rules.ghost: not a partner id"),
], ids=["typo in a key", "wrong type", "unknown upload partner", "rule on a field no source maps",
        "lifecycle names an unknown partner"])
def test_each_problem_is_one_line_naming_the_file_and_key_path(project, capsys, break_it, line):
    break_it(project)
    code, lines, summary = check(project, capsys)
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith(line), lines
    assert summary == "1 problem in 1 file"


def test_the_typo_hint_names_the_intended_key(project, capsys):
    typo_in_a_key(project)
    _, lines, _ = check(project, capsys)
    assert lines[0].endswith("did you mean 'quarantine_warn_ratio'?")


def test_problems_in_several_files_are_all_listed_sorted_by_file(project, capsys):
    lifecycle_rules_for_an_unknown_partner(project)
    rule_on_a_field_no_source_maps(project)
    wrong_type(project)
    typo_in_a_key(project)
    code, lines, summary = check(project, capsys)
    assert code == 1
    assert [line.split(":")[0] for line in lines] == [LIFECYCLE_FILE, PARTNERS_FILE, SFTP_FILE, SFTP_FILE]
    assert summary == "4 problems in 3 files"
    # Connecting adds nothing: a source whose YAML is broken is not tried, and its problems are not repeated.
    assert check(project, capsys, "--connect") == (code, lines, summary + "; 2 of 3 connections work")


def test_a_rule_field_some_sources_lack_is_a_warning_naming_them(project, capsys):
    edit(project, ELOQUA_FILE, lambda d: d.update(fields=[f for f in d["fields"] if f["field"] != "products"]))
    code, lines, summary = check(project, capsys)
    assert code == 0
    assert lines == [(
        f"{PARTNERS_FILE}: routing.rule_groups[1] (territory and products).rules[2] (products).field: warning: "
        "source eloqua_demo maps no column to lead field 'products' (mapped by sftp_demo): their leads never "
        "match this rule; map 'products' there, or make the rule optional: true")]
    assert summary == "1 problem in 1 file (0 errors, 1 warning)"


def test_connect_reports_a_wrong_sftp_password_and_a_field_eloqua_lacks_one_line_each(project, capsys, monkeypatch):
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", "wrong")
    edit(project, ELOQUA_FILE, lambda d: d["fields"][-1].update(column="C_Job_Title"))
    code, lines, summary = check(project, capsys, "--connect")
    assert code == 1
    assert len(lines) == 2, lines
    eloqua_line, sftp_line = lines
    assert eloqua_line.startswith(f"{ELOQUA_FILE}: fields[6] (title): Eloqua contact has no field 'C_Job_Title'")
    assert "Fix 'column' in the mapping" in eloqua_line
    assert sftp_line.startswith(f"{SFTP_FILE}: connection.password_env: authentication failed for ")
    assert summary == "2 problems in 2 files; 1 of 3 connections work"


def test_a_source_that_cannot_be_reached_does_not_hide_another_sources_problem(project, capsys, eloqua):
    eloqua.stop()  # the Eloqua server is gone; the SFTP source's unknown inbox must still be reported
    edit(project, SFTP_FILE, lambda d: d["connection"]["folders"].update(inbox="incoming"))
    code, lines, _ = check(project, capsys, "--connect")
    assert code == 1
    files = [line.split(":")[0] for line in lines]
    assert files == [ELOQUA_FILE, SFTP_FILE], lines
    assert lines[1].startswith(f"{SFTP_FILE}: connection.folders.inbox: inbox folder 'incoming' does not exist")


def test_connect_reports_an_smtp_server_that_is_not_there(project, capsys):
    port = free_port()  # a port nothing listens on
    edit(project, LIFECYCLE_FILE, lambda d: d["smtp"].update(port=port))
    code, lines, _ = check(project, capsys, "--connect")
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith(f"{LIFECYCLE_FILE}: smtp: cannot reach SMTP server"), lines


def test_an_unset_secret_is_a_warning_and_an_error_when_connecting(project, capsys, monkeypatch):
    monkeypatch.delenv("LEADSYNC_ELOQUA_DEMO_PASSWORD")
    code, lines, _ = check(project, capsys)
    assert code == 0 and len(lines) == 1
    assert lines[0].startswith(f"{ELOQUA_FILE}: connection.password_env: warning: environment variable "
                               "LEADSYNC_ELOQUA_DEMO_PASSWORD is not set")
    code, lines, _ = check(project, capsys, "--connect")
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith(f"{ELOQUA_FILE}: connection.password_env: environment variable "
                               "LEADSYNC_ELOQUA_DEMO_PASSWORD is not set")


def test_one_source_is_checked_alone(project, capsys, monkeypatch):
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", "wrong")
    rule_on_a_field_no_source_maps(project)
    code, lines, summary = check(project, capsys, "--connect", "--source", "eloqua_demo")
    assert (code, lines, summary) == (0, [], "the 1 file checked is valid; 1 of 1 connections work")
    code, lines, _ = check(project, capsys, "--connect", "--source", "sftp_demo")
    assert code == 1 and [line.split(":")[:2] for line in lines] == [[SFTP_FILE, " connection.password_env"]]


def test_the_dagster_checks_see_each_sources_problems_and_the_projects_apart(project, monkeypatch):
    paths = project_paths(project / "mappings")
    unknown_upload_partner(project)
    rule_on_a_field_no_source_maps(project)
    monkeypatch.setenv("LEADSYNC_SFTP_DEMO_PASSWORD", "wrong")

    assert [p.key for p in source_check_results(paths, "sftp_demo")] == ["upload_partner"]
    assert source_check_results(paths, "eloqua_demo") == []
    assert [p.file for p in project_check_results(paths)] == [PARTNERS_FILE]
    assert connection_problems(paths, "eloqua_demo") == []
    [wrong_password] = connection_problems(paths, "sftp_demo")
    assert (wrong_password.severity, wrong_password.file) == ("error", SFTP_FILE)

    failed = asset_check_result(source_check_results(paths, "sftp_demo"))
    assert not failed.passed and failed.severity.value == "ERROR"
    assert failed.metadata["errors"].value == 1
    assert asset_check_result([]).passed


def test_the_shipped_mappings_on_a_fresh_clone_print_no_warning(tmp_path):
    """As a new user runs it: the repository's mappings/ and .env, no sandbox started yet (its known_hosts is
    written when it starts), none of leadsync's variables in the environment, --strict."""
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    shutil.copy(REPO / ".env", tmp_path / ".env")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADSYNC_", "DAGSTER_"))}
    done = subprocess.run([sys.executable, "-m", "leadsync.cli", "check", "--strict"], check=False, cwd=tmp_path, env={
        **env, "LEADSYNC_MAPPINGS_DIR": str(tmp_path / "mappings")}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" not in done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("all ") and done.stdout.strip().endswith("files valid")


def partner(project: Path, partner_id: str, change) -> None:
    edit(project, PARTNERS_FILE, lambda d: change(next(p for p in d["partners"] if p["id"] == partner_id)))


def test_a_partner_nobody_would_tell_is_a_warning_and_fails_only_with_strict(project, capsys):
    partner(project, "albion", lambda p: (p.pop("users"), p.pop("reps")))
    code, lines, summary = check(project, capsys)
    assert code == 0
    assert lines == [(f"{PARTNERS_FILE}: partners[4] (Albion IT).users: warning: Albion IT can receive leads but nobody "
                     "would be told of them (it has no users and no reps): its leads would wait unseen. Add users "
                     "(the first, or those marked default: true, are emailed) or reps, or set active: false")]
    assert summary == "1 problem in 1 file (0 errors, 1 warning)"
    code, lines, summary = check(project, capsys, "--strict")
    assert code == 1 and len(lines) == 1
    assert summary.endswith("(--strict: warnings fail the check)")


def test_users_all_marked_not_default_and_no_reps_tell_nobody(project, capsys):
    partner(project, "rhein", lambda p: [u.update(default=False) for u in p["users"]])
    _, lines, _ = check(project, capsys)
    assert len(lines) == 1 and "(every user is marked default: false)" in lines[0]


def test_an_inactive_or_auto_accept_partner_needs_no_one_to_notify(project, capsys):
    partner(project, "albion", lambda p: (p.pop("users"), p.pop("reps"), p.update(active=False)))
    partner(project, "maple", lambda p: p.pop("users"))  # auto-accept with its reason: no emails are sent
    assert check(project, capsys) == (0, [], "all 4 files valid")


def test_auto_accept_without_a_crm_is_refused_unless_the_yaml_says_why(project, capsys):
    partner(project, "maple", lambda p: p.pop("auto_accept_without_crm"))
    code, lines, summary = check(project, capsys)
    assert code == 1 and summary == "1 problem in 1 file"
    assert lines == [(f"{PARTNERS_FILE}: partners[3] (Maple Systems).auto_accept: Maple Systems auto-accepts but has "
                     "no CRM connection: its leads would be accepted with no email and created nowhere, so nobody at "
                     "the partner hears of them. Give it a `crm` block, or set auto_accept: false and list users to "
                     "notify, or say why with auto_accept_without_crm: <reason>")]


def test_a_reason_that_has_no_effect_is_a_warning_and_an_empty_one_an_error(project, capsys):
    partner(project, "cascade", lambda p: p.update(auto_accept_without_crm="they asked for it"))
    code, lines, _ = check(project, capsys)
    assert code == 0 and len(lines) == 1
    assert lines[0].startswith(f"{PARTNERS_FILE}: partners[1] (Cascade Secure).auto_accept_without_crm: warning: "
                               "Cascade Secure does not auto-accept, so this reason has no effect")
    partner(project, "cascade", lambda p: p.update(auto_accept_without_crm="  "))
    code, lines, _ = check(project, capsys)
    assert code == 1 and lines == [(f"{PARTNERS_FILE}: partners[1] (Cascade Secure).auto_accept_without_crm: say why "
                                   "the partner auto-accepts without a CRM (a sentence), or remove the key")]


def test_the_project_check_in_dagster_shows_warnings_with_warn_severity_and_refusals_as_errors(project):
    paths = project_paths(project / "mappings")
    assert asset_check_result(project_check_results(paths)).passed

    partner(project, "albion", lambda p: (p.pop("users"), p.pop("reps")))
    warned = asset_check_result(project_check_results(paths))
    assert not warned.passed and warned.severity.value == "WARN"
    assert (warned.metadata["errors"].value, warned.metadata["warnings"].value) == (0, 1)
    assert warned.description.startswith("1 warning, no errors: mappings/partners.yaml: partners[4] (Albion IT)")

    partner(project, "maple", lambda p: p.pop("auto_accept_without_crm"))
    refused = asset_check_result(project_check_results(paths))
    assert refused.severity.value == "ERROR" and refused.metadata["errors"].value == 1
    assert "auto-accepts but has no CRM connection" in refused.description
    assert "warning" in refused.metadata["problems"].value  # Albion's warning is still listed


def test_a_byte_that_is_not_utf8_is_one_line_naming_the_place_and_the_fix(project, capsys):
    file = project / PARTNERS_FILE
    file.write_bytes(file.read_bytes().replace(b"partners:", b"# Soci\xe9t\xe9 G\xe9n\xe9rale\npartners:", 1))
    code, lines, _summary = check(project, capsys)
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith(f"{PARTNERS_FILE}: line "), lines
    assert "byte 0xe9 is not UTF-8" in lines[0] and "save it as UTF-8" in lines[0]


def test_a_key_given_twice_is_an_error_naming_both_lines(project, capsys):
    file = project / PARTNERS_FILE
    text = file.read_text()
    assert "default_partner:" in text
    file.write_text(text.replace("  default_partner:", "  default_partner: acme\n  default_partner:", 1))
    code, lines, _summary = check(project, capsys)
    assert code == 1
    assert len(lines) == 1 and "key 'default_partner' is given twice" in lines[0], lines
    assert lines[0].startswith(f"{PARTNERS_FILE}: line ")
