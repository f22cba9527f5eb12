"""Intake: raw rows of a source become leads or quarantine rows, never nothing.

The walk goes forward, one module per step:
- `plan`   — the source's YAML mapping compiled into SQL: column resolution (headers match case- and
  space-insensitively), normalising, checks with readable reasons, casts, and identity;
- `apply`  — the plan run set-based over a batch in DuckDB (the pure `map_table` over Arrow for tests);
- `walk`   — the stage: every batch not yet in the intake ledger, leads and quarantine stored with the
  ledger row in one transaction;
- `segregation` — the source's `segregate:` filter (routing's literal rules) as one SQL boolean per row;
- `schema` — the pandera schema of stored leads (polars), for the `schema_valid` check and users;
- `stored` — reading stored leads back.

Identity (what makes a lead unique within a source, its lead_id):
- every_record (SFTP): the lead is the row: `<source>-<batch>-<row>`; re-mapping a batch finds the same ids;
- every_record (API sources): the lead is the source record (by its id); a newer version updates it;
- every_send (API sources): each version of a record the source sends is a new lead (`<source>-<batch>-<row>`,
  as SFTP rows; the pull stores a version once, so re-reading it makes no second lead);
- key: records with the same normalised key (e.g. email, or email + campaign) are one lead; within a batch
  the last record wins, and a later batch updates the lead.
"""

from leadsync.intake.plan import MissingColumnsError, compile_plan
from leadsync.intake.stored import leads_frame, parse_payloads
from leadsync.intake.walk import IntakeReport, map_new_rows

__all__ = ["IntakeReport", "MissingColumnsError", "compile_plan", "leads_frame", "map_new_rows", "parse_payloads"]
