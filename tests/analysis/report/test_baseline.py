"""Tests of analysis/report/_baseline.py: the baseline's evidence."""

from __future__ import annotations

import json

import pandas as pd


def test_report_shows_adjusted_p_values_reliability_and_validated_cohorts(runs, full):
    """The subgroup and cohort sections carry what the run decided: Holm and BH p-values
    beside the raw ones, which groups are too small, and each cohort's test figure."""
    html = full.html
    summary = json.loads((runs.baseline.path / "summary.json").read_text())
    d = summary["disparity"][0]
    assert "kruskal_p_holm" in html and "kruskal_p_bh" in html
    assert f"<td>{d['kruskal_p_holm']:.3g}</td>" in html
    assert f"Holm- and BH-adjusted over {d['p_family_size']} tests" in html
    assert f"groups of at least {d['min_group_size']} users" in html
    assert "<th>reliable</th>" in html
    cohorts = pd.read_csv(runs.baseline.path / "weak_cohorts.csv")
    assert "<th>test_mean</th>" in html and "<th>val_mean</th>" in html
    assert f"<td>{cohorts['test_mean'].iloc[0]:,.4f}</td>" in html
