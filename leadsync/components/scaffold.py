"""`dg scaffold defs leadsync.components.<Component> <path>`: a commented defs.yaml that loads as written.

The attributes are leadsync's YAML (the file they would be under mappings/); the starters below are the
smallest working ones, each key commented where a value must be changed. Secrets are named, never written:
the variables go under requirements.env.
"""

from __future__ import annotations

import re
import textwrap
from typing import Literal

import dagster as dg
from pydantic import BaseModel, Field

from leadsync.config.schema import IDENTIFIER, SOURCE_TYPES

_STARTS = {
    "sftp": """\
      type: sftp
      description: Lead files (CSV or XLSX) dropped on the supplier's SFTP server
      contacts: []                      # emailed when a pull of this source fails
      connection:
        host: {host}
        port: {port}
        username: leads
        password_env: {ENV}_SFTP_PASSWORD     # the variable holding the password (or private_key_path)
        known_hosts: known_hosts        # the server's host key (relative to the project root), or host_key
        folders: {{inbox: inbox, processed: processed, error: error, outbox: outbox}}
      fields:                           # a column of the files -> a lead field
        - {{column: Email, field: email, format: email, required: true}}
        - {{column: First Name, field: first_name}}
        - {{column: Last Name, field: last_name}}
        - {{column: Company, field: company}}
        - {{column: Country, field: country}}""",
    "salesforce": """\
      type: salesforce
      description: Leads of the supplier's Salesforce org
      contacts: []
      connection:
        login_url: {url}                # or https://<domain>.my.salesforce.com
        auth: client_credentials        # or jwt (username + private_key_path) or password
        consumer_key_env: {ENV}_SALESFORCE_KEY
        consumer_secret_env: {ENV}_SALESFORCE_SECRET
        object: Lead
      fields:                           # a Lead field's API name -> a lead field
        - {{column: Email, field: email, format: email, required: true}}
        - {{column: FirstName, field: first_name}}
        - {{column: LastName, field: last_name}}
        - {{column: Company, field: company}}
        - {{column: Country, field: country}}""",
    "marketo": """\
      type: marketo
      description: Leads of the supplier's Marketo instance
      contacts: []
      connection:
        base_url: {url}                 # https://<munchkin id>.mktorest.com
        client_id_env: {ENV}_MARKETO_CLIENT_ID
        client_secret_env: {ENV}_MARKETO_CLIENT_SECRET
      fields:                           # a Marketo lead field's REST name -> a lead field
        - {{column: email, field: email, format: email, required: true}}
        - {{column: firstName, field: first_name}}
        - {{column: lastName, field: last_name}}
        - {{column: company, field: company}}
        - {{column: country, field: country}}""",
    "eloqua": """\
      type: eloqua
      description: Contacts of the supplier's Eloqua instance
      contacts: []
      connection:
        login_url: {url}                # https://login.eloqua.com for a real instance
        site: {Env}                     # the company (site) name
        username: Integration.User
        password_env: {ENV}_ELOQUA_PASSWORD
      fields:                           # an Eloqua contact field -> a lead field
        - {{column: C_EmailAddress, field: email, format: email, required: true}}
        - {{column: C_FirstName, field: first_name}}
        - {{column: C_LastName, field: last_name}}
        - {{column: C_Company, field: company}}
        - {{column: C_Country, field: country}}""",
}
_URLS = {"salesforce": "https://login.salesforce.com", "marketo": "https://123-ABC-456.mktorest.com",
         "eloqua": "https://login.eloqua.com"}

_ROUTING = """\
  partners:                           # who can receive leads
    - id: first_partner
      name: First Partner
      type: reseller
      countries: [US]
      users: [{name: Lead Desk, email: leads@first-partner.example}]   # notified of new leads
  routing:
    default_partner: null             # leads no rule matches wait in the unassigned queue
    accept_within_days: 5             # not accepted by then: withdrawn and routed again
    rule_groups:                      # groups are tried in order; rules inside a group must all hold
      - name: territory
        rules:
          - {field: country, op: in, partner_attribute: countries}"""

