"""What every chart shares: one colour per subgroup, stable across pages, and labels that
plotly shows literally."""

from __future__ import annotations

import html

import plotly.express as px

#: one colour per group value, stable across pages (a group keeps its colour everywhere)
PALETTE = px.colors.qualitative.Safe + px.colors.qualitative.Vivid


def plot_escape(value: object) -> str:
    """``value`` as text plotly shows literally in tick labels, legends, hover and titles
    (plotly renders a subset of HTML there and decodes entities back for display)."""
    return html.escape(str(value), quote=False)


def plot_labels(values) -> list[str]:
    """:func:`plot_escape` over a column of category labels (subgroup names, say)."""
    return [plot_escape(v) for v in values]


def group_colors(values) -> dict[str, str]:
    """A stable colour per group label (the same label gets the same colour on every page)."""
    labels = [str(v) for v in values]
    return {lab: PALETTE[hash_label(lab) % len(PALETTE)] for lab in labels}


def hash_label(label: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(label))  # deterministic across runs
