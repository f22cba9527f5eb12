"""An Oracle Eloqua instance on loopback that speaks Eloqua's REST and Bulk API 2.0 wire format, with demo data.

    from leadsync.connectors.eloqua.sandbox import EloquaSandbox

    with EloquaSandbox(seed_contacts=500) as eloqua:
        conn = eloqua.session()                 # logs in as integrations do: Basic auth, base URL from /id

`connectors.eloqua.sandbox.session.open_session` is that login on its own. Run it for demos:
`python -m leadsync.connectors.eloqua.sandbox --data-dir DIR --port 8445 --seed-contacts 20000`.

Module map: schema, contacts, custom_objects, seed, state (the data); auth, session (login); eml_filter,
definitions, exports, export_sources, imports, import_apply, syncs, bulk_service (Bulk API 2.0); rest_contacts,
field_shapes, page_json, http_common, routes_* and app (the HTTP surface); faults, clock, persistence, sandbox
(the context manager).
"""

from leadsync.connectors.eloqua.sandbox.sandbox import EloquaSandbox

__all__ = ["EloquaSandbox"]
