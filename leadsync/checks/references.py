"""References between files: what partners.yaml and lifecycle.yaml name must exist in the sources and the
partners, and what a source names must exist in partners.yaml. References inside one file (a rule group's
partners, a protected account's rep, a uniqueness key) are the schema's (leadsync/config/)."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from leadsync.checks.problems import Problem, error, from_config_error, shown_path, warning
from leadsync.config import ConfigError
from leadsync.config.partners import PartnersConfig, Rule, RuleGroup
from leadsync.config.schema import STANDARD_FIELD_TYPES
from leadsync.lifecycle.context import check_references

if TYPE_CHECKING:
    from leadsync.checks.lint import LoadedProject


def reference_problems(project: LoadedProject) -> list[Problem]:
    if project.partners is None:  # partners.yaml's own problems are reported; nothing to compare against
        return []
    problems = _upload_partners(project, project.partners)
    problems += _rule_fields(project, project.partners)
    problems += _protected_account_fields(project, project.partners)
    if project.lifecycle is not None:
        problems += _lifecycle_references(project, project.partners)
    return problems


def _upload_partners(project: LoadedProject, partners: PartnersConfig) -> list[Problem]:
    problems = []
    ids = [p.id for p in partners.partners]
    for name, cfg in project.sources.items():
        wanted = cfg.upload_partner
        if not wanted:
            continue
        file = project.source_files[name]
        partner = partners.by_id(wanted)
        if partner is None:
            by_name = {p.name.lower(): p.id for p in partners.partners}
            if wanted.lower() in by_name:
                hint = f"; '{wanted}' is a partner's name: use its id '{by_name[wanted.lower()]}'"
            else:
                guess = difflib.get_close_matches(wanted, ids, n=1)
                hint = f"; did you mean '{guess[0]}'?" if guess else ""
            problems.append(error(project.paths, file, "upload_partner", (
                f"'{wanted}' is not a partner id in {shown_path(project.paths, project.paths.partners_file)}; known: "
                f"{_few(ids)}{hint}"), sources=[name]))
        elif not partner.active:
            problems.append(warning(project.paths, file, "upload_partner", (
                f"partner '{wanted}' is inactive: every lead of this source goes to review; set active: true in "
                "partners.yaml or choose another partner"), sources=[name]))
    return problems


def _rule_fields(project: LoadedProject, partners: PartnersConfig) -> list[Problem]:
    """A rule on a field no source maps is an error (it never holds: a typo or a missing mapping); a field
    some sources map and others do not is a warning naming those others (their leads never match it)."""
    mapped = {name: {f.field for f in cfg.fields} for name, cfg in project.sources.items()}
    if not mapped:
        return []
    known = sorted(set().union(*mapped.values()) | set(STANDARD_FIELD_TYPES))
    problems: list[Problem] = []
    partial: dict[str, list[str]] = {}  # field → key paths of the (non-optional) rules on it
    file = project.paths.partners_file
    for i, group in enumerate(partners.routing.rule_groups):
        for j, rule in enumerate(group.rules):
            key = f"routing.rule_groups[{i}] ({group.name}).rules[{j}] ({rule.field}).field"
            users = [s for s, fields in mapped.items() if rule.field in fields]
            if not users:
                problems.append(_unmapped_rule(project, key, rule, list(mapped), known))
            elif len(users) < len(mapped) and not rule.optional:
                partial.setdefault(rule.field, []).append(key)
    # A source with an upload_partner never reaches the rule groups: its leads need no rule fields.
    routed_by_rules = [name for name, cfg in project.sources.items() if not cfg.upload_partner]
    for field, keys in partial.items():
        lacking = [s for s in routed_by_rules if field not in mapped[s]]
        if not lacking:
            continue
        users = [s for s in mapped if field in mapped[s]]
        more = f" (and {len(keys) - 1} more rule{'s' if len(keys) > 2 else ''} on it)" if len(keys) > 1 else ""
        problems.append(warning(project.paths, file, keys[0], (
            f"{_sources(lacking)} no column to lead field '{field}' (mapped by {', '.join(users)}): their leads "
            f"never match this rule{more}; map '{field}' there, or make the rule optional: true"),
            sources=lacking))
    return problems


def _unmapped_rule(project: LoadedProject, key: str, rule: Rule, sources: list[str], known: list[str]) -> Problem:
    file = project.paths.partners_file
    outcome = "always holds" if rule.op == "is_empty" else "never holds"
    if rule.optional:
        return warning(project.paths, file, key, (
            f"no source maps a column to lead field '{rule.field}' (sources: {', '.join(sources)}): this optional rule is "
            "always skipped; map the field in a source or remove the rule"))
    what = "a standard lead field, but" if rule.field in STANDARD_FIELD_TYPES else "not a lead field:"
    guess = [g for g in difflib.get_close_matches(rule.field, known, n=1) if g != rule.field]
    hint = f"; did you mean '{guess[0]}'?" if guess else ""
    return error(project.paths, file, key, (
        f"'{rule.field}' is {what} no source maps a column to it (sources: {', '.join(sources)}), so the rule {outcome}; "
        f"map it in a source's fields or fix the rule's field{hint}"))


def _protected_account_fields(project: LoadedProject, partners: PartnersConfig) -> list[Problem]:
    """Accounts named by account_id or company only protect leads of sources that map that field."""
    mapped = {name: {f.field for f in cfg.fields} for name, cfg in project.sources.items()}
    if not mapped:
        return []
    problems = []
    for field in ("account_id", "company"):
        count = sum(1 for a in partners.routing.protected_accounts if not a.open and a.key[0] == field)
        lacking = [s for s, fields in mapped.items() if field not in fields]
        if not count or not lacking:
            continue
        which = "no source maps" if len(lacking) == len(mapped) else f"{_sources(lacking)} no column to"
        accounts = f"{count} protected account{'s are' if count > 1 else ' is'}"
        problems.append(warning(project.paths, project.paths.partners_file, "routing.protected_accounts", (
            f"{accounts} named by {field}, but {which} lead field '{field}': "
            f"{'their ' if len(lacking) < len(mapped) else ''}leads are never protected by them; map "
            f"'{field}' or name the accounts by email_domain"),
            sources=lacking if len(lacking) < len(mapped) else ()))
    return problems


def _lifecycle_references(project: LoadedProject, partners: PartnersConfig) -> list[Problem]:
    file = project.lifecycle_file
    settings = project.lifecycle
    problems = []
    try:
        check_references(settings, partners, list(project.source_files), file)
    except ConfigError as exc:
        problems += from_config_error(project.paths, exc, file=file)
    reg = settings.auto_registration
    groups = [(f"auto_registration.supplier_rules[{i}] ({g.name})", g) for i, g in enumerate(reg.supplier_rules)]
    groups += [(f"auto_registration.partner_rules.{pid}[{i}] ({g.name})", g)
               for pid, gs in reg.partner_rules.items() for i, g in enumerate(gs)]
    problems += [_group_partners(project, file, key, g, partners) for key, g in groups]
    return [p for p in problems if p is not None]


def _group_partners(project: LoadedProject, file, key: str, group: RuleGroup,
                    partners: PartnersConfig) -> Problem | None:
    unknown = [p for p in group.partners or [] if partners.by_id(p) is None]
    if not unknown:
        return None
    return error(project.paths, file, f"{key}.partners", (
        f"unknown partners {unknown}; known: {_few([p.id for p in partners.partners])}; fix the ids or add "
        "the partners to partners.yaml"))


def _few(ids: list[str]) -> str:
    return ", ".join(ids) if len(ids) <= 20 else ", ".join([*ids[:20], "…"])



def _sources(names: list[str]) -> str:
    """'source a maps' / 'sources a, b map'."""
    return f"source {names[0]} maps" if len(names) == 1 else f"sources {', '.join(names)} map"
