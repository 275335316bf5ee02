"""Server-rendered inline SVG charts (no chart library, no script): line and bar charts with axes.

Every label is escaped; the SVG scales to its container through its viewBox.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

from fanhub.timeseries import count_axis

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c")
W, H = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 14, 34


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k".replace(".0k", "k")
    return f"{value:g}"


def _frame(labels: Sequence[str], axis: tuple[float, float], title: str) -> list[str]:
    """The SVG head, one gridline per whole step of the axis (`timeseries.count_axis`), and the labels."""
    top, step = axis
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>',
    ]
    plot_h = H - TOP - BOTTOM
    lines = round(top / step)
    for i in range(lines + 1):
        y = TOP + plot_h * i / lines
        value = top - step * i
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#6b7280">{_fmt(value)}</text>'
        )
    n = len(labels)
    every = max(1, (n + 6) // 7)
    for i, label in enumerate(labels):
        if i % every and i != n - 1:
            continue
        x = _x(i, n)
        parts.append(
            f'<text x="{x:.1f}" y="{H - 12}" text-anchor="middle" font-size="11" fill="#6b7280">{escape(label)}</text>'
        )
    return parts


def _x(i: int, n: int) -> float:
    plot_w = W - LEFT - RIGHT
    return LEFT + (plot_w * (i + 0.5) / n if n else 0)


def line_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], title: str) -> Markup:
    """One line per series over the labels (e.g. days); an empty series draws a flat line at zero."""
    axis = count_axis(max((max(values, default=0) for _, values in series), default=0))
    top = axis[0]
    parts = _frame(labels, axis, title)
    plot_h = H - TOP - BOTTOM
    n = len(labels)
    if n <= 2:
        # One or two points make a poor line: draw grouped columns instead.
        group = (W - LEFT - RIGHT) / max(n, 1) * 0.6
        width = group / max(len(series), 1)
        for index, (name, values) in enumerate(series):
            color = PALETTE[index % len(PALETTE)]
            for i, v in enumerate(values):
                height = plot_h * v / top
                x = _x(i, n) - group / 2 + index * width
                parts.append(
                    f'<rect x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{width * 0.9:.1f}" '
                    f'height="{height:.1f}" fill="{color}">'
                    f"<title>{escape(labels[i])}: {escape(name)} {_fmt(v)}</title></rect>"
                )
        parts.append("</svg>")
        return Markup(_legend(series) + "".join(parts))
    for index, (name, values) in enumerate(series):
        color = PALETTE[index % len(PALETTE)]
        points = " ".join(f"{_x(i, n):.1f},{TOP + plot_h * (1 - v / top):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2.5" points="{points}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        for i, v in enumerate(values):
            if v:
                parts.append(
                    f'<circle cx="{_x(i, n):.1f}" cy="{TOP + plot_h * (1 - v / top):.1f}" r="3" fill="{color}">'
                    f"<title>{escape(labels[i])}: {escape(name)} {_fmt(v)}</title></circle>"
                )
    parts.append("</svg>")
    return Markup(_legend(series) + "".join(parts))


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str, name: str = "") -> Markup:
    axis = count_axis(max(values, default=0))
    top = axis[0]
    parts = _frame(labels, axis, title)
    plot_h = H - TOP - BOTTOM
    n = len(labels)
    width = max(2.0, (W - LEFT - RIGHT) / max(n, 1) * 0.7)
    for i, v in enumerate(values):
        height = plot_h * v / top
        parts.append(
            f'<rect x="{_x(i, n) - width / 2:.1f}" y="{TOP + plot_h - height:.1f}" width="{width:.1f}" '
            f'height="{height:.1f}" fill="{PALETTE[0]}"><title>{escape(labels[i])}: {_fmt(v)}</title></rect>'
        )
    parts.append("</svg>")
    return Markup(_legend([(name, values)]) if name else "") + Markup("".join(parts))


def _legend(series: Sequence[tuple[str, Sequence[float]]]) -> str:
    items = "".join(
        f'<span class="legend-item"><i class="swatch s{index % len(PALETTE)}"></i>{escape(name)}</span>'
        for index, (name, _) in enumerate(series)
    )
    return f'<div class="legend">{items}</div>'
