"""leadsync's Salesforce connector (client side): `SalesforceSource`, the LeadSource of
connectors/source_api.py, pulling through simple-salesforce (REST query and Bulk API 2.0) and writing through
sObject Collections and Bulk API 2.0 ingest jobs.

    settings = SalesforceSettings(auth="client_credentials", login_url="https://acme.my.salesforce.com",
                                  consumer_key=..., consumer_secret=...)
    with SalesforceSource(settings) as source:
        source.check()
        for batch in source.pull(["Email", "Company"], since=watermark):
            ...

Module map: settings (SalesforceSettings), segregation (the structured filter), auth (login flows),
transport (the requests session), errors (exception mapping), client (login, retries, describe, REST paging),
describe, soql (literals), records (frames of text), pull (incremental pull, watermarks, resume),
campaigns (campaigns, members, activities), ingest (Collections / Bulk writes), writes (the three writes),
source (the facade).
"""

from leadsync.connectors.salesforce.source.segregation import (
           SEGREGATED_COLUMN,
           SegregationCondition,
           SegregationFilter,
)
from leadsync.connectors.salesforce.source.settings import SalesforceSettings
from leadsync.connectors.salesforce.source.source import SalesforceSource

__all__ = ["SEGREGATED_COLUMN", "SalesforceSettings", "SalesforceSource", "SegregationCondition",
           "SegregationFilter"]
