"""Resources shared by every asset."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from leadsync.config.loader import ProjectPaths, project_paths
from leadsync.defs.errors import store_errors
from leadsync.store import LeadStore


class LeadsyncResource(dg.ConfigurableResource):
    """Where the YAML lives and where leads are stored.

    mappings_dir: the folder holding sources/ and partners.yaml (default: $LEADSYNC_MAPPINGS_DIR, else
    the repo's mappings/). store_url: a SQLAlchemy URL (default: $LEADSYNC_STORE_URL, else a DuckDB
    file under $DAGSTER_HOME). Connection secrets are read from the environment variables the source
    YAML names, when the run needs them.
    """

    mappings_dir: str | None = None
    store_url: str | None = None
    _store: LeadStore | None = PrivateAttr(default=None)

    @property
    def paths(self) -> ProjectPaths:
        return project_paths(self.mappings_dir)

    def store(self) -> LeadStore:
        if self._store is None:
            with store_errors():  # opening it can meet a locked file, a full disk, a server down
                self._store = LeadStore(self.store_url)
        return self._store

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.dispose()
