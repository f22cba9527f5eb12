"""Oracle Eloqua: `source/` is the client leadsync pulls and writes back with; `sandbox/` is a loopback
emulator speaking Eloqua's REST and Bulk API 2.0 wire format, with demo data
(`connectors.eloqua.sandbox.EloquaSandbox`)."""
