"""Tests of analysis/report/_charts.py: plotly.js inline once, one sorted panel per
subgroup dimension with sizes and small groups marked."""

from __future__ import annotations

import re

import pandas as pd

from analysis.report import SMALL_GROUP_MARK, subgroup_figure


def test_report_is_self_contained_with_plotly_inline_once(full):
    html = full.html
    # histogram, subgroups, before/after by group, LLM against controls, cost curve
    assert full.n_charts == 5
    divs = re.findall(r'<div id="weakspot-chart-\d+" class="plotly-graph-div"', html)
    assert len(divs) == 5
    assert len(re.findall(r"<script[^>]*\bsrc=", html)) == 0
    assert len(re.findall(r"<link[^>]*\bhref=", html)) == 0
    assert html.count("* plotly.js v") == 1  # the library's banner: embedded exactly once


def test_report_subgroup_chart_has_one_sorted_panel_per_dimension(runs, full):
    sg = pd.DataFrame({"dimension": ["a", "a", "a", "b", "b"], "group": ["x", "y", "z", "u", "v"],
                       "size": [50, 5, 30, 40, 41], "mean": [0.2, 0.9, 0.1, 0.3, 0.4],
                       "ci_low": [0.1, 0.5, 0.0, 0.2, 0.3], "ci_high": [0.3, 1.0, 0.2, 0.4, 0.5]})
    fig = subgroup_figure(sg, "t", min_size=20)
    assert len(fig.data) == 2  # one trace per dimension, never one mixed bar chart
    a, b = fig.data
    assert a.yaxis != b.yaxis
    # sorted by mean (plotly draws the first y at the bottom: best first, worst on top)
    assert list(a.y) == [f"y (n=5){SMALL_GROUP_MARK}", "x (n=50)", "z (n=30)"]
    assert list(a.marker.color) == ["#DDDDDD", "#332288", "#332288"]  # small group pale
    assert list(b.y) == ["v (n=41)", "u (n=40)"]
    # in the report: the subgroups chart's labels carry their sizes
    groups = pd.read_csv(runs.baseline.path / "subgroups.csv")
    first = groups.iloc[0]
    assert f"{first['group']} (n={first['size']:,})" in full.html
