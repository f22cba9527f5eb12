"""A small seeded soak in the suite: one round of faults across all four sources, Maple's CRM org and the SMTP
server, with the run SIGKILLed, then one clean run; nothing lost, nothing twice (tests/soak/soak_invariants.py).
bench/soak.py runs the big one (>= 1,000 faults) on demand."""

import email.message
from pathlib import Path
from types import SimpleNamespace

from soak_invariants import check_mail
from soak_runner import soak

SEED = 20261203


def test_a_seeded_soak_with_a_killed_run_loses_nothing_and_writes_nothing_twice(tmp_path):
    report = soak(tmp_path / "soak", seed=SEED, rounds=1, faults_per_round=8, kill_chance=1.0, leads=40,
                  file_leads=20, clean_runs=1, log=lambda line: None)
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
