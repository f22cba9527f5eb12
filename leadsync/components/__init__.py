"""leadsync as Dagster components (registered for `dg` by the entry point in pyproject.toml).

- LeadSource: one source (sftp, salesforce, marketo, eloqua) and its assets, checks, job, schedule, sensor.
- Routing: the partners and their routing rules (partners.yaml); the reroute and manual_assignment jobs.
- PartnerLifecycle: delivery, partner emails, partner CRMs, closed loop (lifecycle.yaml).

Their attributes are leadsync's YAML files, checked by leadsync's own loader. leadsync's own code location is
built from them too (leadsync/defs/build.py).
"""

from leadsync.components.lead_source import LeadSource
from leadsync.components.project_wide import PartnerLifecycle, Routing

__all__ = ["LeadSource", "PartnerLifecycle", "Routing"]
