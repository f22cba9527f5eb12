"""Marketo: `source/` is the client leadsync pulls and writes back with; `sandbox/` is a loopback emulator
speaking Marketo's REST, Asset and Bulk Extract wire format, with seeded demo data and fault switches
(`connectors.marketo.sandbox.MarketoSandbox`)."""
