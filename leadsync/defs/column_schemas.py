"""What each asset stores, as the `dagster/column_schema` (a TableSchema) the UI shows on its page.

Built when the code location loads, from the source's YAML read leniently (the mapping's columns and lead
fields) and from the store's own table definitions (decisions, writeback events, partner emails): a broken
file still gets its assets, with the store's standard lead columns instead of its mapping's.
"""

from __future__ import annotations

import datetime
import dagster as dg
import sqlalchemy as sa
from pydantic import ValidationError

from leadsync.config.schema import RECORD_ID_COLUMNS, FieldMapping
from leadsync.store import tables

# The leads table's own columns, before and after the mapped lead fields.
_LEAD_KEYS = {
    "lead_id": "leadsync's id of the lead (unique)",
    "lead_key": "the source's uniqueness key of the lead (its `uniqueness` rule)",
    "source_record_id": "the record's id in the source system (API sources; the writeback's target)",
    "batch_id": "the raw batch (file or page) the lead came from",
    "row_number": "its row in that batch",
    "segregated": "matched the source's `segregate` filter: stored, never routed or written back",
}
_LEAD_STAMPS = {"attributes": "mapped fields without a column of their own, as a JSON object",
                "received_at": "when leadsync first stored the lead", "updated_at": "when a newer record last changed it"}
_RAW_KEYS = {"batch_id": "the file (SFTP) or page of records (API) the row came in",
             "row_number": "the row's number in its file or page"}


def _type_name(column: sa.Column) -> str:
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return str(column.type).lower()
    return {str: "string", int: "integer", float: "float", bool: "boolean",
            datetime.datetime: "timestamp"}.get(python_type, python_type.__name__)


def table_schema(table: sa.Table, descriptions: dict[str, str] | None = None) -> dg.TableSchema:
    """The columns of one store table, with their types, keys and nullability."""
    descriptions = descriptions or {}
    return dg.TableSchema(columns=[
        dg.TableColumn(column.name, _type_name(column), description=descriptions.get(column.name),
                       constraints=dg.TableColumnConstraints(nullable=bool(column.nullable),
                                                            unique=column.primary_key and len(table.primary_key) == 1))
        for column in table.columns])


def mapped_fields(declared: dict) -> list[FieldMapping]:
    """The `fields` of a source's YAML that validate on their own (a broken entry is left out here; the
    source's run reports it)."""
    found = []
    for entry in declared.get("fields") or []:
        try:
            found.append(FieldMapping.model_validate(entry))
        except ValidationError:
            continue
    return found


def _field_column(field: FieldMapping) -> dg.TableColumn:
    where = "" if field.field in tables.STANDARD_LEAD_FIELDS else "; kept in `attributes`"
    parts = [f"from the source's column '{field.column}'{where}", f"partners see it as '{field.display_label}'"
             if field.shared else "internal only (never shown to partners)"]
    other = [f"one of: {', '.join(field.values)}"] if field.values else []
    if field.format:
        other.append(f"format: {field.format}")
    return dg.TableColumn(field.field, field.type.value, description="; ".join(parts),
                          constraints=dg.TableColumnConstraints(nullable=not field.required, other=other))


def _columns(described: dict[str, str]) -> list[dg.TableColumn]:
    """Columns of the leads table itself, typed as the store declares them."""
    typed = {c.name: c for c in tables.leads.columns}
    return [dg.TableColumn(name, _type_name(typed[name]) if name in typed else "string", description=text)
            for name, text in described.items()]


def leads_schema(declared: dict) -> dg.TableSchema:
    """The leads a source stores: its mapping's lead fields (typed as mapped), between the store's keys and
    stamps. Without a readable mapping: the store's standard lead columns."""
    fields = mapped_fields(declared)
    if fields:
        mapped = [_field_column(f) for f in fields]
    else:
        mapped = [dg.TableColumn(name, _type_name(tables.leads.c[name]), description="standard lead field")
                  for name in tables.STANDARD_LEAD_FIELDS]
    return dg.TableSchema(columns=[*_columns(_LEAD_KEYS), *mapped, *_columns(_LEAD_STAMPS)])


def raw_schema(declared: dict, kind: str) -> dg.TableSchema:
    """Rows as received (`raw_<source>`): every value the text the source sent, in a column per header or
    field name; these are the ones its mapping reads (the source may send more)."""
    names = [f.column for f in mapped_fields(declared)]
    record_id = RECORD_ID_COLUMNS.get(kind)
    if record_id and record_id.lower() not in {n.lower() for n in names}:
        names.insert(0, record_id)
    received = [dg.TableColumn(name, "string", description="as received"
                               + ("; the record's id in the source" if name == record_id else ""))
                for name in names]
    keys = [dg.TableColumn(name, "integer" if name == "row_number" else "string", description=text,
                           constraints=dg.TableColumnConstraints(nullable=False)) for name, text in _RAW_KEYS.items()]
    return dg.TableSchema(columns=[*keys, *received])


DECISIONS = table_schema(tables.assignments, {
    "lead_id": "the lead decided about", "version": "1 for the first decision, +1 for each later one",
    "partner_id": "partner chosen (partners.yaml id), empty when unassigned",
    "status": "routed | unassigned | needs_review | withdrawn (the lifecycle adds accepted, rejected, closed)",
    "step": "the routing step that decided (protected_account, named_partner, rule_group, …)",
    "reason": "why, in words", "attempt": "1 for the first routing, +1 per reroute"})


def writeback_schema(declared: dict) -> dg.TableSchema:
    """The outbox events the writeback sends; for an API source, the fields they are written to."""
    writeback = declared.get("writeback")
    targets = writeback.get("fields") if isinstance(writeback, dict) else None
    targets = targets if isinstance(targets, dict) else {}
    described = {name: f"written to the source's field {target}" for name, target in targets.items()
                 if isinstance(target, str)}
    described |= {"event_id": "the event's id (unique)", "kind": "distribution_status | rejection | sales_status | "
                  "opportunity | marketing_event | …", "payload": "the event's other fields, as a JSON object"}
    return table_schema(tables.writeback_outbox, described)


def schema_of(types: dict[str, str]) -> dg.TableSchema:
    """A schema of plain columns, name → type (a frame an asset computes rather than a store table)."""
    return dg.TableSchema(columns=[dg.TableColumn(name, type_) for name, type_ in types.items()])


def column_schema(schema: dg.TableSchema) -> dict:
    """An asset's definition metadata holding its column schema."""
    return {"dagster/column_schema": schema}
