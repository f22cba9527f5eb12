"""A small, dependency-free SVG bar chart for report metadata.

Horizontal bars (labels stay readable however long), several series stacked, a legend, the total at the end
of each bar and a value axis. The Dagster UI renders markdown images whose source is a `data:` URI (its
sanitiser allows the `data` protocol for `src`), so `markdown_image` embeds the SVG in the asset's metadata
with nothing to serve or store.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#4E79A7", "#F28E2B", "#59A14F", "#E15759", "#76B7B2", "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F",
           "#BAB0AC")
WIDTH = 760
ROW = 24
BAR = 16
FONT = "font-family='Helvetica, Arial, sans-serif'"


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


def short(value: float) -> str:
    """Axis ticks: 2500 → '2.5k', 3000000 → '3M'."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def nice_step(top: float, ticks: int = 4) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) so that about `ticks` steps cover `top`."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _clip(text: str, limit: int = 36) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_svg(chart: BarChart, max_bars: int = 20) -> str:
    """The chart as an SVG document; only the first `max_bars` labels are drawn (the note says how many)."""
    names = list(chart.series)
    count = len(chart.labels)
    labels = [_clip(str(label)) for label in chart.labels[:max_bars]]
    values = [[float(chart.series[s][i] or 0) for s in names] for i in range(len(labels))]
    totals = [sum(row) for row in values]
    step = nice_step(max(totals, default=0))
    if all(float(v).is_integer() for row in values for v in row):
        step = max(1.0, step)  # counts: no ticks at 0.5
    axis_top = step * max(1, math.ceil(max(totals, default=0) / step))

    label_w = min(260, max(60, 7 * max((len(s) for s in labels), default=0)))
    x0, x1 = label_w + 16, WIDTH - 110
    scale = (x1 - x0) / axis_top
    top = 36 + (22 * math.ceil(len(names) / 5) if len(names) > 1 else 0)
    height = top + ROW * len(labels) + 40 + (16 if count > max_bars else 0)

    out = [(f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' "
            f"viewBox='0 0 {WIDTH} {height}' {FONT} font-size='12'>"),
           f"<rect width='{WIDTH}' height='{height}' fill='white'/>",
           f"<text x='12' y='22' font-size='15' font-weight='bold' fill='#222'>{escape(chart.title)}</text>"]
    if len(names) > 1:
        for i, name in enumerate(names):
            lx, ly = 12 + (i % 5) * 148, 38 + (i // 5) * 22
            out.append(f"<rect x='{lx}' y='{ly - 10}' width='12' height='12' fill='{PALETTE[i % len(PALETTE)]}'/>"
                       f"<text x='{lx + 17}' y='{ly}' fill='#333'>{escape(_clip(name, 20))}</text>")
    bottom = top + ROW * len(labels)
    tick = 0.0
    while tick <= axis_top + step / 2:
        x = x0 + tick * scale
        out.append(f"<line x1='{x:.1f}' y1='{top - 4}' x2='{x:.1f}' y2='{bottom}' stroke='#e4e4e4'/>"
                   f"<text x='{x:.1f}' y='{bottom + 16}' text-anchor='middle' fill='#666'>{short(tick)}</text>")
        tick += step
    for row, (label, parts, total) in enumerate(zip(labels, values, totals, strict=True)):
        y = top + row * ROW
        out.append(f"<text x='{x0 - 8}' y='{y + BAR - 3}' text-anchor='end' fill='#333'>{escape(label)}</text>")
        x = float(x0)
        for i, value in enumerate(parts):
            if value <= 0:
                continue
            w = value * scale
            out.append(f"<rect x='{x:.1f}' y='{y}' width='{w:.1f}' height='{BAR}' "
                       f"fill='{PALETTE[i % len(PALETTE)]}'><title>{escape(names[i])}: {fmt(value)}</title></rect>")
            x += w
        unit = f" {chart.unit}" if chart.unit else ""
        out.append(f"<text x='{x + 6:.1f}' y='{y + BAR - 3}' fill='#222'>{escape(fmt(total) + unit)}</text>")
    out.append(f"<line x1='{x0}' y1='{top - 4}' x2='{x0}' y2='{bottom}' stroke='#999'/>")
    if count > max_bars:
        out.append(f"<text x='12' y='{height - 8}' fill='#666'>first {max_bars} of {count} rows shown</text>")
    out.append("</svg>")
    return "".join(out)


def markdown_image(svg: str, alt: str) -> str:
    """Markdown showing `svg` inline, as a base64 `data:` URI."""
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    alt = alt.replace("[", "(").replace("]", ")")
    return f"![{alt}](data:image/svg+xml;base64,{data})"
