"""Nobody is left out: every partner that can receive leads has someone who hears of them.

- A partner that is sent notification emails (active, not auto-accept) with no default user and no rep: its
  leads would wait silently until withdrawn. A warning: the lead is not lost, but nobody acts on it.
- An auto-accept partner without a CRM connection: its leads are accepted on delivery, no email is sent and
  nothing creates them anywhere, so nobody at the partner ever hears of them. Refused (an error) unless
  partners.yaml says why (`auto_accept_without_crm: <reason>`): auto-accept is for partners whose CRM
  receives the leads.
- `auto_accept_without_crm` where it has no effect (no auto-accept, or a CRM is configured): a warning.
"""

from __future__ import annotations

from pathlib import Path

from leadsync.checks.problems import Problem, error, warning
from leadsync.config.loader import ProjectPaths
from leadsync.config.partners import Partner, PartnersConfig
from leadsync.lifecycle.delivery import recipients


def partner_key(index: int, partner: Partner, key: str) -> str:
    """A key path as the loader renders it: `partners[3] (Maple Systems).auto_accept`."""
    return f"partners[{index}] ({partner.name}).{key}"


def partner_problems(paths: ProjectPaths, partners: PartnersConfig, file: Path | None = None) -> list[Problem]:
    file = file or paths.partners_file
    problems: list[Problem] = []
    for i, p in enumerate(partners.partners):
        if p.auto_accept and p.crm is None and not p.auto_accept_without_crm:
            problems.append(error(paths, file, partner_key(i, p, "auto_accept"), (
                f"{p.name} auto-accepts but has no CRM connection: its leads would be accepted with no email and "
                "created nowhere, so nobody at the partner hears of them. Give it a `crm` block, or set "
                "auto_accept: false and list users to notify, or say why with auto_accept_without_crm: <reason>")))
        if p.auto_accept_without_crm and not p.auto_accept:
            problems.append(warning(paths, file, partner_key(i, p, "auto_accept_without_crm"), (
                f"{p.name} does not auto-accept, so this reason has no effect; remove it or set auto_accept: true")))
        elif p.auto_accept_without_crm and p.crm is not None:
            problems.append(warning(paths, file, partner_key(i, p, "auto_accept_without_crm"), (
                f"{p.name} has a CRM connection, so this reason has no effect; remove it")))
        if p.active and not p.auto_accept and not recipients(p):
            default_off = bool(p.users) and not p.default_users()
            why = ("every user is marked default: false" if default_off else "it has no users and no reps")
            problems.append(warning(paths, file, partner_key(i, p, "users"), (
                f"{p.name} can receive leads but nobody would be told of them ({why}): its leads would wait "
                f"unseen. Add users (the first, or those marked default: true, are emailed) or reps, "
                "or set active: false")))
    return problems
