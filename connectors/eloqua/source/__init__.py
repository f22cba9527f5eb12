"""leadsync's Eloqua connector (the client side): EloquaSource implements connectors.source_api.LeadSource."""

from leadsync.connectors.eloqua.source.settings import EloquaSettings
from leadsync.connectors.eloqua.source.source import EloquaSource

__all__ = ["EloquaSettings", "EloquaSource"]
