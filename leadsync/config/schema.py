"""The YAML a data engineer edits, as pydantic models.

Every model forbids unknown keys, so a typo'd key is an error that names the key path rather than a
setting silently ignored. Cross-references (a rule naming a partner, a uniqueness key naming a field)
are checked here too, with the allowed values in the message.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadsync.config.api_sources import (
    NURTURE_TARGETS,
    EloquaConnection,
    FollowSourceConfig,
    MarketoConnection,
    NurtureConfig,
    PullConfig,
    SalesforceConnection,
    WritebackConfig,
)
from leadsync.config.cron import check_cron
from leadsync.config.partners import ConflictPolicy, Rule
from leadsync.config.sftp_campaigns import CampaignColumn, check_campaign_columns

IDENTIFIER = r"^[a-z][a-z0-9_]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldType(str, Enum):
    string = "string"
    number = "number"
    datetime = "datetime"
    picklist = "picklist"
    multi_picklist = "multi_picklist"


_TEXT = (FieldType.string, FieldType.picklist, FieldType.multi_picklist)
# Standard lead fields have their own typed column in the store (see store/tables.py).
STANDARD_FIELD_TYPES: dict[str, tuple[FieldType, ...]] = {
    **{name: _TEXT for name in (
        "email", "first_name", "last_name", "company", "title", "phone", "country", "state",
        "postal_code", "city", "lead_type", "products", "campaign", "partner_name", "account_id")},
    "created_at": (FieldType.datetime,),
}


class FieldMapping(Strict):
    """One source column mapped to one lead field."""

    column: str = Field(description="Column (or field) name in the source, matched case-insensitively.")
    field: Annotated[str, Field(pattern=IDENTIFIER)] = Field(description="Lead field it becomes.")
    label: str | None = Field(None, description="Label partners see; defaults to the column name.")
    type: FieldType = FieldType.string
    required: bool = False
    shared: bool = Field(True, description="Shown to partners; false keeps the field internal-only.")
    values: list[str] | None = Field(None, description="Allowed values of a picklist / multi_picklist.")
    separator: str = Field(";", description="Separator between values of a multi_picklist.")
    format: Literal["email"] | str | None = Field(
        None, description="'email' for strings; a strptime format such as '%m/%d/%Y' for datetimes."
    )
    max_length: int | None = Field(
        None, gt=0, le=1_000_000, description="Longest value accepted; longer ones quarantine the row (or are cut, "
                                              "with truncate: true). Default: the source's cells.max_length.")
    truncate: bool = Field(False, description="Cut a value longer than max_length to it instead of quarantining "
                                              "the row.")

    @model_validator(mode="after")
    def _picklists_need_values(self) -> FieldMapping:
        if self.type in (FieldType.picklist, FieldType.multi_picklist):
            if not self.values:
                raise ValueError(f"field '{self.field}' is a {self.type.value}: list its allowed 'values'")
            bad = [v for v in self.values if self.separator in v]
            if self.type is FieldType.multi_picklist and bad:
                raise ValueError(f"values {bad} contain the separator {self.separator!r}")
        elif self.values is not None:
            raise ValueError(f"'values' only applies to picklist and multi_picklist, not {self.type.value}")
        if self.format is not None and self.type not in (FieldType.string, FieldType.datetime):
            raise ValueError("'format' only applies to string (email) and datetime fields")
        if self.type is FieldType.string and self.format not in (None, "email"):
            raise ValueError(f"string fields accept format 'email' only, not {self.format!r}")
        return self

    @property
    def display_label(self) -> str:
        return self.label or self.column


class CellPolicy(Strict):
    """What any one value of a source may hold, enforced by the intake for every field."""

    max_length: int = Field(
        10_000, ge=1, le=1_000_000, description="Longest value of any field without its own max_length; a longer "
                                                "one quarantines the row (or is cut: the field's truncate).")
    control_characters: Literal["strip", "quarantine"] = Field(
        "strip", description="NUL and the other control characters (not TAB, line feed, carriage return): "
                             "strip them from the value, or quarantine the row naming the column.")


class Uniqueness(Strict):
    """What makes a lead unique within a source.

    every_record: each record is its own lead: an SFTP row; an API source's record (by its id), a newer
      version of which updates the lead. For sources whose records are people you follow over time.
    every_send: each version of a record the source sends is a new lead (a duplicate of the earlier ones);
      SFTP rows are the same as every_record. For sources where each send is a fresh hand-raise (a form
      filled in again, a new campaign response) that partners must work again.
    key: records sharing the key fields are one lead; a later record updates it.

    Marketo and Eloqua default to every_record, not the seed's every_send: switching would make every edit a
    marketer makes to a record (and each follow-up pull of it) a new lead for projects written before.
    """

    mode: Literal["every_record", "every_send", "key"] = "every_record"
    key: list[str] = Field(default_factory=list, description="Lead fields forming the key (mode: key).")

    @model_validator(mode="after")
    def _key_matches_mode(self) -> Uniqueness:
        if self.mode == "key" and not self.key:
            raise ValueError("mode 'key' needs 'key': the lead fields that make a lead unique, e.g. [email]")
        if self.mode != "key" and self.key:
            raise ValueError(f"'key' is only used with mode 'key', not {self.mode!r}")
        return self


class SftpFolders(Strict):
    inbox: str = "inbox"
    processed: str = "processed"
    error: str = "error"
    outbox: str = "outbox"


class SftpConnection(Strict):
    host: str
    port: int = Field(22, ge=1, le=65535)
    username: str
    password_env: str | None = Field(None, description="Environment variable holding the password.")
    private_key_path: str | None = None
    known_hosts: str | None = Field(None, description="known_hosts file (relative to the project root).")
    host_key: str | None = Field(None, description="The server's public key line, instead of known_hosts.")
    folders: SftpFolders = SftpFolders()
    timeout_s: float = Field(15.0, gt=0, le=600)

    @model_validator(mode="after")
    def _auth_and_host_key(self) -> SftpConnection:
        if not (self.password_env or self.private_key_path):
            raise ValueError("give 'password_env' (an environment variable name) or 'private_key_path'")
        if not (self.known_hosts or self.host_key):
            raise ValueError("host keys are always checked: give 'known_hosts' or 'host_key'")
        return self


class Segregation(Strict):
    """Leads the source holds back: stored, never routed, never written back. The conditions are routing
    rules over the source's mapped lead fields (field, op, value: the operators and matching of
    partners.yaml's literal rules); `all` needs every condition to hold, `any` one of them."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    all_of: list[Rule] | None = Field(None, alias="all", description="Conditions that must all hold.")
    any_of: list[Rule] | None = Field(None, alias="any", description="Conditions of which one must hold.")

    @model_validator(mode="after")
    def _one_list_of_literal_rules(self) -> Segregation:
        if (self.all_of is None) == (self.any_of is None):
            raise ValueError("segregate takes exactly one of 'all' or 'any', holding a list of conditions "
                             "such as {field: country, op: in, value: [US, CA]}")
        for rule in self.rules:
            if rule.partner_attribute is not None or rule.required or rule.optional:
                raise ValueError(f"segregate condition on '{rule.field}': give 'field', 'op' and 'value' only "
                                 "(partner_attribute, required and optional are routing-only)")
        if not self.rules:
            raise ValueError("segregate: the list of conditions is empty; give at least one or remove segregate")
        return self

    @property
    def rules(self) -> list[Rule]:
        return list(self.all_of if self.all_of is not None else self.any_of or [])

    @property
    def match(self) -> Literal["all", "any"]:
        return "all" if self.all_of is not None else "any"


