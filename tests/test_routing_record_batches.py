"""What routing hands DuckDB when it records a slice: batches of whole row groups, whatever chunks the columns
came in, and event ids that spell each decision's own version."""

from datetime import UTC, datetime

import pyarrow as pa

from leadsync.config.schema import PartnersConfig
from leadsync.routing import state


def _chunked(values: list, cuts: list[int]) -> pa.ChunkedArray:
    bounds = [0, *cuts, len(values)]
    return pa.chunked_array([pa.array(values[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)])


def test_columns_chunked_at_row_groups_are_batched_as_they_lie(monkeypatch):
    monkeypatch.setattr(state, "ROW_GROUP", 4)
    n = 10
    table = pa.table({"a": _chunked(list(range(n)), [4, 8]),  # row-group boundaries
                      "b": _chunked([str(i) for i in range(n)], [8]),
                      "c": pa.chunked_array([pa.array(range(n))])})
    batched = state._in_row_groups(table)
    assert [b.num_rows for b in batched.to_batches()] == [4, 4, 2]
    assert batched.column("a").chunks[0].buffers()[1].address == table.column("a").chunks[0].buffers()[1].address
    assert batched.equals(table)


def test_columns_chunked_elsewhere_are_joined_into_whole_row_groups(monkeypatch):
    monkeypatch.setattr(state, "ROW_GROUP", 4)
    n = 10
    table = pa.table({"a": _chunked(list(range(n)), [3, 7]), "b": _chunked(list(range(n)), [4])})
    batched = state._in_row_groups(table)
    assert [b.num_rows for b in batched.to_batches()] == [4, 4, 2]
    assert batched.equals(table)


def _decisions(versions: list[int]) -> pa.Table:
    n = len(versions)
    text = [None] * n
    return pa.table({"lead_id": [f"L{i}" for i in range(n)], "version": pa.array(versions, pa.int64()),
                     "source": ["s"] * n, "action": ["routed"] * n, "status": ["routed"] * n,
                     "partner_id": pa.array(text, pa.string()), "rep_name": pa.array(text, pa.string()),
                     "rep_email": pa.array(text, pa.string()), "reason": ["r"] * n})


def test_event_ids_carry_each_decisions_version():
    partners = PartnersConfig.model_validate({"partners": [{"id": "p", "name": "P"}]})
    now = datetime(2026, 1, 1, tzinfo=UTC)
    same = state.outbox_events(_decisions([1, 1, 1]), partners, now)
    assert same["event_id"].to_pylist() == [f"L{i}:distribution_status:1" for i in range(3)]
    mixed = state.outbox_events(_decisions([3, 1, 12]), partners, now)
    assert mixed["event_id"].to_pylist() == ["L0:distribution_status:3", "L1:distribution_status:1",
                                             "L2:distribution_status:12"]