_LIFECYCLE = """\
  smtp:
    host: smtp.example.com            # the server partner emails go through
    port: 587
    security: starttls                # plain | starttls | ssl
    username: null                    # with password_env to log in
    password_env: null                # e.g. LEADSYNC_SMTP_PASSWORD
    from_address: partner-leads@example.com
  web:
    base_url: http://127.0.0.1:8040   # how partners reach `leadsync web`: the links in every email
    secret_env: LEADSYNC_LIFECYCLE_SECRET   # signs the links
  reject_reasons:                     # what a partner chooses from when rejecting a lead
    - {code: not_our_territory, label: Not in our territory}
    - {code: other, label: Other, comment: required}"""


def _header(type_name: str, what: str) -> str:
    return f"type: {type_name}\n\n# {what}\n# `leadsync check` explains every key; `dg check defs` applies the same rules.\nattributes:\n"


def _requirements(variables: list[str]) -> str:
    listed = "".join(f"\n    - {v}" for v in variables)
    return f"\n\n# The secrets' variables (read when a run needs them), for `dg list env`.\nrequirements:\n  env:{listed}\n"


class LeadSourceParams(BaseModel):
    type: Literal["sftp", "salesforce", "marketo", "eloqua"] = Field(
        "sftp", description="The kind of source: sftp, salesforce, marketo or eloqua.")
    host: str = Field("sftp.example.com", description="sftp: the server's host name.")
    port: int = Field(22, ge=1, le=65535, description="sftp: the server's port.")


class LeadSourceScaffolder(dg.Scaffolder[LeadSourceParams]):
    """Writes defs.yaml for a source named after the folder (`dg scaffold defs … my_source --type sftp`)."""

    @classmethod
    def get_scaffold_params(cls) -> type[LeadSourceParams]:
        return LeadSourceParams

    def scaffold(self, request: dg.ScaffoldRequest[LeadSourceParams]) -> None:
        name = request.target_path.name
        if not re.fullmatch(IDENTIFIER, name):
            raise ValueError(f"'{name}' cannot name a source: the folder's name becomes the source's name, which "
                             "must be lower case letters, digits and _ and start with a letter (e.g. "
                             f"{re.sub(r'[^a-z0-9_]', '_', name.lower()).strip('_') or 'my_source'})")
        params = request.params if request.params is not None else LeadSourceParams()
        if params.type not in SOURCE_TYPES:  # the Literal says so too; kept in step with the schema
            raise ValueError(f"--type {params.type}: one of {', '.join(SOURCE_TYPES)}")
        env = name.upper()
        body = textwrap.dedent(_STARTS[params.type]).format(
            host=params.host, port=params.port, url=_URLS.get(params.type, ""), ENV=env,
            Env="".join(part.title() for part in name.split("_")))
        secrets = re.findall(r"_env: (\S+)", body)
        text = (_header(request.type_name, f"Source '{name}': the YAML of mappings/sources/{name}.yaml.")
                + f"  name: {name}\n" + textwrap.indent(body, "  ") + _requirements(secrets))
        (request.target_path / "defs.yaml").write_text(text, encoding="utf-8")


class RoutingScaffolder(dg.Scaffolder):
    """Writes defs.yaml with one partner and one rule group (partners.yaml's shape)."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        text = _header(request.type_name, "Partners and routing rules: the YAML of mappings/partners.yaml.") + _ROUTING + "\n"
        (request.target_path / "defs.yaml").write_text(text, encoding="utf-8")


class LifecycleScaffolder(dg.Scaffolder):
    """Writes defs.yaml with the SMTP server and the partner web app (lifecycle.yaml's shape)."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        text = (_header(request.type_name, "Delivery and partner emails: the YAML of mappings/lifecycle.yaml.")
                + _LIFECYCLE + _requirements(["LEADSYNC_LIFECYCLE_SECRET"]))
        (request.target_path / "defs.yaml").write_text(text, encoding="utf-8")