SOURCE_TYPES = ("sftp", "salesforce", "marketo", "eloqua")
RECORD_ID_COLUMNS = {"salesforce": "Id", "marketo": "id", "eloqua": "ContactID"}


class SourceConfig(Strict):
    """One file under mappings/sources/: a source system and how its records become leads.
    The `type` picks the subclass (SOURCE_MODELS) that adds the connection and the type's own sections."""

    name: Annotated[str, Field(pattern=IDENTIFIER)]
    type: str
    description: str = ""
    contacts: list[str] = Field(default_factory=list, description="Supplier contacts emailed on a bad pull.")
    uniqueness: Uniqueness = Uniqueness()
    segregate: Segregation | None = Field(
        None, description="{all|any: [{field, op, value}]}: leads matching are stored but never routed or "
                          "written back (routing rule operators over mapped lead fields).")
    partner_field: str | None = Field(None, description="Lead field that names the partner (a CSV column).")
    upload_partner: str | None = Field(None, description="One partner id chosen for every lead of the source.")
    quarantine_warn_ratio: float = Field(0.05, ge=0, le=1)
    cells: CellPolicy = CellPolicy()
    schedule: str | None = Field(
        "*/30 * * * *", description="Cron for this source's pull-to-writeback job (UTC); null: no schedule.")
    fields: list[FieldMapping]
    conflict: ConflictPolicy | None = Field(
        None, description="Channel-conflict policy for this source's leads (over partners.yaml routing.conflict).")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            check_cron(v)  # a CronError is a ValueError: pydantic reports it at the `schedule` key
        return v

    @field_validator("contacts")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", c)]
        if bad:
            raise ValueError(f"not email addresses: {bad}")
        return v

    @model_validator(mode="after")
    def _references(self) -> SourceConfig:
        names = [f.field for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"lead fields mapped twice: {dupes}")
        cols = [f.column.strip().lower() for f in self.fields]
        dupe_cols = sorted({c for c in cols if cols.count(c) > 1})
        if dupe_cols:
            raise ValueError(f"source columns mapped twice: {dupe_cols}")
        if "email" not in names:
            raise ValueError("every source must map a column to the lead field 'email' (leads need an email)")
        for k in self.uniqueness.key:
            if k not in names:
                raise ValueError(f"uniqueness key '{k}' is not a mapped lead field; mapped fields: {names}")
        for f in self.fields:
            expected = STANDARD_FIELD_TYPES.get(f.field)
            if expected and f.type not in expected:
                allowed = " or ".join(t.value for t in expected)
                raise ValueError(f"lead field '{f.field}' is a standard field stored as {allowed}; not {f.type.value}")
        if isinstance(self.segregate, Segregation):
            for rule in self.segregate.rules:
                if rule.field not in names:
                    raise ValueError(f"segregate: condition field '{rule.field}' is not a mapped lead field; "
                                     f"map it under 'fields' or use one of: {names}")
        if self.partner_field and self.partner_field not in names:
            raise ValueError(f"partner_field '{self.partner_field}' is not a mapped lead field; mapped: {names}")
        return self

    def field(self, name: str) -> FieldMapping | None:
        return next((f for f in self.fields if f.field == name), None)

    @property
    def is_api(self) -> bool:
        return self.type != "sftp"

    @property
    def record_id_column(self) -> str | None:
        """The column holding the source's own record id (API sources), written back to."""
        return RECORD_ID_COLUMNS.get(self.type)


