"""`leadsync demo`'s progress bars (leadsync/runs/in_process.py) follow a run's step events: each stage's bar
counts its finished steps, a failed step is named on its stage's bar, and the outcome lists it."""

from __future__ import annotations

import io

import dagster as dg
from rich.console import Console

from leadsync.runs.in_process import run_job


@dg.asset(key=["src", "raw_rows"])
def raw_rows():
    return 1


@dg.asset(key=["src", "leads"], deps=[raw_rows])
def leads():
    return 1


@dg.asset(key=["src", "assignments"], deps=[leads])
def assignments():
    raise RuntimeError("routing broke")


def test_bars_count_finished_steps_and_name_the_failed_one():
    defs = dg.Definitions(assets=[raw_rows, leads, assignments], jobs=[dg.define_asset_job("walk")])
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    with dg.instance_for_test() as instance:
        outcome = run_job(console, defs, "walk", instance, verbose=False, title="walk")
    assert not outcome.success
    assert outcome.failed_steps == ["src__assignments"]
    text = out.getvalue()
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip().startswith(("pull", "map", "route"))}
    assert "1/1" in lines["pull"] and "1/1" in lines["map"]
    assert "1/1" in lines["route"] and "failed: src__assignments" in lines["route"]
