"""MarketoSource.nurture against the sandbox: a static list and a program, each enrolment and removal
idempotent (sent twice, the list holds the lead once; removing a non-member is done), and a record id that
is no Marketo lead refused for that row alone."""

import pandas as pd
import pytest

from leadsync.connectors.marketo.source import MarketoSource
from leadsync.connectors.marketo.source.settings import sandbox_settings
from leadsync.connectors.source_api import NurtureTarget


@pytest.fixture
def source(sandbox):
    with MarketoSource(sandbox_settings(sandbox), clock=sandbox.clock.now) as marketo:
        yield marketo


def changes(action: str, *record_ids) -> pd.DataFrame:
    return pd.DataFrame({"key": [f"k{r}" for r in record_ids], "record_id": list(record_ids),
                         "action": [action] * len(record_ids)})


def test_static_list_and_program_enrolment_is_idempotent(sandbox, source):
    leads = [r["id"] for r in sandbox.db.rows("SELECT id FROM leads ORDER BY id LIMIT 2")]
    listed = NurtureTarget("static_list", str(sandbox.lists.create("Nurture list")))
    program = NurtureTarget("program", str(sandbox.programs.create("Nurture stream", channel="Nurture")), "Member")
    for target, members in ((listed, lambda: sorted(sandbox.lists.member_ids(listed.id))),
                            (program, lambda: sorted(sandbox.programs.member_lead_ids(program.id)))):
        for _ in range(2):
            done = source.nurture(target, changes("enrol", *leads, "not-a-lead"))
            assert done["ok"].tolist() == [True, True, False]
            assert "not a Marketo lead id" in done["error"].iloc[2]
            assert members() == sorted(leads)
        for _ in range(2):
            assert source.nurture(target, changes("remove", leads[0]))["ok"].all()
            assert members() == [leads[1]]