class SftpWriteback(Strict):
    """How the status file goes back to the SFTP source."""

    neutralise_formulas: bool = Field(
        True, description="Cells a spreadsheet would run as a formula (=, +, -, @, TAB, CR first) get a leading "
                          "apostrophe. false: raw values for a machine consumer; text a partner typed (reject "
                          "comments, rep, opportunity and event names) is made inert regardless.")


MB = 1 << 20


class SftpFiles(Strict):
    """Which inbox files a pull reads, and what one file (and one run) may cost."""

    settle_seconds: float = Field(
        2.0, ge=0, le=3600, description="A file is read once its size and modification time have held this "
                                        "long (a file still being uploaded is left for the next run).")
    done_marker: str | None = Field(
        None, pattern=r"^\.[A-Za-z0-9_.-]{1,20}$",
        description="e.g. '.done': a file is read only once '<name>.done' is in the inbox too (removed after).")
    max_file_bytes: int = Field(
        200 * MB, ge=1, le=50 * 1024 * MB, description="Largest file (uncompressed: an XLSX by its inflated "
                                                       "size) read; a larger one goes to error/.")
    max_file_rows: int = Field(2_000_000, ge=1, le=100_000_000, description="Most data rows read from one file.")
    max_run_bytes: int = Field(
        1024 * MB, ge=1, le=500 * 1024 * MB, description="Most bytes one run reads; later files wait for the next run.")
    max_run_rows: int = Field(
        10_000_000, ge=1, le=1_000_000_000, description="Most rows one run reads; later files wait for the next run.")
    duplicate_files: Literal["skip", "warn", "ingest"] = Field(
        "skip", description="A file whose content was received before under another name: skip (moved to "
                            "processed/, nothing stored, a warning naming the earlier file), warn (stored again, "
                            "with the warning) or ingest (stored again, silently).")


