"""Charts as inline SVG, drawn on the server from the numbers the page is served with.

No chart library and no script: the console works offline and behind a strict CSP, the picture is exactly the data
(each bar carries its count in ``data-count`` and a ``<title>`` tooltip), and tests can count what is drawn.
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from console.selectors import Series

COLORS = {
    "success": "#2e7d32",
    "processed": "#2e7d32",
    "failed": "#c62828",
    "pending": "#f9a825",
}
WIDTH = 720
HEIGHT = 160
AXIS = 24  # room for the hour labels under the bars
LEFT = 36  # room for the scale on the left


def color(status: str) -> str:
    return COLORS.get(status, "#607d8b")


def stacked_bars(series: Series, *, testid: str, label_every: int = 3) -> SafeString:
    """One stacked bar per hour (statuses bottom-up in ``series.statuses`` order); empty hours leave a gap."""
    count = len(series.buckets)
    top = max((sum(c.values()) for _, c in series.buckets), default=0) or 1
    slot = (WIDTH - LEFT) / max(count, 1)
    bar = max(slot * 0.8, 1.0)
    plot = HEIGHT - AXIS
    parts: list[SafeString] = [
        format_html('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999" stroke-width="1"/>', LEFT, plot, WIDTH, plot),
        format_html('<text x="{}" y="{}" font-size="10" text-anchor="end" fill="#666">{}</text>', LEFT - 4, 10, top),
        format_html('<text x="{}" y="{}" font-size="10" text-anchor="end" fill="#666">0</text>', LEFT - 4, plot),
    ]
    for i, (hour, counts) in enumerate(series.buckets):
        x = LEFT + i * slot + (slot - bar) / 2
        y = float(plot)
        for status in series.statuses:
            n = counts.get(status, 0)
            if not n:
                continue
            h = plot * n / top
            y -= h
            parts.append(
                format_html(
                    '<rect class="bar" data-series="{}" data-count="{}" data-hour="{}" x="{}" y="{}" '
                    'width="{}" height="{}" fill="{}"><title>{} UTC: {} {}</title></rect>',
                    status,
                    n,
                    hour.isoformat(),
                    f"{x:.1f}",
                    f"{y:.1f}",
                    f"{bar:.1f}",
                    f"{h:.1f}",
                    color(status),
                    hour.strftime("%d %b %H:00"),
                    n,
                    status,
                )
            )
        if i % label_every == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="#666">{}</text>',
                    f"{LEFT + i * slot + slot / 2:.1f}",
                    HEIGHT - 8,
                    hour.strftime("%H") if count <= 48 else hour.strftime("%d/%m"),
                )
            )
    legend = format_html_join(
        " ",
        '<span class="legend"><span class="swatch" style="background:{}"></span>{} {}</span>',
        ((color(s), s, series.total(s)) for s in series.statuses),
    )
    svg = format_html(
        '<svg data-testid="{}" class="chart" viewBox="0 0 {} {}" width="100%" role="img" '
        'preserveAspectRatio="none" aria-label="{} per hour">{}</svg>',
        testid,
        WIDTH,
        HEIGHT,
        testid,
        mark_safe("".join(parts)),  # noqa: S308 - every part was built with format_html
    )
    return format_html('<figure class="chart-box">{}<figcaption>{}</figcaption></figure>', svg, legend)
