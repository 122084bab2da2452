"""Small charts as inline SVG, drawn on the server: no JavaScript library, nothing fetched from the network.

Each chart is an ``<svg role="img">`` with a title and an ``aria-label`` that says what it shows, and each bar
has its own ``<title>`` (the value on hover and for screen readers). Labels are escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

__all__ = ["bar_chart", "column_chart"]

WIDTH = 640
BAR = 22
GAP = 8
COLOR = "#1d5fa8"


def _empty(name: str, title: str, height: int = 60) -> Markup:
    return Markup(
        f'<svg class="chart" data-chart="{escape(name)}" role="img" aria-label="{escape(title)}: chưa có dữ liệu" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" height="{height}"><title>{escape(title)}</title>'
        f'<text x="8" y="{height // 2}" fill="#666">Chưa có dữ liệu.</text></svg>'
    )


def bar_chart(
    name: str, title: str, rows: Sequence[tuple[str, float]], *, show: Callable[[float], str] = lambda v: f"{v:g}"
) -> Markup:
    """Horizontal bars, one row per label (longest first as given), the value written after each bar."""
    if not rows:
        return _empty(name, title)
    label_width, value_width = 230, 70
    top = max((v for _, v in rows), default=0) or 1
    height = len(rows) * (BAR + GAP) + GAP
    parts = [
        f'<svg class="chart" data-chart="{escape(name)}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" height="{height}"><title>{escape(title)}</title>'
    ]
    span = WIDTH - label_width - value_width
    for i, (label, value) in enumerate(rows):
        y = GAP + i * (BAR + GAP)
        width = max(1.0, span * value / top) if value else 0
        short = label if len(label) <= 34 else label[:33] + "…"
        parts.append(
            f'<text x="{label_width - 6}" y="{y + BAR * 0.7:.1f}" text-anchor="end" font-size="13">{escape(short)}</text>'
            f'<rect class="bar" x="{label_width}" y="{y}" width="{width:.1f}" height="{BAR}" fill="{COLOR}">'
            f"<title>{escape(label)}: {escape(show(value))}</title></rect>"
            f'<text x="{label_width + width + 6:.1f}" y="{y + BAR * 0.7:.1f}" font-size="13">{escape(show(value))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(
    name: str,
    title: str,
    columns: Sequence[tuple[str, float | None]],
    *,
    top: float | None = None,
    show: Callable[[float], str] = lambda v: f"{v:g}",
) -> Markup:
    """Vertical columns over days (label under each; ``None`` or 0 draws no column).

    Args:
        top: the value at the top of the chart (100 for a percentage, 5 for a rating); the largest value if None.
    """
    if not any(columns_value for _, columns_value in columns):
        return _empty(name, title)
    height, bottom, left = 200, 34, 8
    top = top or max((v or 0 for _, v in columns), default=0) or 1
    step = (WIDTH - left) / len(columns)
    plot = height - bottom - 16
    parts = [
        f'<svg class="chart" data-chart="{escape(name)}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" height="{height}"><title>{escape(title)}</title>'
        f'<line x1="{left}" y1="{height - bottom}" x2="{WIDTH}" y2="{height - bottom}" stroke="#999"/>'
    ]
    for i, (label, value) in enumerate(columns):
        x = left + i * step
        parts.append(
            f'<text x="{x + step / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" font-size="11">{escape(label)}</text>'
        )
        if not value:  # no data that day, or nothing counted: no column
            continue
        h = max(1.0, plot * min(value, top) / top)
        y = height - bottom - h
        parts.append(
            f'<rect class="bar" x="{x + step * 0.15:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" fill="{COLOR}">'
            f"<title>{escape(label)}: {escape(show(value))}</title></rect>"
            f'<text x="{x + step / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="11">{escape(show(value))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
