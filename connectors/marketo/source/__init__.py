"""leadsync's Marketo connector (the client side): `MarketoSource(MarketoSettings(...))`."""

from connectors.marketo.source.settings import MarketoSettings
from connectors.marketo.source.source import MarketoSource

__all__ = ["MarketoSettings", "MarketoSource"]
