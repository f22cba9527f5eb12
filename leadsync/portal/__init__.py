"""The partner portal: partner users sign in with an emailed one-time link and work their leads in bulk,
see their pipeline and ranking, and (partner admins) manage their own lead settings.

Mounted under /portal by the partner-response app (`leadsync/lifecycle/web.py`). Every action a partner
takes here calls the same lifecycle functions as the emailed links, so it is recorded and written back
the same way. Modules: `config` (lifecycle.yaml `portal:`), `tables`, `auth` (sign-in links, sessions),
`csrf`, `leads` (list and filters), `actions` (bulk actions), `overrides` (partner settings over
partners.yaml), `ranking`, `pipeline_view`, `app` (routes)."""
