"""A file separated by ':' is refused naming the delimiter and the supported ones, not as missing columns."""

from __future__ import annotations

import pytest
from hostile_inputs import HEADER, lead_line

from leadsync.connectors.sftp import inbox_readiness
from leadsync import pipeline


@pytest.fixture(autouse=True)
def settled(monkeypatch):
    monkeypatch.setattr(inbox_readiness, "wait", lambda seconds: None)


@pytest.mark.parametrize("header", [HEADER, "Email,Last Name\n"])
def test_a_colon_separated_file_is_refused_naming_the_delimiter(project, paths, store, sandbox, uploader, header):
    uploader.put("colons.csv", (header + "a@b.example,Lee\n").replace(",", ":"))
    (outcome,) = pipeline.pull(paths, store, "sftp_demo").files
    assert outcome.status == "error"
    assert "the delimiter ':' is not supported; use , ; TAB or |" in outcome.reason
    assert "missing required columns" not in outcome.reason
    assert "not supported" in (sandbox.root / "error/colons.csv.error.txt").read_text()


def test_a_one_column_name_with_a_colon_is_still_a_name(store, paths, project, uploader):
    uploader.put("one.csv", "Email: work\na@b.example\n")
    (outcome,) = pipeline.pull(paths, store, "sftp_demo").files
    assert "missing required columns" in outcome.reason and "not supported" not in outcome.reason
    uploader.put("fine.csv", HEADER + lead_line(1))
    assert pipeline.pull(paths, store, "sftp_demo").files[0].status == "stored"
