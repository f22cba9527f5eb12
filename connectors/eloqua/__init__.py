"""Oracle Eloqua: a loopback sandbox speaking Eloqua's REST and Bulk API 2.0 wire format, with demo data.

Start with `connectors.eloqua.sandbox.EloquaSandbox`; `connectors.eloqua.session.open_session` logs in the
way integrations do (Basic `Site\\User:password`, base URL from `/id`).
"""
