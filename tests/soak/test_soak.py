"""A small seeded soak in the suite: one round of faults across all four sources, Maple's CRM org and the SMTP
server, with the run SIGKILLed, then one clean run; nothing lost, nothing twice (tests/soak/soak_invariants.py).
bench/soak.py runs the big one (>= 1,000 faults) on demand."""

import email.message
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from soak_invariants import check_mail
from soak_runner import soak
from soak_world import RunOutcome
from soak_writes import compare_writes

SEED = 20261203


def test_a_seeded_soak_with_a_killed_run_loses_nothing_and_writes_nothing_twice(tmp_path):
    report = soak(tmp_path / "soak", seed=SEED, rounds=1, faults_per_round=8, kill_chance=1.0, leads=20,
                  file_leads=10, clean_runs=1, log=lambda line: None, read_only_steps=False)
    assert sum(report.faults.values()) >= 3, report.faults  # the faults did hit the run
    assert report.faults["kill_in_step"] + report.faults["kill_between"] == 1, report.faults
    assert report.violation_count == 0, (f"replay with: python bench/soak.py --seed {SEED} --rounds 1 "
                                         f"--faults-per-round 8\n{report.violations}\n{report.clean_runs_failed}")


def test_the_mail_invariant_sees_an_email_sent_twice(tmp_path):
    """The checks can fail: the same message (one Message-ID) delivered twice to one partner is a violation."""
    folder = tmp_path / "mail"
    folder.mkdir()
    msg = email.message.EmailMessage()
    msg["Message-ID"], msg["Subject"] = "<abc.leadsync@example>", "New lead"
    for n in (1, 2):
        (folder / f"{n}.eml").write_bytes(b"X-Envelope-To: leads@maple.example\r\n" + msg.as_bytes())
    world = SimpleNamespace(sandboxes=SimpleNamespace(get=lambda name: SimpleNamespace(
        server=SimpleNamespace(folder=Path(folder)))))
    assert check_mail(world) == ["email <abc.leadsync@example> to leads@maple.example sent 2 times"]


def test_the_write_invariant_sees_a_record_written_twice_and_one_never_written():
    """The checks can fail: a batch sent once in one run allows one write per record; a second write (a replay
    the soak did not cause) and a sent distribution status the target never got are violations. A batch resumed
    by the next run, or a request of that target held past the client's timeout, allows one more."""
    t0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    runs = [RunOutcome("r1", "KILLED", 60, started_at=t0), RunOutcome("r2", "SUCCESS", 60,
                                                                        started_at=t0 + timedelta(seconds=70))]
    frame = pd.DataFrame({"batch_id": ["b1", "b1"], "created_at": [t0 + timedelta(seconds=30)] * 2,
                          "sent_at": [t0 + timedelta(seconds=30)] * 2, "state": ["sent"] * 2,
                          "result": ["2 sent, 0 refused"] * 2, "kind": ["distribution_status"] * 2,
                          "record_id": ["00Q1", "00Q2"], "refused": [False, False]})
    field = "LeadSync_Distribution_Status__c"
    assert compare_writes("salesforce_demo", field, {"00Q1": 1, "00Q2": 1}, frame, runs) == []
    assert compare_writes("salesforce_demo", field, {"00Q1": 2}, frame, runs) == [
        "salesforce_demo record 00Q2: a distribution status was sent, the target shows no write of " + field,
        (f"salesforce_demo record 00Q1: {field} written 2 times, 1 sends of the batches that touched it "
         "(with their replays)")]
    resumed = frame.assign(sent_at=t0 + timedelta(seconds=80))  # sent again by the run after the kill
    assert compare_writes("salesforce_demo", field, {"00Q1": 2, "00Q2": 2}, resumed, runs) == []
    runs[0].lost_answers["salesforce_demo"] += 1  # a request held past the client's timeout in the first run
    assert compare_writes("salesforce_demo", field, {"00Q1": 2, "00Q2": 1}, frame, runs) == []
