"""Bulk export definitions: validation when they are created (and again when synced), and staging the data.

Staging runs the filter over the source's records, keeps at most `maxRecords`, and writes one text column per
definition field. The staged table is what `/syncs/{id}/data` pages through: it never changes afterwards, so a
client that resumes at an offset reads exactly the rows it would have read before.
"""

from __future__ import annotations

import pyarrow as pa

from leadsync.connectors.eloqua.sandbox.definitions import (
    DEFAULT_EXPORT_RETENTION,
    check_common,
    check_fields,
    failure,
)
from leadsync.connectors.eloqua.sandbox.eml_filter import (
    FilterError,
    check_values,
    comparisons,
    evaluate,
    parse_filter,
    statements_in,
)
from leadsync.connectors.eloqua.sandbox.export_sources import ACTIVITY_TYPE_FIELDS, ActivitySource

UNKNOWN_STATEMENT = "Must be a valid Eloqua Markup Language statement referencing an existing field."


def validate_export(source, body: dict) -> list[dict]:
    """Failures of a definition body (empty when valid). Fills in defaults on `body`."""
    problems = check_common(body, DEFAULT_EXPORT_RETENTION)
    fields = body.get("fields")
    field_problems = check_fields(fields, source.max_fields)
    problems += field_problems
    if not field_problems:
        for key, statement in fields.items():
            if source.kind_of(statement.strip()) is None:
                problems.append(failure(f"fields.{key}", UNKNOWN_STATEMENT, statement))
    if "maxRecords" in body and (not isinstance(body["maxRecords"], int) or body["maxRecords"] < 1):
        problems.append(failure("maxRecords", "Must be a positive integer.", body["maxRecords"]))
    tree = None
    if body.get("filter") not in (None, ""):
        try:
            tree = parse_filter(str(body["filter"]))
            for statement in statements_in(tree):
                if not source.filterable(statement):
                    raise FilterError(f"{statement} cannot be used in a filter.")
            check_values(tree, source.kind_of)
        except FilterError as exc:
            problems.append(failure("filter", str(exc), body["filter"]))
    if isinstance(source, ActivitySource) and not problems:
        problems += _check_activity(source, body, tree)
    return problems


def _check_activity(source: ActivitySource, body: dict, tree: object) -> list[dict]:
    types = {c.value for c in comparisons(tree) if c.statement == "{{Activity.Type}}" and c.op == "="} \
        if tree is not None else set()
    if len(types) != 1 or not types <= set(ACTIVITY_TYPE_FIELDS):
        return [failure("filter", "Must filter on exactly one activity type, e.g. "
                                  "'{{Activity.Type}}' = 'EmailOpen'. Types: " + ", ".join(ACTIVITY_TYPE_FIELDS),
                        body.get("filter"))]
    allowed = ACTIVITY_TYPE_FIELDS[types.pop()]
    problems = []
    contact_fields = 0
    for key, statement in body["fields"].items():
        statement = statement.strip()
        if source.kind_of(statement) == "contact":
            contact_fields += 1
        elif statement not in allowed:
            problems.append(failure(f"fields.{key}", "Must be a field of the filtered activity type.", statement))
    if contact_fields > source.max_contact_fields:
        problems.append(failure("fields", f"Must contain at most {source.max_contact_fields} contact fields.",
                                f"{contact_fields} contact fields"))
    return problems


def stage_export(source, definition: dict) -> pa.Table:
    """The export's rows: filter, cap, project to text columns named by the definition's field keys."""
    table = source.table()
    if definition.get("filter"):
        tree = parse_filter(definition["filter"])
        table = table.filter(evaluate(tree, lambda s: source.filter_column(table, s)))
    if definition.get("maxRecords"):
        table = table.slice(0, int(definition["maxRecords"]))
    columns = {key: source.output_column(table, statement.strip())
               for key, statement in definition["fields"].items()}
    return pa.table(columns) if columns else pa.table({})
