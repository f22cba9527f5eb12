"""leadsync: pull supplier leads, route them to channel partners, write every outcome back."""
