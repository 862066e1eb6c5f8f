"""Small server-drawn SVG charts (bars and a line) for the dashboards: no script or external
library, readable by screen readers through their title and the data table each page shows."""
from __future__ import annotations

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 640, 200, 28


def bar_chart(points: list[tuple[str, float]], title: str, color: str = "#1a5fb4") -> Markup:
    """Vertical bars, one per (label, value), labels under them."""
    if not points:
        return Markup("")
    top = max(value for _, value in points) or 1
    step = (WIDTH - 2 * PAD) / len(points)
    bars = []
    for i, (label, value) in enumerate(points):
        height = (HEIGHT - 2 * PAD) * value / top
        x, y = PAD + i * step + step * 0.15, HEIGHT - PAD - height
        bars.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{height:.1f}" fill="{color}">'
                    f'<title>{escape(label)}: {value:g}</title></rect>'
                    f'<text x="{x + step * 0.35:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(label)}</text>')
    return _svg(title, "".join(bars), f"{top:g}")


def line_chart(points: list[tuple[str, float]], title: str, low: float = 0.0, high: float = 1.0,
               color: str = "#26a269") -> Markup:
    """A line through (label, value) points on a fixed scale (e.g. agreement from 0 to 1)."""
    if not points:
        return Markup("")
    span = (high - low) or 1
    step = (WIDTH - 2 * PAD) / max(1, len(points) - 1)
    coords = [(PAD + i * step, HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value - low) / span)
              for i, (_, value) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{escape(label)}: {value:.3f}</title></circle>'
                   for (x, y), (label, value) in zip(coords, points))
    body = f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>{dots}'
    return _svg(title, body, f"{high:g}", f"{low:g}")


def _svg(title: str, body: str, top_label: str, bottom_label: str = "0") -> Markup:
    axis = (f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
            f'<text x="2" y="{PAD}" >{escape(top_label)}</text><text x="2" y="{HEIGHT - PAD}">{escape(bottom_label)}</text>')
    return Markup(f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
                  f'<title>{escape(title)}</title>{axis}{body}</svg>')
