"""A Marketo instance on loopback that speaks Marketo's REST, Asset and Bulk Extract wire format, for the demo
and the tests; marketorestpython works against it with only its `host` changed.

    from leadsync.connectors.marketo.sandbox import MarketoSandbox

    with MarketoSandbox(seed_leads=1000) as mkto:
        mc = mkto.client()                      # a marketorestpython MarketoClient aimed here
        mc.execute("get_multiple_leads_by_filter_type", filterType="email", filterValues="a@x.com")

Run it for demos: `python -m leadsync.connectors.marketo.sandbox --data-dir DIR --port 8444 --seed-leads 20000`.

Module map: fields/leads/database (lead database), activities, programs, objects (custom objects,
opportunities), bulk_extract, auth (identity tokens), limits and faults, envelope (the JSON envelope), api and
routes (the HTTP surface), seed, clock, sandbox (the context manager).
"""

from leadsync.connectors.marketo.sandbox.sandbox import (
           DEFAULT_API_USER,
           DEFAULT_CLIENT_ID,
           DEFAULT_CLIENT_SECRET,
           DEFAULT_MUNCHKIN_ID,
           MarketoSandbox,
)

__all__ = ["DEFAULT_API_USER", "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "DEFAULT_MUNCHKIN_ID", "MarketoSandbox"]
