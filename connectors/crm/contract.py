"""What leadsync needs of a partner's CRM, whatever the vendor: create (or update) leads keyed by leadsync's
lead id, read back what the partner changed since a moment, mark leads taken back from the partner, and read
the opportunities the partner created without a leadsync lead (the Opportunity Summary's CRM-only class).

A connector for another CRM is one more module implementing `PartnerCrm`; leadsync reaches it through its
registry (leadsync/partner_crm/kinds.py). Errors follow connectors/api_client.py: ApiConfigError (bad
credentials, a missing field: the partner's CRM must be fixed), ApiTransientError (retry later),
ApiQuotaExhausted; a record the CRM refuses (a validation rule) is a failed `CrmWriteResult`, never an
exception, so the other records of the batch go through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class CrmLead:
    """One lead to create in (or update into) the partner's CRM.

    `values` are CRM field → value (already restricted to what the partner may see); `owner_emails` are
    the wanted owners in order of preference (the first that is an active CRM user owns the lead; none
    given: the CRM's default owner); `campaign` is the source campaign's name; `reopen` clears a withdrawal
    mark left from an earlier time the partner had the lead."""

    external_id: str
    values: Mapping[str, Any]
    owner_emails: Sequence[str] = ()
    campaign: str | None = None
    reopen: bool = False


@dataclass(frozen=True)
class CrmWriteResult:
    external_id: str
    ok: bool
    record_id: str | None = None
    owner_email: str | None = None  # the owner the record has after the write
    error: str | None = None  # why the CRM refused the record
    notes: tuple[str, ...] = ()  # things done differently than asked (an owner that is no CRM user)


@dataclass(frozen=True)
class CrmOpportunity:
    record_id: str
    name: str | None
    stage: str | None
    amount: float | None
    close_date: date | None


@dataclass(frozen=True)
class CrmLeadState:
    """A lead leadsync created, as the partner's CRM has it now."""

    external_id: str
    record_id: str
    status: str | None
    owner_name: str | None
    owner_email: str | None
    converted: bool
    opportunity: CrmOpportunity | None
    modified_at: datetime  # the latest change of the lead or of its opportunity (UTC)


@dataclass(frozen=True)
class CrmOnlyOpportunity:
    """An opportunity the partner created in its CRM with no lead of leadsync's behind it (not the converted
    opportunity of a lead carrying leadsync's external id)."""

    record_id: str
    name: str | None
    stage: str | None
    amount: float | None
    close_date: date | None
    created_at: datetime  # UTC
    modified_at: datetime  # UTC


class PartnerCrm(Protocol):
    """A partner's CRM (one org / account, logged in with the partner's own credentials)."""

    kind: str  # "salesforce", …: named in messages

    def check(self) -> None:
        """Log in and check the fields leadsync uses exist; ApiConfigError names what is missing."""

    def upsert_leads(self, leads: Sequence[CrmLead]) -> list[CrmWriteResult]:
        """Create each lead, or update the one already created with its external id (never a second
        record); one result per lead, in order."""

    def changed_leads(self, since: datetime | None) -> list[CrmLeadState]:
        """Leads carrying a leadsync external id changed at or after `since` (all when None), oldest
        change first."""

    def mark_withdrawn(self, external_ids: Sequence[str]) -> list[CrmWriteResult]:
        """Mark these leads as taken back (status or flag; never deleted). A lead the CRM no longer has is
        a success with a note."""

    def crm_only_opportunities(self, since: datetime | None) -> list[CrmOnlyOpportunity]:
        """Opportunities changed at or after `since` (all when None) that no leadsync lead converted into,
        oldest change first."""

    def close(self) -> None: ...