class SftpSource(SourceConfig):
    """CSV/XLSX files dropped on an SFTP server."""

    type: Literal["sftp"]
    connection: SftpConnection
    writeback: SftpWriteback = SftpWriteback()
    files: SftpFiles = SftpFiles()
    campaign_columns: list[CampaignColumn] = Field(
        default_factory=list, max_length=100,
        description="Columns describing the row's campaign (description, dates, custom fields with labels).")

    @model_validator(mode="after")
    def _campaign_columns(self) -> SftpSource:
        check_campaign_columns(self.campaign_columns, [f.field for f in self.fields])
        return self


class ApiSource(SourceConfig):
    """A vendor API (Salesforce, Marketo, Eloqua): records pulled incrementally, outcomes written back.
    By default every source record (by its id) is one lead; a newer version of the record updates it."""

    pull: PullConfig = PullConfig()
    writeback: WritebackConfig = WritebackConfig()
    nurture: NurtureConfig | None = Field(
        None, description="Enrol leads in the source's nurture campaign/program/list on Contacted or Nurture, "
                          "remove them on Unqualified or Converted.")

    follow_source: FollowSourceConfig | None = Field(
        None, description="Source fields whose changes by the supplier's team become lifecycle events.")

    @model_validator(mode="after")
    def _nurture_target(self) -> ApiSource:
        allowed = NURTURE_TARGETS.get(self.type, ())
        if self.nurture is not None and self.nurture.target not in allowed:
            raise ValueError(f"nurture.target: {self.type} sources nurture into {' or '.join(allowed)}, "
                             f"not {self.nurture.target}")
        return self


class SalesforceSource(ApiSource):
    """Salesforce Leads (or Contacts). Unless the YAML says otherwise, a lead is unique by email and
    campaign (when a column is mapped to `campaign`), else by email."""

    type: Literal["salesforce"]
    connection: SalesforceConnection
    segregate: dict[str, list[dict]] | None = Field(
        None, description="{any|all: [{field: F, equals|not_equals|in|not_in|starts_with|ends_with|contains|"
                          "is_null|gt|gte|lt|lte: value}]}: matching records are stored but never routed.")

    @model_validator(mode="before")
    @classmethod
    def _default_uniqueness(cls, data: object) -> object:
        if isinstance(data, dict) and "uniqueness" not in data:
            mapped = {f.get("field") for f in data.get("fields") or [] if isinstance(f, dict)}
            key = ["email", "campaign"] if "campaign" in mapped else ["email"]
            data = {**data, "uniqueness": {"mode": "key", "key": key}}
        return data


class MarketoSource(ApiSource):
    type: Literal["marketo"]
    connection: MarketoConnection


class EloquaSource(ApiSource):
    type: Literal["eloqua"]
    connection: EloquaConnection


SOURCE_MODELS: dict[str, type[SourceConfig]] = {
    "sftp": SftpSource, "salesforce": SalesforceSource, "marketo": MarketoSource, "eloqua": EloquaSource}


# Partners and routing live in their own module; re-exported here for callers that import the whole schema.
from leadsync.config.partners import (  # noqa: F401
    PARTNER_ATTRIBUTES,
    Partner,
    PartnersConfig,
    ProtectedAccount,
    Rep,
    Routing,
    RuleGroup,
)

