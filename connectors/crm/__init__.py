"""Partners' own CRMs, reached with the partner's credentials: the `PartnerCrm` contract (contract.py) and
one module per CRM (salesforce.py). Usable without Dagster or leadsync's store."""

from leadsync.connectors.crm.contract import CrmLead, CrmLeadState, CrmOpportunity, CrmWriteResult, PartnerCrm

__all__ = ["CrmLead", "CrmLeadState", "CrmOpportunity", "CrmWriteResult", "PartnerCrm"]
