"""The objects leadsync reads and writes, with Salesforce's standard fields (Object Reference), the custom
fields leadsync's writeback targets, and the supplier's own custom fields on Lead that routing reads
(Product_Interest__c, a multi-select picklist; Lead_Type__c, a picklist). `Schema.default()` starts from these."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadsync.connectors.salesforce.sandbox.schema import FieldSpec as F
from leadsync.connectors.salesforce.sandbox.schema import ObjectSpec

USER_REF = ("User",)

LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Trade Show", "Webinar",
                "Advertisement", "Employee Referral", "Other")
INDUSTRIES = ("Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
              "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
              "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government", "Healthcare",
              "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit",
              "Recreation", "Retail", "Shipping", "Technology", "Telecommunications", "Transportation",
              "Utilities", "Other")
RATINGS = ("Hot", "Warm", "Cold")
SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")
CAMPAIGN_TYPES = ("Advertisement", "Email", "Telemarketing", "Banner Ads", "Seminar / Conference",
                  "Public Relations", "Partners", "Referral Program", "Webinar", "Trade Show", "Other")
CAMPAIGN_STATUSES = ("Planned", "In Progress", "Completed", "Aborted")
MEMBER_STATUSES = ("Planned", "Sent", "Received", "Responded", "Attended")
TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
ACTIVITY_TYPES = ("Call", "Email", "Meeting", "Other")
OPPORTUNITY_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
                      "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
                      "Negotiation/Review", "Closed Won", "Closed Lost")
ACCOUNT_TYPES = ("Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
                 "Installation Partner", "Technology Partner", "Other")
PRODUCTS = ("Firewall", "Endpoint", "Cloud Backup", "SD-WAN", "Email Security")
LEAD_TYPES = ("SMB", "Mid-Market", "Enterprise")

DISTRIBUTION_STATUSES = ("routed", "unassigned", "accepted", "rejected", "withdrawn", "rerouted",
                         "needs_review", "registered")
SALES_STATUSES = ("Not Contacted", "Contacted", "Nurture", "Converted Opportunity", "Unqualified")


def _full_name(values: Mapping[str, Any]) -> str | None:
    parts = [values.get("FirstName"), values.get("LastName")]
    joined = " ".join(p for p in parts if p)
    return joined or None


def _name() -> F:
    return F("Name", "string", "Full Name", length=121, createable=False, updateable=False, name_field=True,
             compute=_full_name, depends_on=("FirstName", "LastName"))


def _head() -> list[F]:
    return [F("Id", "id", "Record ID", createable=False, updateable=False),
            F("IsDeleted", "boolean", "Deleted", createable=False, updateable=False, default_value=False)]


def _owner() -> F:
    return F("OwnerId", "reference", "Owner ID", reference_to=USER_REF, relationship_name="Owner")


def _audit() -> list[F]:
    return [F("CreatedDate", "datetime", "Created Date", createable=False, updateable=False),
            F("CreatedById", "reference", "Created By ID", reference_to=USER_REF, relationship_name="CreatedBy",
              createable=False, updateable=False),
            F("LastModifiedDate", "datetime", "Last Modified Date", createable=False, updateable=False),
            F("LastModifiedById", "reference", "Last Modified By ID", reference_to=USER_REF,
              relationship_name="LastModifiedBy", createable=False, updateable=False),
            F("SystemModstamp", "datetime", "System Modstamp", createable=False, updateable=False)]


def _picklist(name: str, label: str, values: tuple[str, ...], *, restricted: bool = False,
              required: bool = False, default: str | None = None) -> F:
    return F(name, "picklist", label, picklist_values=values, restricted_picklist=restricted,
             required=required, default_value=default)


def leadsync_person_fields() -> list[F]:
    """The writeback fields leadsync sets on Lead and Contact."""
    return [
        _picklist("LeadSync_Distribution_Status__c", "LeadSync Distribution Status", DISTRIBUTION_STATUSES,
                  restricted=True),
        F("LeadSync_Partner__c", "string", "LeadSync Partner", length=255),
        F("LeadSync_Rejection_Reason__c", "textarea", "LeadSync Rejection Reason", length=1000),
        _picklist("LeadSync_Sales_Status__c", "LeadSync Sales Status", SALES_STATUSES, restricted=True),
        F("LeadSync_Rep_Name__c", "string", "LeadSync Rep Name", length=120),
        F("LeadSync_Rep_Email__c", "email", "LeadSync Rep Email"),
        F("LeadSync_Lead_Key__c", "string", "LeadSync Lead Key", length=64, external_id=True, unique=True),
    ]


def _obj(name: str, prefix: str, label: str, plural: str, fields: list[F]) -> ObjectSpec:
    return ObjectSpec(name, prefix, label, plural, {spec.name: spec for spec in fields})


def _address(prefix: str, label: str) -> list[F]:
    return [F(f"{prefix}Street", "textarea", f"{label} Street", length=255),
            F(f"{prefix}City", "string", f"{label} City", length=40),
            F(f"{prefix}State", "string", f"{label} State/Province", length=80),
            F(f"{prefix}PostalCode", "string", f"{label} Zip/Postal Code", length=20),
            F(f"{prefix}Country", "string", f"{label} Country", length=80)]


def standard_objects() -> list[ObjectSpec]:
    user = _obj("User", "005", "User", "Users", [
        *_head()[:1],
        F("Username", "string", "Username", length=80, required=True, unique=True),
        F("FirstName", "string", "First Name", length=40),
        F("LastName", "string", "Last Name", length=80, required=True),
        _name(),
        F("Email", "email", "Email", required=True),
        F("Alias", "string", "Alias", length=8),
        F("Title", "string", "Title", length=80),
        F("IsActive", "boolean", "Active", default_value=True),
        *_audit()])
    account = _obj("Account", "001", "Account", "Accounts", [
        *_head(),
        F("Name", "string", "Account Name", required=True, name_field=True),
        _picklist("Type", "Account Type", ACCOUNT_TYPES),
        _picklist("Industry", "Industry", INDUSTRIES),
        *_address("Billing", "Billing"),
        F("Phone", "phone", "Account Phone"),
        F("Website", "url", "Website"),
        F("AnnualRevenue", "currency", "Annual Revenue"),
        F("NumberOfEmployees", "int", "Employees", precision=8),
        F("Description", "textarea", "Account Description"),
        _owner(), *_audit()])
    lead = _obj("Lead", "00Q", "Lead", "Leads", [
        *_head(),
        F("LastName", "string", "Last Name", length=80, required=True),
        F("FirstName", "string", "First Name", length=40),
        _picklist("Salutation", "Salutation", SALUTATIONS),
        _name(),
        F("Title", "string", "Title", length=128),
        F("Company", "string", "Company", required=True),
        F("Street", "textarea", "Street", length=255),
        F("City", "string", "City", length=40),
        F("State", "string", "State/Province", length=80),
        F("PostalCode", "string", "Zip/Postal Code", length=20),
        F("Country", "string", "Country", length=80),
        F("Phone", "phone", "Phone"),
        F("MobilePhone", "phone", "Mobile Phone"),
        F("Email", "email", "Email"),
        F("Website", "url", "Website"),
        F("Description", "textarea", "Description"),
        _picklist("LeadSource", "Lead Source", LEAD_SOURCES),
        _picklist("Status", "Lead Status", LEAD_STATUSES, restricted=True, required=True,
                  default="Open - Not Contacted"),
        _picklist("Industry", "Industry", INDUSTRIES),
        _picklist("Rating", "Rating", RATINGS),
        F("AnnualRevenue", "currency", "Annual Revenue"),
        F("NumberOfEmployees", "int", "Employees", precision=8),
        _owner(),
        F("HasOptedOutOfEmail", "boolean", "Email Opt Out", default_value=False),
        F("DoNotCall", "boolean", "Do Not Call", default_value=False),
        F("IsConverted", "boolean", "Converted", createable=False, updateable=False, default_value=False),
        F("ConvertedDate", "date", "Converted Date", createable=False, updateable=False),
        F("ConvertedAccountId", "reference", "Converted Account ID", reference_to=("Account",),
          relationship_name="ConvertedAccount", createable=False, updateable=False),
        F("ConvertedContactId", "reference", "Converted Contact ID", reference_to=("Contact",),
          relationship_name="ConvertedContact", createable=False, updateable=False),
        F("ConvertedOpportunityId", "reference", "Converted Opportunity ID", reference_to=("Opportunity",),
          relationship_name="ConvertedOpportunity", createable=False, updateable=False),
        F("EmailBouncedReason", "string", "Email Bounced Reason"),
        F("EmailBouncedDate", "datetime", "Email Bounced Date"),
        *_audit(),
        F("LastActivityDate", "date", "Last Activity", createable=False, updateable=False),
        *leadsync_person_fields(),
        # the supplier's custom fields (an admin's, as in a real org): what the lead wants, and its segment
        F("Product_Interest__c", "multipicklist", "Product Interest", picklist_values=PRODUCTS),
        _picklist("Lead_Type__c", "Lead Type", LEAD_TYPES),
    ])
    contact = _obj("Contact", "003", "Contact", "Contacts", [
        *_head(),
        F("AccountId", "reference", "Account ID", reference_to=("Account",), relationship_name="Account"),
        F("LastName", "string", "Last Name", length=80, required=True),
        F("FirstName", "string", "First Name", length=40),
        _picklist("Salutation", "Salutation", SALUTATIONS),
        _name(),
        *_address("Mailing", "Mailing"),
        F("Phone", "phone", "Business Phone"),
        F("MobilePhone", "phone", "Mobile Phone"),
        F("Email", "email", "Email"),
        F("Title", "string", "Title", length=128),
        F("Department", "string", "Department", length=80),
        _picklist("LeadSource", "Lead Source", LEAD_SOURCES),
        F("Description", "textarea", "Contact Description"),
        _owner(),
        F("HasOptedOutOfEmail", "boolean", "Email Opt Out", default_value=False),
        F("DoNotCall", "boolean", "Do Not Call", default_value=False),
        *_audit(),
        F("LastActivityDate", "date", "Last Activity", createable=False, updateable=False),
        *leadsync_person_fields(),
    ])
    campaign = _obj("Campaign", "701", "Campaign", "Campaigns", [
        *_head(),
        F("Name", "string", "Campaign Name", length=80, required=True, name_field=True),
        F("ParentId", "reference", "Parent Campaign ID", reference_to=("Campaign",), relationship_name="Parent"),
        _picklist("Type", "Type", CAMPAIGN_TYPES),
        _picklist("Status", "Status", CAMPAIGN_STATUSES, default="Planned"),
        F("StartDate", "date", "Start Date"),
        F("EndDate", "date", "End Date"),
        F("ExpectedRevenue", "currency", "Expected Revenue in Campaign"),
        F("BudgetedCost", "currency", "Budgeted Cost in Campaign"),
        F("ActualCost", "currency", "Actual Cost in Campaign"),
        F("IsActive", "boolean", "Active", default_value=False),
        F("Description", "textarea", "Description"),
        _owner(), *_audit()])
    member = _obj("CampaignMember", "00v", "Campaign Member", "Campaign Members", [
        *_head(),
        F("CampaignId", "reference", "Campaign ID", reference_to=("Campaign",), relationship_name="Campaign",
          required=True, updateable=False),
        F("LeadId", "reference", "Lead ID", reference_to=("Lead",), relationship_name="Lead", updateable=False),
        F("ContactId", "reference", "Contact ID", reference_to=("Contact",), relationship_name="Contact",
          updateable=False),
        _picklist("Status", "Status", MEMBER_STATUSES, default="Sent"),
        F("HasResponded", "boolean", "Responded", createable=False, updateable=False,
          compute=lambda v: v.get("Status") in ("Responded", "Attended"), depends_on=("Status",)),
        F("FirstRespondedDate", "date", "First Responded Date", createable=False, updateable=False),
        *_audit()])
    activity_links = [
        F("WhoId", "reference", "Name ID", reference_to=("Contact", "Lead"), relationship_name="Who"),
        F("WhatId", "reference", "Related To ID", reference_to=("Account", "Opportunity", "Campaign"),
          relationship_name="What"),
    ]
    task = _obj("Task", "00T", "Task", "Tasks", [
        *_head(), *activity_links,
        F("Subject", "combobox", "Subject"),
        F("ActivityDate", "date", "Due Date Only"),
        _picklist("Status", "Status", TASK_STATUSES, restricted=True, required=True, default="Not Started"),
        _picklist("Priority", "Priority", ("High", "Normal", "Low"), restricted=True, required=True,
                  default="Normal"),
        _picklist("Type", "Type", ACTIVITY_TYPES),
        _picklist("TaskSubtype", "Task Subtype", ("Task", "Email", "ListEmail", "Cadence", "Call"),
                  restricted=True, default="Task"),
        F("Description", "textarea", "Description"),
        F("IsClosed", "boolean", "Closed", createable=False, updateable=False,
          compute=lambda v: v.get("Status") == "Completed", depends_on=("Status",)),
        F("CallDurationInSeconds", "int", "Call Duration"),
        _owner(), *_audit(),
        F("LeadSync_Event_Id__c", "string", "LeadSync Event Id", length=80, external_id=True),
    ])
    event = _obj("Event", "00U", "Event", "Events", [
        *_head(), *activity_links,
        F("Subject", "combobox", "Subject"),
        F("Location", "string", "Location"),
        F("IsAllDayEvent", "boolean", "All-Day Event", default_value=False),
        F("ActivityDateTime", "datetime", "Due Date Time"),
        F("ActivityDate", "date", "Due Date Only"),
        F("DurationInMinutes", "int", "Duration"),
        F("StartDateTime", "datetime", "Start Date Time"),
        F("EndDateTime", "datetime", "End Date Time"),
        _picklist("Type", "Type", ACTIVITY_TYPES),
        _picklist("ShowAs", "Show Time As", ("Busy", "OutOfOffice", "Free"), restricted=True, default="Busy"),
        F("Description", "textarea", "Description"),
        _owner(), *_audit()])
    opportunity = _obj("Opportunity", "006", "Opportunity", "Opportunities", [
        *_head(),
        F("AccountId", "reference", "Account ID", reference_to=("Account",), relationship_name="Account"),
        F("Name", "string", "Name", length=120, required=True, name_field=True),
        F("Description", "textarea", "Description"),
        _picklist("StageName", "Stage", OPPORTUNITY_STAGES, restricted=True, required=True),
        F("Amount", "currency", "Amount"),
        F("Probability", "percent", "Probability (%)", precision=3),
        F("CloseDate", "date", "Close Date", required=True),
        _picklist("Type", "Opportunity Type", ("Existing Customer - Upgrade", "Existing Customer - Replacement",
                                               "Existing Customer - Downgrade", "New Customer")),
        F("NextStep", "string", "Next Step"),
        _picklist("LeadSource", "Lead Source", LEAD_SOURCES),
        F("IsClosed", "boolean", "Closed", createable=False, updateable=False,
          compute=lambda v: v.get("StageName") in ("Closed Won", "Closed Lost"), depends_on=("StageName",)),
        F("IsWon", "boolean", "Won", createable=False, updateable=False,
          compute=lambda v: v.get("StageName") == "Closed Won", depends_on=("StageName",)),
        F("CampaignId", "reference", "Campaign ID", reference_to=("Campaign",), relationship_name="Campaign"),
        F("ContactId", "reference", "Contact ID", reference_to=("Contact",), relationship_name="Contact"),
        _owner(), *_audit(),
        F("LeadSync_External_Id__c", "string", "LeadSync External Id", length=255, external_id=True,
          unique=True),
        F("LeadSync_Partner__c", "string", "LeadSync Partner", length=255),
        F("LeadSync_Lead__c", "reference", "LeadSync Lead", reference_to=("Lead",),
          relationship_name="LeadSync_Lead__r"),
    ])
    return [user, account, lead, contact, campaign, member, task, event, opportunity]
