"""Charts as inline SVG, drawn here in Python: the page needs no script to show them.

Each data point is one element of class ``mark`` with a ``<title>`` (a tooltip, read by
screen readers), so a test can count marks against the data. Colours come from the page's
CSS classes (``s-<status>``), so dark mode and print apply to charts too. No ``style``
attributes: the page's Content-Security-Policy allows only its one hashed style block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from ._text import esc, money, percent, slug
from .model import CostLine, Run

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 10, 28
_PLOT_W, _PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


def _frame(chart_id: str, label: str, body: list[str], y_labels: Sequence[tuple[float, str]],
           x_labels: Sequence[tuple[float, str]]) -> str:  # fmt: skip
    parts = [
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{esc(label)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{esc(label)}</title>",
    ]
    for y, text in y_labels:
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/>')  # fmt: skip
        parts.append(f'<text class="axis" x="{LEFT - 4}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{esc(text)}</text>')  # fmt: skip
    for x, text in x_labels:
        parts.append(f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" '
                     f'text-anchor="middle">{esc(text)}</text>')  # fmt: skip
    parts += body
    parts.append("</svg>")
    return "".join(parts)


def _x_labels(keys: Sequence[str], x_of: list[float]) -> list[tuple[float, str]]:
    """At most six labels along the x axis: the first, the last and some between."""
    if not keys:
        return []
    step = max(1, -(-len(keys) // 6))
    picked = sorted({*range(0, len(keys), step), len(keys) - 1})
    return [(x_of[i], keys[i]) for i in picked]


def trend_chart(runs: Sequence[Run]) -> str:
    """The pass rate of every run, oldest first: a line and one dot (``mark``) per run that
    has a pass rate."""
    n = len(runs)
    x_of = [LEFT + (_PLOT_W * (i + 0.5) / n) for i in range(n)] if n else []

    def y(rate: float) -> float:
        return TOP + _PLOT_H * (1 - rate / 100)

    points = [(x_of[i], y(r.pass_rate_percent), r) for i, r in enumerate(runs)
              if r.pass_rate_percent is not None]  # fmt: skip
    body = []
    if len(points) > 1:
        line = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
        body.append(f'<polyline class="trend-line" fill="none" points="{line}"/>')
    for px, py, run in points:
        body.append(
            f'<circle class="mark" cx="{px:.1f}" cy="{py:.1f}" r="4">'
            f"<title>{esc(run.started_at.strftime('%Y-%m-%d %H:%M'))} UTC: "
            f"{esc(percent(run.pass_rate_percent))} pass rate</title></circle>"
        )
    days = [r.started_at.strftime("%m-%d") for r in runs]
    return _frame("chart-trend", f"Pass rate of {len(points)} audit runs", body,
                  [(y(100), "100%"), (y(50), "50%"), (y(0), "0%")],
                  _x_labels(days, x_of))  # fmt: skip


def sessions_chart(by_day: Mapping[str, Mapping[str, int]], statuses: Sequence[str]) -> str:
    """Sessions per day, a stacked bar per day: one ``mark`` per day and status with
    sessions."""
    days = list(by_day)
    top = max((sum(counts.values()) for counts in by_day.values()), default=0) or 1
    slot = _PLOT_W / max(1, len(days))
    width = max(1.0, slot * 0.8)
    x_of = [LEFT + slot * (i + 0.5) for i in range(len(days))]
    body = []
    for i, day in enumerate(days):
        base = float(TOP + _PLOT_H)
        for status in statuses:
            count = by_day[day].get(status, 0)
            if not count:
                continue
            height = _PLOT_H * count / top
            base -= height
            body.append(
                f'<rect class="mark s-{slug(status)}" data-status="{esc(status)}" '
                f'x="{x_of[i] - width / 2:.2f}" y="{base:.2f}" width="{width:.2f}" '
                f'height="{max(height, 0.5):.2f}"><title>{esc(day)} {esc(status)}: {count}'
                "</title></rect>"
            )
    return _frame("chart-sessions", f"Sessions per day over {len(days)} days, by status", body,
                  [(TOP, str(top)), (TOP + _PLOT_H, "0")],
                  _x_labels([d[5:] for d in days], x_of))  # fmt: skip


def costs_chart(by_day: Sequence[CostLine]) -> str:
    """LLM spend per day: one bar (``mark``) per day with cost records."""
    top = max((line.cost for line in by_day), default=Decimal(0)) or Decimal(1)
    slot = _PLOT_W / max(1, len(by_day))
    width = max(1.0, slot * 0.8)
    x_of = [LEFT + slot * (i + 0.5) for i in range(len(by_day))]
    body = []
    for i, line in enumerate(by_day):
        height = float(_PLOT_H * line.cost / top)
        body.append(
            f'<rect class="mark cost" x="{x_of[i] - width / 2:.2f}" '
            f'y="{TOP + _PLOT_H - max(height, 0.5):.2f}" width="{width:.2f}" '
            f'height="{max(height, 0.5):.2f}"><title>{esc(line.key)}: {esc(money(line.cost))}, '
            f"{line.requests} requests</title></rect>"
        )
    return _frame("chart-costs", f"LLM spend per day over {len(by_day)} days", body,
                  [(TOP, money(top)), (TOP + _PLOT_H, "$0")],
                  _x_labels([line.key[5:] for line in by_day], x_of))  # fmt: skip
