"""Partner CRM delivery: leads accepted by a partner with a `crm` block in partners.yaml are created in the
partner's own CRM, the partner's changes there come back as lifecycle events (and so reach the supplier's
source through the writeback), and withdrawals are marked in the CRM.

Module map: kinds (the registry of CRM connectors and their defaults), tables (ledger and watermarks),
values (what a partner's CRM gets of a lead, status and stage maps: pure functions), connect (a partner's
connector from its YAML and environment), delivery (create and withdraw), changes (pull and apply),
crm_only (opportunities the partner made without a leadsync lead),
alerts (emails about a partner's CRM failing), sync (every partner, each failing alone).
"""
