"""leadsync's Marketo connector (the client side): `MarketoSource(MarketoSettings(...))`."""

from leadsync.connectors.marketo.source.settings import MarketoSettings
from leadsync.connectors.marketo.source.source import MarketoSource

__all__ = ["MarketoSettings", "MarketoSource"]
