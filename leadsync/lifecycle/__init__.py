"""The partner lifecycle: delivery of routed leads (auto-accept or email), the partner-response web app
(accept, reject with a reason, sales status, rep, opportunity, marketing events, CSV/API updates),
closed-loop update requests, rewards and partner auto-registration. Every partner action becomes a
lifecycle event and a writeback outbox event.

Kept import-light on purpose: leadsync.store may import leadsync.lifecycle.tables to register the tables.
"""
