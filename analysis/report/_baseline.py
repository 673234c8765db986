"""The evidence section of the baseline run: headline cards, the weak-user rule, the per-user
histogram, subgroup means with their intervals, disparity, weakest cohorts, dataset counts."""

from __future__ import annotations

from typing import Any

import pandas as pd
from markupsafe import Markup

from analysis.formatting import fmt_int, fmt_metric, fmt_num, fmt_pct
from analysis.report._charts import Charts, subgroup_figure, weak_histogram
from analysis.report._html import mapping_table, table
from analysis.runs.baseline import read_cohorts, read_subgroups
from analysis.runs.store import RunInfo
from analysis.runs.summary import BaselineSummary

SUBGROUP_COLUMNS = ["dimension", "group", "size", "mean", "ci_low", "ci_high", "weak_share",
                    "reliable"]
DISPARITY_COLUMNS = ["dimension", "worst_group", "group_min", "group_max", "difference", "ratio",
                     "kruskal_p", "kruskal_p_holm", "kruskal_p_bh"]
P_COLUMNS = ("kruskal_p", "kruskal_p_holm", "kruskal_p_bh")
COHORT_COLUMNS = ("rule", "n_users", "share", "val_mean", "test_mean", "mean_metric")


def baseline_section(info: RunInfo, summary: BaselineSummary, per_user: pd.DataFrame,
                     charts: Charts) -> tuple[dict[str, Any], dict[str, Markup | None]]:
    """The baseline's evidence for ``report.html.j2``, and its charts.

    Args:
        info: the baseline run (its folder holds the subgroup and cohort tables).
        summary: its summary.
        per_user: its per-user table (``evaluated``, ``weak``, ``ndcg@k``).
        charts: the report's embedder (the histogram, then the subgroups chart).

    Returns:
        The view: ``cards``, ``rule_text``, ``subgroups``, ``disparity``, ``cohorts`` (each
        None when the run has none), ``dataset_table``; and the charts ``histogram`` and
        ``subgroups`` (None without subgroups).
    """
    view: dict[str, Any] = {
        "cards": _cards(summary), "rule_text": _rule_text(summary),
        "subgroups": None, "disparity": None, "cohorts": None,
    }
    histogram = charts(weak_histogram(per_user, summary.k))
    view["subgroups"], subgroups_chart = _subgroups(info, summary, charts)
    view["disparity"] = _disparity(summary.disparity)
    view["cohorts"] = _cohorts(info)
    view["dataset_table"] = mapping_table(summary.dataset, "statistic")
    return view, {"histogram": histogram, "subgroups": subgroups_chart}


def _cards(summary: BaselineSummary) -> list[tuple[str, str]]:
    k, overall, weak = summary.k, summary.overall, summary.weak_users
    return [(f"NDCG@{k}", fmt_metric(overall[f"ndcg@{k}"], 3)),
            (f"Recall@{k}", fmt_metric(overall[f"recall@{k}"], 3)),
            ("AUC", fmt_metric(overall["auc"], 3)),
            ("Weak users", f"{fmt_int(weak.n_weak)} ({fmt_pct(weak.share)})")]


def _rule_text(summary: BaselineSummary) -> str:
    """The run's weak-user rule, chosen on validation, and the weak users' test figure."""
    weak = summary.weak_users
    rule = weak.rule
    cut = (f"≤ {fmt_num(rule.threshold)}" if rule.threshold is not None
           else f"≤ its {rule.percentile:g}th percentile ({fmt_metric(weak.threshold_value)})")
    return (f"Weak users: validation {rule.metric} {cut}"
            f"{' and inactive' if rule.require_inactive else ''}, chosen on validation "
            f"and judged on test: their test {rule.metric} is "
            f"{fmt_metric(weak.test_mean_weak, 3)} against {fmt_metric(weak.test_mean_rest, 3)} "
            "for the rest.")


def _subgroups(info: RunInfo, summary: BaselineSummary,
               charts: Charts) -> tuple[dict | None, Markup | None]:
    """One dimension's groups per panel (crossed dimensions left out), and their table."""
    groups = read_subgroups(info.path)
    if groups is None:
        return None, None
    min_size = summary.min_group_size
    groups = groups[~groups["dimension"].str.contains(" x ", regex=False)]
    chart = charts(subgroup_figure(
        groups, f"Mean test NDCG@{summary.k} per subgroup, worst at the bottom (bootstrap 95% CI)",
        min_size=min_size), height=None)
    shown = groups[[col for col in SUBGROUP_COLUMNS if col in groups.columns]]
    text = ("Each panel is one dimension, its groups sorted by mean, each labelled with "
            "its number of users.")
    if "reliable" in groups.columns and not groups["reliable"].all():
        text += (f" Groups marked \u201csmall\u201d (reliable False) have fewer than "
                 f"{min_size} users, the minimum group size: their mean and CI are shown "
                 "but too noisy to rank groups by, and they enter no disparity figure below.")
    return {"text": text, "table": table(shown, {"weak_share": fmt_pct})}, chart


def _p_value(p_value: float) -> str:
    return f"{p_value:.3g}" if pd.notna(p_value) else "n/a"


def _disparity(disparity: list[dict]) -> dict | None:
    """The disparity table (raw, Holm and BH p-values) and what its p-values say."""
    if not disparity:
        return None
    rows = pd.DataFrame(disparity)
    rows = rows[[col for col in DISPARITY_COLUMNS if col in rows.columns]].copy()
    first = disparity[0]
    text = None
    if first.get("p_family_size") is not None:
        text = (f"Disparity figures use groups of at least {first['min_group_size']} users. "
                f"p-values: raw, then Holm- and BH-adjusted over {first['p_family_size']} "
                "tests (every dimension and every pair). A small adjusted p says the groups' "
                "distributions differ by more than chance; it does not say by how much, why, "
                "or that the difference matters.")
    return {"table": table(rows, dict.fromkeys(P_COLUMNS, _p_value)), "text": text}


def _cohorts(info: RunInfo) -> dict | None:
    """The ten weakest cohorts of the run's regression tree, if it grew one."""
    cohorts = read_cohorts(info.path)
    if cohorts is None:
        return None
    keep = [col for col in COHORT_COLUMNS if col in cohorts.columns]
    text = ("Leaves of a regression tree fitted on validation NDCG, worst first on "
            "validation; test_mean is each cohort's NDCG on the test split the tree never "
            "saw." if "test_mean" in cohorts.columns else None)
    return {"text": text, "table": table(cohorts[keep].head(10), {"share": fmt_pct})}
