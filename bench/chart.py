"""Draw the throughput chart from a results file: claimguard against the peers.

``python -m bench.chart RESULTS.json OUT.svg``. RESULTS.json is what
``bench.run --save PATH`` writes, or bench/results/published.json (the figures of
bench/README.md). One group of bars per traffic shape (repeated token, distinct
tokens), one bar per app with one gunicorn worker: the median requests per second, and
the median ratio to no auth of the same round beside it. Plain SVG text, no plotting
library; the same file always gives the same picture.
"""

from __future__ import annotations

import argparse
import json
from html import escape
from pathlib import Path
from typing import Any

SHAPES = ("repeated token", "distinct tokens")
APPS = (
    ("no auth", "no auth (the ceiling)", "#9aa5b1"),
    ("claimguard", "claimguard", "#2f6f4f"),
    ("quickstart", "Auth0 quickstart pattern", "#c08a2e"),
    ("authlib", "Authlib", "#7a5aa6"),
)

WIDTH = 720
LEFT = 190  # room for the bar labels
RIGHT = 130  # room for the figures after the bars
BAR = 22
GAP = 6
GROUP_GAP = 34
TOP = 70


def _variants(document: dict[str, Any]) -> dict[str, dict[str, float]]:
    variants = document.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise SystemExit("no 'variants' in the results file: save it with bench.run --save")
    return variants


def render(document: dict[str, Any]) -> str:
    """The SVG text of the chart for one results document."""
    variants = _variants(document)
    rows: list[tuple[str, str, str, dict[str, float]] | None] = []
    for shape in SHAPES:
        rows.append(None)  # the group's heading
        for kind, label, colour in APPS:
            found = variants.get(f"{kind}, {shape}")
            if found is not None:
                rows.append((shape, label, colour, found))
    drawn = [row for row in rows if row is not None]
    if not drawn:
        raise SystemExit("the results hold none of the one-worker variants")
    top_rps = max(row[3]["rps"] for row in drawn)
    scale = (WIDTH - LEFT - RIGHT) / top_rps
    height = TOP + sum(GROUP_GAP if row is None else BAR + GAP for row in rows) + 40

    measured = escape(str(document.get("measured", "")))
    command = escape(str(document.get("command", "bench.run")))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" '
        'aria-label="Requests per second: claimguard against no auth and its peers" '
        'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        '<text x="20" y="30" font-size="17" font-weight="bold" fill="#222">'
        "Requests per second, one gunicorn worker (higher is better)</text>",
        f'<text x="20" y="50" font-size="12" fill="#555">{command}, measured {measured}; '
        "median of the rounds, and its ratio to no auth</text>",
    ]
    y = TOP
    shape_names = iter(SHAPES)
    for row in rows:
        if row is None:
            y += GROUP_GAP
            out.append(
                f'<text x="20" y="{y - 10}" font-size="14" font-weight="bold" fill="#222">'
                f"{escape(next(shape_names))}</text>"
            )
            continue
        _, label, colour, figures = row
        width = max(1.0, figures["rps"] * scale)
        ratio = figures.get("ratio", 1.0)
        mid = y + BAR / 2 + 4
        out.append(
            f'<text x="{LEFT - 8}" y="{mid}" font-size="13" text-anchor="end" '
            f'fill="#222">{escape(label)}</text>'
        )
        out.append(f'<rect x="{LEFT}" y="{y}" width="{width:.1f}" height="{BAR}" fill="{colour}"/>')
        note = f"{figures['rps']:,.0f} req/s"
        if not label.startswith("no auth"):
            note += f"  {ratio:.2f}\u00d7"
        out.append(
            f'<text x="{LEFT + width + 6:.1f}" y="{mid}" font-size="12" fill="#222">'
            f"{escape(note)}</text>"
        )
        y += BAR + GAP
    out.append(
        f'<text x="20" y="{height - 14}" font-size="11" fill="#555">'
        "repeated token: one token on every request; distinct tokens: 20,000 tokens in "
        "turn, more than the token cache holds</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("results", type=Path, help="a results JSON (bench.run --save)")
    parser.add_argument("output", type=Path, help="the SVG file to write")
    args = parser.parse_args(argv)
    document = json.loads(args.results.read_text(encoding="utf-8"))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(document), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
