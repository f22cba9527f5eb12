"""The supplier console at /console: supplier users (mappings/console.yaml) sign in by emailed link or behind
the supplier's SSO proxy, enter leads by hand, work the unassigned and review queues in bulk, search leads
over every mapped field, see the partners' load and read the reports with date ranges, filters and charts."""
