"""Entry point of the code location (pyproject [tool.dg.project]); `dagster dev` loads this."""

import dagster as dg

from leadsync.defs.build import build_definitions


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
