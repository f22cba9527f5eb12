"""The API pull's memory: Arrow allocates from a pool that gives freed pages back to the operating system while a
pull runs (jemalloc, leadsync/pull/arrow_memory.py) and the default pool is back afterwards."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from test_api_pull_stage import NOW, ScriptedSource, page, source_config, stored

from leadsync.pull.api_records import pull_records
from leadsync.pull.arrow_memory import returned_to_os, returning_pool
from leadsync.store import LeadStore


class PoolWatchingSource(ScriptedSource):
    """Notes which Arrow pool is the default while each page is read."""

    def __init__(self, pages, then=None):
        super().__init__(pages, then)
        self.pools: list[str] = []

    def pull(self, fields, since, resume=None, until=None):
        for batch in self.pages:
            self.pools.append(pa.default_memory_pool().backend_name)
            yield batch
        if self.then is not None:
            raise self.then


def test_a_pull_allocates_from_the_returning_pool_and_gives_the_default_back(duckdb_url):
    store, cfg = LeadStore(duckdb_url), source_config()
    before = pa.default_memory_pool().backend_name
    source = PoolWatchingSource([page("p1", [("1", "t1", "a@x.example", "CEO")]),
                                 page("p2", [("2", "t1", "b@x.example", None)])])
    report = pull_records(cfg, source, store, NOW, Path("sf_stage.yaml"))
    assert report.stored == 2 and stored(store) == [("1", "CEO"), ("2", None)]
    assert source.pools == [returning_pool().backend_name] * 2 != [before] * 2
    assert pa.default_memory_pool().backend_name == before
    store.dispose()


def test_a_failed_pull_gives_the_default_pool_back_too(duckdb_url):
    store, cfg = LeadStore(duckdb_url), source_config()
    before = pa.default_memory_pool().backend_name
    source = PoolWatchingSource([page("p1", [("1", "t1", "a@x.example", "CEO")])], then=ConnectionError("broke"))
    with pytest.raises(ConnectionError):
        pull_records(cfg, source, store, NOW, Path("sf_stage.yaml"))
    assert source.pools == [returning_pool().backend_name] and pa.default_memory_pool().backend_name == before
    store.dispose()


def test_nested_blocks_keep_the_returning_pool_until_the_outermost_ends():
    before = pa.default_memory_pool().backend_name
    with returned_to_os():
        with returned_to_os():
            assert pa.default_memory_pool().backend_name == returning_pool().backend_name
        assert pa.default_memory_pool().backend_name == returning_pool().backend_name  # the outer block still runs
        kept = pa.array(["a", "b"])  # a buffer made in the block is freed to its own pool, whenever
    assert pa.default_memory_pool().backend_name == before
    assert kept.to_pylist() == ["a", "b"]

