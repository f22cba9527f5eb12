"""Salesforce: the connector (to come) and a loopback sandbox speaking Salesforce's wire format
(`connectors.salesforce.sandbox`)."""
