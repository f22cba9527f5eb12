"""Numeric settings beyond any sane use are refused by `leadsync check`, naming the setting and its range,
instead of passing and crashing a run later."""

from __future__ import annotations

import pytest
import yaml
from hostile_inputs import edit_source

from leadsync.connectors.sftp.settings import SftpSettings
from leadsync.cli import main


def check_lines(project, capsys) -> tuple[int, str]:
    code = main(["--mappings", str(project / "mappings"), "check"])
    return code, capsys.readouterr().out


@pytest.mark.parametrize(("changes", "key", "bound"), [
    ({"files": {"max_file_rows": 10**12}}, "files.max_file_rows", "100000000"),
    ({"files": {"settle_seconds": 99999999999}}, "files.settle_seconds", "3600"),
    ({"files": {"max_run_bytes": 10**18}}, "files.max_run_bytes", str(500 * 1024 << 20)),
    ({"connection": {"timeout_s": 99999}}, "connection.timeout_s", "600"),
    ({"cells": {"max_length": 10**9}}, "cells.max_length", "1000000"),
])
def test_an_out_of_range_number_is_refused_naming_the_setting_and_range(project, capsys, changes, key, bound):
    edit_source(project, **changes)
    code, out = check_lines(project, capsys)
    assert code == 1
    line = next(line for line in out.splitlines() if key in line)
    assert "sftp_demo.yaml" in line and bound in line.replace(",", "").replace("_", "")


def test_a_fields_max_length_beyond_a_million_is_refused(project, capsys):
    path = project / "mappings/sources/sftp_demo.yaml"
    fields = yaml.safe_load(path.read_text())["fields"]
    edit_source(project, fields=[{**f, "max_length": 5_000_000} if f["field"] == "company" else f for f in fields])
    code, out = check_lines(project, capsys)
    assert code == 1 and "max_length" in out and "1000000" in out


@pytest.mark.parametrize(("port", "timeout"), [(0, 5.0), (70000, 5.0), (22, 0.0), (22, 86400.0)])
def test_the_sftp_client_settings_refuse_out_of_range_numbers(port, timeout):
    with pytest.raises(ValueError, match="out of range"):
        SftpSettings(host="127.0.0.1", username="u", port=port, timeout_s=timeout)
