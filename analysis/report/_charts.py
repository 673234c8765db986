"""The report's plotly figures, and the embedder that inlines plotly.js once.

Colours follow Paul Tol's muted palette: weak users and the LLM in rose, the others and
the free controls in cyan, groups in indigo; groups too small to rank are drawn pale.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.subplots import make_subplots

from analysis.formatting import fmt_int, fmt_metric
from analysis.report._html import CONTROL_NAMES

#: groups with fewer users than the run's minimum group size are drawn in this colour and
#: marked in their label
SMALL_GROUP_MARK = " (small)"


class Charts:
    """Embeds figures; plotly.js goes inline with the first one only.

    Attributes:
        n: figures embedded so far (the next one's div is ``weakspot-chart-<n>``).
    """

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, fig: go.Figure, height: int | None = 380) -> Markup:
        fig.update_layout(template="plotly_white", margin={"l": 40, "r": 20, "t": 60, "b": 40})
        if height is not None:
            fig.update_layout(height=height)
        out = fig.to_html(full_html=False, include_plotlyjs=self.n == 0, include_mathjax=False,
                          div_id=f"weakspot-chart-{self.n}", config={"displaylogo": False})
        self.n += 1
        return Markup(out)


def label(value: Any) -> str:
    """A category label as plotly shows it literally (plotly renders a subset of HTML)."""
    return html.escape(str(value), quote=False)


def _add_panel(fig: go.Figure, groups: pd.DataFrame, row: int, *, value: str,
               before: str | None, min_size: int) -> None:
    """One dimension's bars in subplot ``row``: after beside before, or one bar per group
    with its bootstrap interval."""
    sizes = groups["size" if "size" in groups.columns else "n_users"].to_numpy()
    small = sizes < min_size
    names = [f"{label(group)} (n={int(size):,}){SMALL_GROUP_MARK if is_small else ''}"
             for group, size, is_small in zip(groups["group"], sizes, small, strict=True)]
    if before is not None:
        fig.add_bar(y=names, x=groups[before], orientation="h", name="before",
                    marker_color="#88CCEE", showlegend=row == 1, row=row, col=1)
        fig.add_bar(y=names, x=groups[value], orientation="h", name="after",
                    marker_color="#117733", showlegend=row == 1, row=row, col=1)
        return
    error_bars = None
    if "ci_low" in groups.columns:
        error_bars = {"type": "data", "symmetric": False,
                      "array": (groups["ci_high"] - groups[value]).to_numpy(),
                      "arrayminus": (groups[value] - groups["ci_low"]).to_numpy()}
    fig.add_bar(y=names, x=groups[value], orientation="h", error_x=error_bars, showlegend=False,
                marker_color=["#DDDDDD" if is_small else "#332288" for is_small in small],
                row=row, col=1)


def subgroup_figure(sg: pd.DataFrame, title: str, *, value: str = "mean",
                    before: str | None = None, min_size: int = 0) -> go.Figure:
    """One panel per dimension, groups sorted by ``value`` (worst at the top), each labelled
    with its size; groups under ``min_size`` users are marked small and drawn pale.

    Args:
        sg: rows ``dimension``, ``group``, ``size`` (or ``n_users``), ``value`` (and
            ``ci_low``/``ci_high`` for error bars, ``before`` for a before/after pair).
        title: the figure's title.
        value: the column drawn.
        before: a second column drawn beside it (before vs after), or None.
        min_size: the minimum group size; smaller groups are marked.
    """
    dims = list(dict.fromkeys(sg["dimension"]))
    n_rows = [len(sg[sg["dimension"] == dim]) for dim in dims]
    fig = make_subplots(rows=len(dims), cols=1, subplot_titles=[label(dim) for dim in dims],
                        row_heights=[max(n, 1) for n in n_rows],
                        vertical_spacing=0.08 / len(dims) + 0.02, shared_xaxes=True)
    for row, dim in enumerate(dims, start=1):
        groups = sg[sg["dimension"] == dim].sort_values(value, ascending=False)
        _add_panel(fig, groups, row, value=value, before=before, min_size=min_size)
    bars_per_group = 2 if before else 1
    fig.update_layout(title=title, barmode="group",
                      height=max(300, 90 + 26 * sum(n_rows) * bars_per_group + 40 * len(dims)))
    return fig


def weak_histogram(per_user: pd.DataFrame, k: int) -> go.Figure:
    """Per-user test NDCG@k of the evaluated users, weak users against the others (30 bins
    over [0, 1], overlaid)."""
    metric = f"ndcg@{k}"
    evaluated = per_user[per_user["evaluated"].astype(bool)]
    weak = evaluated["weak"].astype(bool)
    fig = go.Figure()
    for name, mask, color in (("other users", ~weak, "#88CCEE"),
                              ("weak users", weak, "#CC6677")):
        fig.add_histogram(x=evaluated.loc[mask, metric], name=name, marker_color=color,
                          opacity=0.8, xbins={"start": 0.0, "end": 1.0, "size": 1 / 30})
    fig.update_layout(barmode="overlay", title=f"Per-user test NDCG@{k}",
                      xaxis_title=f"NDCG@{k}", yaxis_title="users", xaxis_range=[0, 1])
    return fig


def controls_figure(means: dict[str, float], k: int) -> go.Figure:
    """Mean NDCG@k of the weak users sent: the LLM's bar beside each free reordering's."""
    keys = [name for name in CONTROL_NAMES if name in means]
    fig = go.Figure(go.Bar(x=[CONTROL_NAMES[name] for name in keys],
                           y=[means[name] for name in keys],
                           marker_color=["#CC6677" if name == "llm" else "#88CCEE"
                                         for name in keys]))
    fig.update_layout(title=f"Weak users sent: mean NDCG@{k}, LLM against free reorderings",
                      yaxis_title=f"NDCG@{k}", yaxis_range=[0, 1])
    return fig


def curve_figure(curve: pd.DataFrame, k: int) -> go.Figure:
    """The cost-benefit curve: dollars against the mean NDCG@k gain over everyone, one point
    per weak-user threshold (``cost_curve.csv``)."""
    fig = go.Figure(go.Scatter(
        x=curve["cost_usd"], y=curve["gain"], mode="lines+markers",
        text=[f"threshold {fmt_metric(threshold)}, {fmt_int(n_users)} users"
              for threshold, n_users in zip(curve["threshold"], curve["n_users"], strict=True)],
        line={"color": "#332288"}))
    fig.update_layout(title="Cost-benefit curve over thresholds", xaxis_title="dollars",
                      yaxis_title=f"mean NDCG@{k} gain (everyone)")
    return fig
