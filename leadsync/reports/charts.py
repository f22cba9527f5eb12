"""Report charts drawn with matplotlib (Agg backend: no display needed) as PNG.

A chart is a horizontal bar chart (labels stay readable however long), several series stacked, a legend and
the total at the end of each bar. The same PNG is served by the supplier console and embedded in the asset's
metadata as a markdown image with a `data:` URI (the Dagster UI's sanitiser allows `data` images), so it
shows in the UI with nothing to serve or store.
"""

from __future__ import annotations

import base64
import functools
import io
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PALETTE = ("#4E79A7", "#F28E2B", "#59A14F", "#E15759", "#76B7B2", "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F",
           "#BAB0AC")
MAX_BARS = 20
_LOCK = threading.Lock()  # matplotlib's font cache and text layout are not thread-safe across figures


@dataclass(frozen=True)
class BarChart:
    """One bar per label; each series gives one value per label, and several series stack."""

    title: str
    labels: Sequence[str]
    series: Mapping[str, Sequence[float]] = field(default_factory=dict)
    unit: str = ""  # shown after each bar's total, e.g. "leads", "USD"


def fmt(value: float) -> str:
    """1234567 → '1,234,567'; 12.5 → '12.5'."""
    if float(value).is_integer() or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@functools.cache
def _figure_class():
    """matplotlib's Figure, imported at the first chart: matplotlib takes half a second to import, and every
    process that loads the code location (a worker, `dagster job execute`, the UI's code server) would pay it
    whether it draws a chart or not."""
    import matplotlib

    matplotlib.use("Agg")  # before pyplot's first import: headless, thread-safe figure objects
    from matplotlib.figure import Figure

    return Figure


def render_png(chart: BarChart, max_bars: int = MAX_BARS, dpi: int = 100) -> bytes:
    """The chart as PNG bytes; only the first `max_bars` labels are drawn (a note says how many there were)."""
    count = len(chart.labels)
    labels = [_clip(str(label)) for label in chart.labels[:max_bars]]
    names = list(chart.series)
    with _LOCK:
        fig = _figure_class()(figsize=(8, 1.2 + 0.38 * max(1, len(labels))), dpi=dpi)
        ax = fig.add_subplot()
        left = [0.0] * len(labels)
        positions = list(range(len(labels)))[::-1]  # first label on top
        for i, name in enumerate(names):
            values = [float(chart.series[name][j] or 0) for j in range(len(labels))]
            ax.barh(positions, values, left=left, color=PALETTE[i % len(PALETTE)], label=str(name), height=0.65)
            left = [a + b for a, b in zip(left, values, strict=True)]
        unit = f" {chart.unit}" if chart.unit else ""
        for y, total in zip(positions, left, strict=True):
            ax.annotate(fmt(total) + unit, (total, y), xytext=(4, 0), textcoords="offset points", va="center",
                        fontsize=8)
        ax.set_yticks(positions, labels, fontsize=8)
        ax.set_title(chart.title, loc="left", fontsize=11, fontweight="bold")
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x", color="#e4e4e4")
        ax.set_axisbelow(True)
        ax.margins(x=0.15)
        if len(names) > 1:
            ax.legend(fontsize=8, loc="lower right", frameon=False)
        if count > max_bars:
            fig.text(0.01, 0.01, f"first {max_bars} of {count} rows shown", fontsize=8, color="#666")
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
    return out.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """Markdown showing the PNG inline, as a base64 `data:` URI."""
    data = base64.b64encode(png).decode("ascii")
    alt = alt.replace("[", "(").replace("]", ")")
    return f"![{alt}](data:image/png;base64,{data})"
