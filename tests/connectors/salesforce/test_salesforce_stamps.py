"""SystemModstamps read by Arrow (connectors/salesforce/source/pull.py `_stamps`) as pandas read them before:
the same instants, the same dtype, NaT for a missing stamp, and a page Arrow cannot read goes to pandas."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from leadsync.connectors.salesforce.source.pull import STAMP, Watermarks, _stamps


def as_pandas_read_them(values: list[str | None]) -> pd.Series:
    return pd.to_datetime(pa.array(values, pa.string()).to_pandas(), utc=True, format="ISO8601")


@pytest.mark.parametrize("values", [
    ["2026-09-04T00:00:32.000+0000", "2026-09-04T00:00:58.000+0000"],  # Bulk API 2.0 CSV
    ["2026-09-04T00:00:32.000Z", "2026-09-04T00:00:32.123456Z"],  # REST
    ["2026-09-04T02:00:32.500+0200", None, "2026-09-04T00:00:32Z"],  # another offset, a null
    ["2026-09-04T00:00:32.000+0000", ""],  # an empty stamp: Arrow refuses the page, pandas reads it
    [],
])
def test_stamps_read_as_pandas_read_them(values):
    got = _stamps(pa.table({STAMP: pa.array(values, pa.string())}))
    want = as_pandas_read_them(values)
    assert got.dtype == want.dtype
    assert got.equals(want)


def test_the_watermark_of_an_ordered_page_is_the_same_from_either_reading():
    values = ["2026-09-04T00:00:32.000+0000", "2026-09-04T00:00:58.000+0000", "2026-09-04T00:00:58.000+0000"]
    table = pa.table({STAMP: pa.array(values, pa.string())})
    from_arrow = Watermarks().after(_stamps(table), final=False)
    assert from_arrow == Watermarks().after(as_pandas_read_them(values), final=False)
    assert from_arrow == pd.Timestamp("2026-09-04T00:00:32Z").to_pydatetime()  # the newest stamp before the last
