"""The scenario as a subgroup dimension: the planted bad scenario is named worst."""

from __future__ import annotations

import numpy as np

from analysis.scenarios import analyse_scenarios, pair_metrics, scenario_report, worst_scenario_line


def test_planted_bad_scenario_is_named_worst(planted_run):
    for mode in ("catalogue", "scenario"):
        a = analyse_scenarios(planted_run, mode)
        r = a.report
        assert r.mode == mode and r.worst_scenario == "search"
        by = r.by_scenario.by_group.set_index("group")
        assert by.loc["search", "ci_high"] < by.loc["feed", "ci_low"]
        assert by.loc["search", "size"] == (r.pairs.table["scenario"] == "search").sum() - (
            r.pairs.table.loc[r.pairs.table["scenario"] == "search", "ndcg@5"].isna().sum())
        tests = r.p_tests.set_index("dimension")
        assert tests.loc["scenario", "p_holm"] < 1e-6
        assert tests["family_size"].iloc[0] == np.isfinite(tests["kruskal_p"]).sum()
        assert a.heatmap.worst[0] == "search"
    line = worst_scenario_line(planted_run)
    assert line.startswith("worst scenario: search (ndcg@5 ")


def test_cross_against_single_users(planted_run):
    r = scenario_report(pair_metrics(planted_run, validation=False), planted_run.per_user,
                        n_boot=0, min_group_size=10)
    by = r.by_users.by_group.set_index("group")
    assert by.loc["cross-scenario", "size"] == 160 and by.loc["single-scenario", "size"] == 80
    # cross-scenario users carry the unpredictable search items: served worse
    assert r.by_users.worst_group == "cross-scenario"


def test_small_scenarios_are_never_worst(planted_run):
    r = scenario_report(pair_metrics(planted_run, validation=False), planted_run.per_user,
                        n_boot=0, min_group_size=10_000)
    assert r.worst_scenario is None and not r.by_scenario.by_group["reliable"].any()
