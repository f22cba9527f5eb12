"""The CRM connectors a partner's `crm.type` can name, with their defaults. Adding a CRM = a module under
connectors/crm/ implementing `PartnerCrm`, plus one `CrmKind` (its connection model, default field, status
and stage maps, and how to open it from the YAML and the environment) registered with the schema's registry
(leadsync/config/crm_kinds.py) and named in pyproject's `leadsync.partner_crm_kinds` entry points, so that
partners.yaml validates its `crm` block without importing the connectors.

Secrets come from the environment variables the partner's `crm.connection` names (per partner: each
partner's CRM has its own credentials); a missing one is an ApiConfigError naming the partner, the key and
the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from pydantic import BaseModel

from leadsync.config.api_sources import SalesforceConnection
from leadsync.config.crm_kinds import register_crm_kind
from leadsync.connectors.api_client import ApiConfigError, HttpSettings

if TYPE_CHECKING:
    from leadsync.config.loader import ProjectPaths
    from leadsync.config.partners import Partner
    from leadsync.connectors.crm.contract import PartnerCrm


@dataclass(frozen=True)
class CrmKind:
    name: str
    label: str
    connection_model: type[BaseModel]
    default_fields: Mapping[str, str]  # lead field → CRM field
    default_status_map: Mapping[str, str]  # CRM status → our sales status
    default_stage_map: Mapping[str, str]  # CRM opportunity stage → a lifecycle.yaml stage
    open: Callable[[Partner, ProjectPaths], PartnerCrm]
    notes_field: str | None = None  # where shared fields without a CRM field are listed ("Label: value")
    required_fields: Mapping[str, str] = field(default_factory=dict)  # CRM field → filler when the lead has no value


def where(partner: Partner, key: str) -> str:
    """How a message names a key of the partner's crm block."""
    return f"partners.yaml: partners[{partner.id}].crm.{key}"


def secret(partner: Partner, key: str, env_name: str, what: str) -> str:
    value = os.environ.get(env_name)
    if not value:
        raise ApiConfigError(f"{where(partner, 'connection.' + key)}: environment variable {env_name} is not set; "
                             f"set it to {partner.name}'s {what} (in the shell or .env)")
    return value


def _open_salesforce(partner: Partner, paths: ProjectPaths) -> PartnerCrm:
    from leadsync.connectors.crm.salesforce import SalesforceCrmOptions, SalesforcePartnerCrm
    from leadsync.connectors.salesforce.source.settings import SalesforceSettings

    crm = partner.crm
    c: SalesforceConnection = crm.connection
    if c.object != "Lead":
        raise ApiConfigError(f"{where(partner, 'connection.object')}: leads are created as Lead records; "
                             f"remove object: {c.object}")
    values: dict = {
        "auth": c.auth, "login_url": c.login_url, "api_version": c.api_version,
        "http": HttpSettings(timeout_s=c.timeout_s, ca_bundle=paths.resolve(c.ca_bundle) if c.ca_bundle else None),
        "consumer_key": secret(partner, "consumer_key_env", c.consumer_key_env, "Salesforce consumer key"),
    }
    if c.consumer_secret_env:
        values["consumer_secret"] = secret(partner, "consumer_secret_env", c.consumer_secret_env,
                                           "Salesforce consumer secret")
    if c.username:
        values["username"] = c.username
    if c.private_key_path:
        values["private_key_path"] = str(paths.resolve(c.private_key_path))
    if c.password_env:
        values["password"] = secret(partner, "password_env", c.password_env, "Salesforce password")
    withdrawal = crm.withdrawal
    try:
        settings = SalesforceSettings(**values)
        options = SalesforceCrmOptions(
            external_id_field=crm.external_id_field, campaign_mode=crm.campaign.mode,
            campaign_field=crm.campaign.field, create_missing_campaigns=crm.campaign.create_missing,
            withdrawal_field=withdrawal.field or "Status",
            withdrawal_value=withdrawal.status if withdrawal.status else withdrawal.value)
    except ApiConfigError as exc:
        raise ApiConfigError(f"{where(partner, 'connection')}: {exc}") from None
    return SalesforcePartnerCrm(settings, options)


SALESFORCE = CrmKind(
    name="salesforce", label="Salesforce", connection_model=SalesforceConnection,
    default_fields=MappingProxyType({
        "first_name": "FirstName", "last_name": "LastName", "company": "Company", "email": "Email",
        "phone": "Phone", "title": "Title", "city": "City", "state": "State", "postal_code": "PostalCode",
        "country": "Country"}),
    default_status_map=MappingProxyType({
        "Open - Not Contacted": "Not Contacted", "Working - Contacted": "Contacted", "Nurturing": "Nurture",
        "Closed - Converted": "Converted Opportunity", "Closed - Not Converted": "Unqualified/Invalid"}),
    default_stage_map=MappingProxyType({
        "Needs Analysis": "Qualification", "Value Proposition": "Qualification",
        "Id. Decision Makers": "Qualification", "Perception Analysis": "Qualification",
        "Proposal/Price Quote": "Proposal", "Negotiation/Review": "Negotiation"}),
    open=_open_salesforce,
    notes_field="Description",
    required_fields=MappingProxyType({"LastName": "[not provided]", "Company": "[not provided]"}),
)

KINDS: Mapping[str, CrmKind] = MappingProxyType({SALESFORCE.name: SALESFORCE})
for _kind in KINDS.values():
    register_crm_kind(_kind)


def kind_of(partner: Partner) -> CrmKind:
    return KINDS[partner.crm.type]


def open_crm(partner: Partner, paths: ProjectPaths) -> PartnerCrm:
    """The partner's CRM connector (not yet logged in); ApiConfigError for a missing secret or a bad setting."""
    return kind_of(partner).open(partner, paths)
