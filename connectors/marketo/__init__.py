"""Marketo: a sandbox server speaking Marketo's REST, Asset and Bulk Extract wire format on loopback
(`connectors.marketo.sandbox.MarketoSandbox`), with its seeded demo data and fault switches."""
