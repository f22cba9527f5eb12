"""A wrong key, type or reference fails loading with a message naming file, key path and what is allowed."""

from pathlib import Path

import pytest

from leadsync.config import ConfigError, load_partners, load_source

REPO = Path(__file__).resolve().parents[1]
DEMO_SOURCE = (REPO / "mappings/sources/sftp_demo.yaml").read_text()
PARTNERS = (REPO / "mappings/partners.yaml").read_text()


def write(tmp_path: Path, text: str, name: str = "sftp_demo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bundled_yaml_loads():
    assert load_source(REPO / "mappings/sources/sftp_demo.yaml").name == "sftp_demo"
    assert len(load_partners(REPO / "mappings/partners.yaml").partners) >= 3


def test_typo_in_a_key_names_the_file_the_key_and_the_allowed_keys(tmp_path):
    path = write(tmp_path, DEMO_SOURCE.replace("uniqueness:", "uniquness:"))
    with pytest.raises(ConfigError) as err:
        load_source(path)
    message = str(err.value)
    assert str(path) in message
    assert "uniquness: unknown key" in message
    assert "did you mean 'uniqueness'" in message
    assert "partner_field" in message  # the allowed keys are listed


def test_typo_in_a_nested_key_gives_the_full_key_path(tmp_path):
    path = write(tmp_path, DEMO_SOURCE.replace("{column: Phone, field: phone}", "{column: Phone, feild: phone}"))
    with pytest.raises(ConfigError) as err:
        load_source(path)
    assert "fields[5] (Phone).feild: unknown key" in str(err.value)
    assert "did you mean 'field'" in str(err.value)


def test_wrong_type_lists_the_allowed_values(tmp_path):
    path = write(tmp_path, DEMO_SOURCE.replace("type: picklist, values: [SMB", "type: pick_list, values: [SMB"))
    with pytest.raises(ConfigError) as err:
        load_source(path)
    assert "fields[10] (lead_type).type" in str(err.value)
    assert "'picklist'" in str(err.value) and "'pick_list'" in str(err.value)


def test_uniqueness_key_must_be_a_mapped_field(tmp_path):
    path = write(tmp_path, DEMO_SOURCE.replace("mode: every_record", "mode: key\n  key: [email, campain]"))
    with pytest.raises(ConfigError, match="uniqueness key 'campain' is not a mapped lead field"):
        load_source(path)


def test_picklist_without_values_is_refused(tmp_path):
    path = write(tmp_path, DEMO_SOURCE.replace(
        "{column: Lead Type, field: lead_type, type: picklist, values: [SMB, Mid-Market, Enterprise]}",
        "{column: Lead Type, field: lead_type, type: picklist}"))
    with pytest.raises(ConfigError, match="list its allowed 'values'"):
        load_source(path)


def test_every_source_must_map_email(tmp_path):
    path = write(tmp_path, DEMO_SOURCE.replace("field: email,", "field: email_address,"))
    with pytest.raises(ConfigError, match="lead field 'email'"):
        load_source(path)


def test_yaml_syntax_error_gives_line_and_column(tmp_path):
    path = write(tmp_path, DEMO_SOURCE.replace("uniqueness:\n", "uniqueness: [\n", 1))
    with pytest.raises(ConfigError, match=r"line \d+, column \d+: not valid YAML"):
        load_source(path)


def test_secret_in_yaml_is_not_a_key(tmp_path):
    path = write(tmp_path, DEMO_SOURCE.replace("password_env: LEADSYNC_SFTP_DEMO_PASSWORD",
                                               "password: hunter2"))
    with pytest.raises(ConfigError, match="connection.password: unknown key"):
        load_source(path)


def test_routing_reference_to_an_unknown_partner(tmp_path):
    path = write(tmp_path, PARTNERS.replace("default_partner: null", "default_partner: nortwind"), "partners.yaml")
    with pytest.raises(ConfigError, match="default_partner 'nortwind' is not a partner id"):
        load_partners(path)


def test_rule_needs_value_or_partner_attribute(tmp_path):
    path = write(tmp_path, PARTNERS.replace("{field: lead_type, op: equals, value: Enterprise}",
                                            "{field: lead_type, op: equals}"), "partners.yaml")
    with pytest.raises(ConfigError, match="needs exactly one of 'value' or 'partner_attribute'"):
        load_partners(path)


def test_standard_field_with_an_incompatible_type(tmp_path):
    path = write(tmp_path, DEMO_SOURCE.replace("{column: Created Date, field: created_at, type: datetime",
                                               "{column: Created Date, field: created_at, type: string"))
    with pytest.raises(ConfigError, match="'created_at' is a standard field stored as datetime"):
        load_source(path)


def test_a_byte_that_is_not_utf8_names_the_line_and_is_a_failure_not_retried(tmp_path):
    import dagster as dg

    from leadsync.defs.errors import source_errors

    latin1 = DEMO_SOURCE.replace("description:", "# Société Générale's drop\ndescription:", 1).encode("latin-1")
    path = tmp_path / "sftp_demo.yaml"
    path.write_bytes(latin1)
    line = latin1[:latin1.index(b"\xe9")].count(b"\n") + 1
    with pytest.raises(ConfigError, match=rf"line {line}, column \d+: byte 0xe9 is not UTF-8.*save it as UTF-8"):
        load_source(path)
    with pytest.raises(dg.Failure) as failure, source_errors("sftp_demo"):
        load_source(path)
    assert failure.value.allow_retries is False and "not UTF-8" in failure.value.description


@pytest.mark.parametrize("key", ["type", "name"])
def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path, key):
    first = next(i for i, text in enumerate(DEMO_SOURCE.splitlines(), start=1) if text.startswith(f"{key}:"))
    path = write(tmp_path, DEMO_SOURCE + f"{key}: again\n")
    last = len((DEMO_SOURCE + f"{key}: again\n").splitlines())
    with pytest.raises(ConfigError, match=rf"line {last}, column 1: key '{key}' is given twice in the same "
                                          rf"mapping \(first on line {first}\)"):
        load_source(path)


def test_a_nested_key_given_twice_in_partners_is_refused(tmp_path):
    path = write(tmp_path, PARTNERS.replace("  default_partner:", "  default_partner: acme\n  default_partner:", 1),
                 "partners.yaml")
    with pytest.raises(ConfigError, match="key 'default_partner' is given twice"):
        load_partners(path)
