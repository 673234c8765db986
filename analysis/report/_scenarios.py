"""The report's "Scenarios" section: which scenarios (surfaces, domains) the recommender
serves worst, cross- against single-scenario users, and the weak (user, scenario) pairs
(:mod:`analysis.scenarios`)."""

from __future__ import annotations

import pandas as pd

from analysis.formatting import fmt_int, fmt_metric
from analysis.report._html import table
from analysis.scenarios import ScenarioAnalysis

__all__ = ["scenarios_section"]

MODES = {
    "catalogue": "the run's own top-k lists, whatever scenario their items come from (what a "
                 "user of the shared model sees)",
    "scenario": "the run's top-C candidates kept to the scenario's items, then the first k",
}
NOTE = (
    "One observation per (user, scenario) pair with test items of that scenario: a user "
    "active in two scenarios counts in both. Intervals are 95% bootstrap intervals of the "
    "mean; scenarios with fewer than {size} pairs are shown but never named worst. The "
    "p-value is Kruskal-Wallis across the reliable scenarios, Holm-adjusted with every other "
    "subgroup test of the run. Weak pairs: the run's weak-user rule applied to each pair's "
    "validation NDCG, judged on its test NDCG. Definitions: docs/metrics.md, Scenarios."
)


def _groups(rep) -> pd.DataFrame:
    by = rep.by_group
    return pd.DataFrame({
        "group": by["group"], "pairs": by["size"].astype("int64"), "NDCG": by["mean"],
        "CI low": by["ci_low"], "CI high": by["ci_high"],
        "shown only (small)": ~by["reliable"].astype(bool),
    })


def scenarios_section(found: ScenarioAnalysis) -> dict:
    """The section's view: ``headline``, ``mode``, ``table`` (per scenario), ``users``
    (cross vs single), ``weak`` (a sentence or None) and ``note`` (escaped HTML tables)."""
    rep = found.report
    by = rep.by_scenario
    metric = rep.pairs.metric
    tests = rep.p_tests.set_index("dimension")
    p = tests.loc["scenario", "p_holm"] if "scenario" in tests.index else float("nan")
    if by.worst_group is None:
        headline = (f"No scenario has {by.min_group_size} or more (user, scenario) pairs with "
                    f"test items: none is named worst.")
    else:
        headline = (f"Worst scenario: {by.worst_group}, {metric} {fmt_metric(by.group_min)} "
                    f"per (user, scenario) pair against {fmt_metric(by.group_max)} for the "
                    f"best (gap {fmt_metric(by.difference)}; Holm-adjusted p "
                    f"{p:.3g}).")
    weak = None
    if found.weak is not None:
        sel = found.weak.selection
        weak = (f"{fmt_int(found.weak.n_weak)} weak (user, scenario) pairs of "
                f"{fmt_int(found.weak.n_pairs)} ({fmt_int(sel.n_unselectable)} without "
                f"validation items cannot be selected); their test {metric} "
                f"{fmt_metric(sel.test_mean_weak)} against {fmt_metric(sel.test_mean_rest)} "
                f"for the other pairs.")
    heat = heat_table = None
    if found.heatmap is not None:
        h = found.heatmap
        cell = h.worst
        heat = (f"Scenario by {h.by}: mean {metric} per cell (cells under {h.min_group_size} "
                "pairs left blank). " + ("No cell is large enough to name a worst one."
                                        if cell is None else
                                        f"Worst cell: {cell[0]} x {cell[1]}."))
        grid = h.grid().rename_axis(columns=None).reset_index()
        heat_table = table(grid)
    return {"headline": headline, "mode": MODES.get(rep.mode, rep.mode),
            "table": table(_groups(by)), "users": table(_groups(rep.by_users)), "weak": weak,
            "heat": heat, "heat_table": heat_table,
            "note": NOTE.format(size=by.min_group_size)}
