"""A partner's Salesforce org as a `PartnerCrm` (contract.py), built from the Salesforce source connector's
parts: `SalesforceClient` (login flows, retries, error taxonomy, describe, REST paging) and `RecordWriter`
(sObject Collections / Bulk API 2.0 writes with one result per record).

- Leads are upserted by the external id field (`LeadSync_Lead_Id__c` by default, an External ID field in the
  partner's org), so a retried create updates the record the first attempt made.
- The owner is looked up by email among the org's active users (`OwnerId`).
- The campaign goes to Lead Source, to a named field, or becomes a campaign membership.
- Changes are read with one SOQL query over leads carrying an external id, changed (or whose converted
  opportunity changed) since a moment: status, owner (name, email), conversion and the opportunity's name,
  stage, amount and close date.
- Withdrawals set the status (or a flag field) by record Id; nothing is deleted.
- CRM-only opportunities: the Opportunity records changed since a moment, less those that are the converted
  opportunity of a lead carrying the external id (two queries: SOQL semi-joins are not for every org).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from leadsync.connectors.api_client import ApiConfigError
from leadsync.connectors.crm.contract import CrmLead, CrmLeadState, CrmOnlyOpportunity, CrmOpportunity, CrmWriteResult
from leadsync.connectors.salesforce.source.client import RetryHook, SalesforceClient
from leadsync.connectors.salesforce.source.describe import ObjectDescription
from leadsync.connectors.salesforce.source.ingest import RecordWriter, WriteRow, field_value, is_missing
from leadsync.connectors.salesforce.source.settings import SalesforceSettings
from leadsync.connectors.salesforce.source.soql import chunks, datetime_literal, identifier, in_list, parse_datetime

LEAD = "Lead"
OPPORTUNITY = "Opportunity"
_OPPORTUNITY_FIELDS = ("Id", "Name", "StageName", "Amount", "CloseDate", "CreatedDate", "SystemModstamp")
CAMPAIGN_MODES = ("lead_source", "campaign", "field", "none")
_CHANGE_FIELDS = ("Id", "Status", "OwnerId", "Owner.Name", "Owner.Email", "IsConverted", "ConvertedOpportunityId",
                  "ConvertedOpportunity.Name", "ConvertedOpportunity.StageName", "ConvertedOpportunity.Amount",
                  "ConvertedOpportunity.CloseDate", "ConvertedOpportunity.SystemModstamp", "SystemModstamp")


@dataclass(frozen=True)
class SalesforceCrmOptions:
    external_id_field: str = "LeadSync_Lead_Id__c"
    campaign_mode: str = "lead_source"  # lead_source | campaign | field | none
    campaign_field: str | None = None  # mode field
    create_missing_campaigns: bool = True  # mode campaign
    withdrawal_field: str = "Status"
    withdrawal_value: Any = "Closed - Not Converted"

    def __post_init__(self) -> None:
        identifier(self.external_id_field)
        identifier(self.withdrawal_field)
        if self.campaign_mode not in CAMPAIGN_MODES:
            raise ApiConfigError(f"campaign mode must be one of {', '.join(CAMPAIGN_MODES)}, not "
                                 f"{self.campaign_mode!r}")
        if self.campaign_mode == "field":
            identifier(self.campaign_field or "")

    @property
    def campaign_target(self) -> str | None:
        """The Lead field the campaign name is written to (None: a membership, or nothing)."""
        return {"lead_source": "LeadSource", "field": self.campaign_field}.get(self.campaign_mode)


class SalesforcePartnerCrm:
    """A partner's Salesforce org. Every call retries transient errors (`settings.http.retry`) and raises
    ApiConfigError / ApiQuotaExhausted / ApiTransientError otherwise."""

    kind = "salesforce"

    def __init__(self, settings: SalesforceSettings, options: SalesforceCrmOptions,
                 on_retry: RetryHook | None = None):
        self.settings, self.options = settings, options
        self.client = SalesforceClient(settings, on_retry)
        self.writer = RecordWriter(self.client, settings)

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ describe

    def _lead(self) -> ObjectDescription:
        return self.client.describe(LEAD)

    def _fields(self, names: Iterable[str], writable: bool = True) -> dict[str, str]:
        """{name: describe's spelling}; ApiConfigError for a field the org lacks or the user cannot write."""
        described = self._lead()
        canonical = described.require(list(dict.fromkeys(names)))
        if writable:
            for spelled in canonical.values():
                entry = described.field(spelled) or {}
                if not (entry.get("createable") or entry.get("updateable")):
                    raise ApiConfigError(f"Lead.{spelled} cannot be written by the integration user (describe: not "
                                         "createable or updateable); grant field access in the partner's org")
        return canonical

    def _external_id(self) -> str:
        ext = self._fields([self.options.external_id_field], writable=False)[self.options.external_id_field]
        if not (self._lead().field(ext) or {}).get("externalId"):
            raise ApiConfigError(f"Lead.{ext} is not an External ID field; mark it External ID (and Unique) in the "
                                 "partner's org, so a retry updates the lead it created instead of adding another")
        return ext

    def _withdrawal_value(self) -> tuple[str, Any]:
        spelled = self._fields([self.options.withdrawal_field])[self.options.withdrawal_field]
        entry = self._lead().field(spelled) or {}
        value = self.options.withdrawal_value
        allowed = [p["value"] for p in entry.get("picklistValues") or [] if p.get("active", True)]
        if entry.get("restrictedPicklist") and value not in allowed:
            raise ApiConfigError(f"'{value}' is not a value of Lead.{spelled} in the partner's org (allowed: "
                                 f"{', '.join(allowed)}); fix crm.withdrawal")
        return spelled, field_value(value, str(entry.get("type") or "string"))

    def _reopen_value(self, spelled: str) -> Any:
        """What a withdrawal mark goes back to when the partner gets the lead again: the picklist's default
        (a status), else cleared."""
        entry = self._lead().field(spelled) or {}
        default = next((p["value"] for p in entry.get("picklistValues") or [] if p.get("defaultValue")), None)
        if default is not None:
            return default
        return False if entry.get("type") == "boolean" else field_value("", "string")

    def check(self) -> None:
        self.client.forget_session()
        self.client.describe(LEAD, fresh=True)
        self._external_id()
        self._fields(_CHANGE_FIELDS, writable=False)
        self._withdrawal_value()
        if self.options.campaign_target:
            self._fields([self.options.campaign_target])

    # ------------------------------------------------------------------ users and records

    def _users(self, emails: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """Lower-case email → (user id, name) of the org's active users with these emails."""
        wanted = sorted({e.strip().lower() for e in emails if e and e.strip()})
        found: dict[str, tuple[str, str | None]] = {}
        for chunk in chunks(wanted):
            soql = "SELECT Id, Name, Email FROM User WHERE IsActive = true AND Email IN " + in_list(chunk, "email")
            for record in self.client.records(soql, "look up lead owners among the partner's users"):
                if record.get("Email"):
                    found.setdefault(record["Email"].lower(), (record["Id"], record.get("Name")))
        return found

    def _records_by_external_id(self, ext: str, external_ids: Iterable[str]) -> dict[str, dict]:
        ids = sorted({str(e) for e in external_ids})
        found: dict[str, dict] = {}
        for chunk in chunks(ids):
            soql = f"SELECT Id, {ext}, Owner.Email FROM Lead WHERE {ext} IN " + in_list(chunk, "string", ext)
            for record in self.client.records(soql, "read back the partner's leads by external id"):
                found[str(record[ext])] = record
        return found

    # ------------------------------------------------------------------ writes

    def upsert_leads(self, leads: Sequence[CrmLead]) -> list[CrmWriteResult]:
        if not leads:
            return []
        described = self._lead()
        ext = self._external_id()
        target = self.options.campaign_target
        names = {n for lead in leads for n in lead.values} | ({target} if target else set())
        fields = self._fields(names)
        mark_field, _ = self._withdrawal_value()
        reopen = self._reopen_value(mark_field) if any(lead.reopen for lead in leads) else None
        users = self._users(e for lead in leads for e in lead.owner_emails)
        rows, notes = [], []
        for lead in leads:
            values: dict[str, Any] = {ext: lead.external_id}
            for name, value in lead.values.items():
                if not is_missing(value) and value != "":
                    values[fields[name]] = field_value(value, described.type_of(fields[name]))
            if target and lead.campaign:
                values[fields[target]] = lead.campaign
            if lead.reopen:
                values[mark_field] = reopen
            owner = next((users[e.lower()] for e in lead.owner_emails if e.lower() in users), None)
            skipped = [e for e in lead.owner_emails if e.lower() not in users]
            lead_notes = tuple(f"{e} is not an active user of the partner's Salesforce org" for e in skipped)
            if lead.owner_emails and owner is None:
                rows.append(WriteRow(lead.external_id, error=(
                    f"no owner: none of {', '.join(lead.owner_emails)} is an active user of the partner's "
                    "Salesforce org; add the user there or change crm.owner.default_email / the partner's reps")))
            else:
                if owner is not None:
                    values["OwnerId"] = owner[0]
                rows.append(WriteRow(lead.external_id, values))
            notes.append(lead_notes)
        written = self.writer.write(LEAD, rows, ext, upsert=True)
        ok_ids = [str(k) for k, ok in zip(written["key"], written["ok"], strict=True) if ok]
        records = self._records_by_external_id(ext, ok_ids)
        errors = self._join_campaigns(leads, records) if self.options.campaign_mode == "campaign" else {}
        results = []
        for lead, lead_notes, ok, error in zip(leads, notes, written["ok"], written["error"], strict=True):
            record = records.get(lead.external_id) or {}
            if ok and not record:
                ok, error = False, "written, but not found again by its external id"
            if ok and lead.external_id in errors:
                ok, error = False, errors[lead.external_id]
            owner_email = ((record.get("Owner") or {}).get("Email") or "").lower() or None
            results.append(CrmWriteResult(lead.external_id, bool(ok), record.get("Id"), owner_email,
                                          None if ok else str(error), lead_notes))
        return results

    def _join_campaigns(self, leads: Sequence[CrmLead], records: dict[str, dict]) -> dict[str, str]:
        """Make each lead a member of its campaign (found by name, created when allowed); external id →
        error for the leads that could not be added."""
        wanted = {lead.external_id: lead.campaign for lead in leads
                  if lead.campaign and lead.external_id in records}
        if not wanted:
            return {}
        campaigns: dict[str, str] = {}
        names = sorted(set(wanted.values()))
        for chunk in chunks(names):
            soql = "SELECT Id, Name FROM Campaign WHERE Name IN " + in_list(chunk)
            for record in self.client.records(soql, "find the partner's campaigns"):
                campaigns.setdefault(record["Name"].casefold(), record["Id"])
        errors: dict[str, str] = {}
        for name in names:
            if name.casefold() in campaigns:
                continue
            if not self.options.create_missing_campaigns:
                for ext, campaign in wanted.items():
                    if campaign == name:
                        errors[ext] = (f"campaign '{name}' is not in the partner's Salesforce org; create it there "
                                       "or set crm.campaign.create_missing: true")
                continue
            created = self.client.call(f"create campaign {name!r}", lambda sf, n=name: sf.Campaign.create(
                {"Name": n[:80], "IsActive": True}))
            campaigns[name.casefold()] = created["id"]
        lead_ids = {records[ext]["Id"]: ext for ext in wanted if ext not in errors}
        existing = set()
        for chunk in chunks(sorted(lead_ids)):
            soql = "SELECT LeadId, CampaignId FROM CampaignMember WHERE LeadId IN " + in_list(chunk)
            for record in self.client.records(soql, "read the leads' campaign memberships"):
                existing.add((record["LeadId"][:15], record["CampaignId"][:15]))
        members = []
        for lead_id, ext in lead_ids.items():
            campaign_id = campaigns[wanted[ext].casefold()]
            if (lead_id[:15], campaign_id[:15]) not in existing:
                members.append((ext, {"attributes": {"type": "CampaignMember"}, "LeadId": lead_id,
                                      "CampaignId": campaign_id}))
        for chunk in chunks(members, self.settings.collections_size):
            body = {"allOrNone": False, "records": [m for _, m in chunk]}
            answer = self.client.call("add leads to campaigns", lambda sf, b=body: sf.restful(
                "composite/sobjects", method="POST", json=b)) or []
            for (ext, _), result in zip(chunk, answer, strict=False):
                codes = [e.get("statusCode") for e in result.get("errors") or []]
                if not result.get("success") and "DUPLICATE_VALUE" not in codes:
                    errors[ext] = "campaign membership refused: " + "; ".join(
                        f"{e.get('statusCode')}: {e.get('message')}" for e in result.get("errors") or [])
        return errors

    def mark_withdrawn(self, external_ids: Sequence[str]) -> list[CrmWriteResult]:
        if not external_ids:
            return []
        ext = self._external_id()
        mark_field, value = self._withdrawal_value()
        records = self._records_by_external_id(ext, external_ids)
        rows = [WriteRow(e, {"Id": records[e]["Id"], mark_field: value}) for e in external_ids if e in records]
        written = self.writer.write(LEAD, rows, "Id", upsert=False) if rows else None
        outcome = {} if written is None else {
            str(k): (bool(ok), None if ok else str(err))
            for k, ok, err in zip(written["key"], written["ok"], written["error"], strict=True)}
        results = []
        for e in external_ids:
            if e not in records:
                results.append(CrmWriteResult(e, True, notes=("not in the partner's org any more: nothing to mark",)))
                continue
            ok, error = outcome.get(e, (False, "no result returned for this record"))
            results.append(CrmWriteResult(e, ok, records[e]["Id"], error=error))
        return results

    # ------------------------------------------------------------------ reads

    def changed_leads(self, since: datetime | None) -> list[CrmLeadState]:
        ext = self._external_id()
        fields = self._fields(_CHANGE_FIELDS, writable=False)
        selected = list(dict.fromkeys([fields[f] for f in _CHANGE_FIELDS] + [ext]))
        where = f"{ext} != null"
        if since is not None:
            moment = datetime_literal(since)
            where += f" AND (SystemModstamp >= {moment} OR ConvertedOpportunity.SystemModstamp >= {moment})"
        soql = f"SELECT {', '.join(selected)} FROM Lead WHERE {where} ORDER BY SystemModstamp, Id"
        states = [self._state(record, ext)
                  for record in self.client.records(soql, "read the partner's changes to leadsync's leads")]
        return sorted(states, key=lambda s: (s.modified_at, s.record_id))

    @staticmethod
    def _state(record: dict, ext: str) -> CrmLeadState:
        owner = record.get("Owner") or {}
        opp = record.get("ConvertedOpportunity") or {}
        modified = parse_datetime(record["SystemModstamp"])
        opportunity = None
        if record.get("ConvertedOpportunityId"):
            if opp.get("SystemModstamp"):
                modified = max(modified, parse_datetime(opp["SystemModstamp"]))
            amount = opp.get("Amount")
            close = opp.get("CloseDate")
            opportunity = CrmOpportunity(record["ConvertedOpportunityId"], opp.get("Name"), opp.get("StageName"),
                                         float(amount) if amount is not None else None,
                                         date.fromisoformat(str(close)[:10]) if close else None)
        return CrmLeadState(
            external_id=str(record[ext]), record_id=record["Id"], status=record.get("Status"),
            owner_name=owner.get("Name"), owner_email=(owner.get("Email") or "").lower() or None,
            converted=bool(record.get("IsConverted")), opportunity=opportunity, modified_at=modified)

    def crm_only_opportunities(self, since: datetime | None) -> list[CrmOnlyOpportunity]:
        ext = self._external_id()
        self.client.describe(OPPORTUNITY).require(list(_OPPORTUNITY_FIELDS))
        where = f" WHERE SystemModstamp >= {datetime_literal(since)}" if since is not None else ""
        soql = f"SELECT {', '.join(_OPPORTUNITY_FIELDS)} FROM Opportunity{where} ORDER BY SystemModstamp, Id"
        records = list(self.client.records(soql, "read the partner's opportunities"))
        ours: set[str] = set()
        for chunk in chunks(sorted(r["Id"] for r in records)):
            soql = (f"SELECT ConvertedOpportunityId FROM Lead WHERE {ext} != null AND ConvertedOpportunityId IN "
                    + in_list(chunk))
            for lead in self.client.records(soql, "find the opportunities of leadsync's leads"):
                if lead.get("ConvertedOpportunityId"):
                    ours.add(lead["ConvertedOpportunityId"][:15])
        found = []
        for r in records:
            if r["Id"][:15] in ours:
                continue
            close = r.get("CloseDate")
            found.append(CrmOnlyOpportunity(
                record_id=r["Id"], name=r.get("Name"), stage=r.get("StageName"),
                amount=float(r["Amount"]) if r.get("Amount") is not None else None,
                close_date=date.fromisoformat(str(close)[:10]) if close else None,
                created_at=parse_datetime(r["CreatedDate"]), modified_at=parse_datetime(r["SystemModstamp"])))
        return sorted(found, key=lambda o: (o.modified_at, o.record_id))
