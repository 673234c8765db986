"""Tests of analysis/gains/remedies.py: the comparison's figures equal those of the individual
runs (a fake-LLM rerank, a no-LLM content blend and an "LLM" blend netted against it), the
long-tail figures against an independent count, the cost projection, and the bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.gains.remedies import compare_remedies
from analysis.metrics.long_tail import long_tail_items
from analysis.remedies.content_blend import blend_content
from analysis.runs.remedy import load_remedy_run
from analysis.runs.store import RunStore


@pytest.fixture(scope="module")
def setup(runs, files):
    store = RunStore(runs.workspace)
    run = store.load_baseline(runs.baseline.run_id)
    rng = np.random.default_rng(0)
    blends = {}
    for name, uses_llm, cost in (("control", False, 0.0), ("llm", True, 1.5)):
        vectors = rng.normal(size=(run.dataset.n_items, 8)).astype(np.float32)
        blend = blend_content(run, vectors)
        remedy = blend.remedy_run(encoder=f"{name}-encoder", uses_llm=uses_llm, one_off_usd=cost)
        info = store.save_remedy(remedy, runs.baseline.run_id, run.dataset)
        blends[name] = (blend, load_remedy_run(info.path, run.dataset))
    cmp = compare_remedies(run, reranks=[files], remedies=[blends["llm"][1],
                                                            blends["control"][1]],
                           users_per_month=100_000, refreshes_per_month=4)
    return run, files, blends, cmp


def _row(cmp, kind, uses_llm=None):
    t = cmp.table
    rows = t[(t["kind"] == kind) & ((t["uses_llm"] == uses_llm) if uses_llm is not None else True)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_rerank_row_equals_the_rerank_run(setup):
    run, rerank, _, cmp = setup
    row = _row(cmp, "llm_rerank")
    gains, nd = rerank.summary.gains, f"ndcg@{run.k}"
    assert row["n_target"] == gains["n_selected"]
    assert row["gain_target"] == pytest.approx(gains["mean_gain_selected"][nd], abs=1e-12)
    assert row["gain_all"] == pytest.approx(gains["mean_gain_all"][nd], abs=1e-12)
    assert row["net_gain_target"] == pytest.approx(rerank.summary.net_gain["mean"], abs=1e-12)
    assert [row["net_low"], row["net_high"]] == pytest.approx(rerank.summary.net_gain["ci95"])
    assert row["weak_after"] - row["weak_before"] == (
        rerank.summary.weak_remaining["all_after"] - rerank.summary.weak_remaining["all_before"]
    ) or run.summary.weak_users.rule.metric != rerank.config.rule.metric
    per_user = rerank.summary.usd_total_including_cached / rerank.summary.n_requests
    assert row["per_user_usd"] == pytest.approx(per_user)
    share = row["n_target"] / int(run.per_user["evaluated"].sum())
    assert row["monthly_usd"] == pytest.approx(100_000 * share * 4 * per_user)


def test_blend_rows_equal_the_blends_and_net_is_paired(setup):
    _, _, blends, cmp = setup
    control, llm = blends["control"][0], blends["llm"][0]
    c, g = _row(cmp, "content_blend", False), _row(cmp, "content_blend", True)
    assert c["gain_target"] == pytest.approx(control.mean_gain_target, abs=1e-12)
    assert c["gain_all"] == pytest.approx(control.mean_gain_all, abs=1e-12)
    assert c["net_gain_target"] == c["gain_target"] and c["net_of"] == "baseline"
    assert [c["gain_low"], c["gain_high"]] == pytest.approx(list(control.gain_ci95))
    k = f"gain_ndcg@{control.k}"
    paired = llm.per_user.set_index("user_idx")[k] - control.per_user.set_index("user_idx")[k]
    assert g["net_gain_target"] == pytest.approx(paired.mean(), abs=1e-12)
    assert g["net_of"] == c["remedy"]
    assert (g["one_off_usd"], g["monthly_usd"], g["first_month_usd"]) == (1.5, 0.0, 1.5)


def test_long_tail_against_an_independent_count(setup):
    run, _, blends, cmp = setup
    tail = long_tail_items(run.split.train)
    evaluated = run.per_user["evaluated"].to_numpy(bool)
    lists = run.rankings[:, : run.k].astype(np.int64)

    def exposure(lists):
        shown = lists[evaluated]
        return tail[shown[shown >= 0]].mean()

    assert cmp.table.iloc[0]["long_tail_exposure"] == pytest.approx(exposure(lists))
    blend = blends["control"][0]
    after = lists.copy()
    after[blend.per_user["user_idx"].to_numpy()] = blend.topk
    assert _row(cmp, "content_blend", False)["long_tail_exposure"] == pytest.approx(
        exposure(after))


def test_an_llm_remedy_without_its_control_has_no_net_gain(setup):
    run, _, blends, _ = setup
    cmp = compare_remedies(run, remedies=[blends["llm"][1]])
    row = _row(cmp, "content_blend", True)
    assert np.isnan(row["net_gain_target"]) and pd.isna(row["net_of"])
    assert cmp.cheapest_reaching(0.0) is None


def test_cheapest_reaching_picks_the_least_first_month_cost(setup):
    _, _, _, cmp = setup
    reach = cmp.table.iloc[1:]
    target = float(reach["net_gain_target"].min())
    best = cmp.cheapest_reaching(target)
    assert best["first_month_usd"] == reach["first_month_usd"].min()
    assert cmp.cheapest_reaching(float(reach["net_gain_target"].max()) + 1.0) is None


@pytest.mark.parametrize("volume", [{"users_per_month": -1}, {"refreshes_per_month": np.nan}])
def test_bad_volumes_are_refused(setup, volume):
    run = setup[0]
    with pytest.raises(AnalysisError, match="must be a non-negative number"):
        compare_remedies(run, **volume)


def test_a_repeated_remedy_is_shown_once(setup):
    run, _, blends, _ = setup
    control = blends["control"][1]
    cmp = compare_remedies(run, remedies=[control, control, blends["llm"][1]])
    assert cmp.table["kind"].tolist() == ["baseline", "content_blend", "content_blend"]


def test_the_verdict_says_whether_the_best_interval_includes_zero(setup):
    _, _, _, cmp = setup
    table = cmp.table.copy()
    best = int(table["net_gain_target"].iloc[1:].to_numpy(float).argmax()) + 1
    # the row under test stays the best whatever the fixture's remedies found
    table.loc[table.index[1:], "net_gain_target"] = -0.5
    table.loc[best, "net_gain_target"] = 0.0015
    for low, high, says in ((0.001, 0.002, "its interval excludes zero"),
                            (-0.002, -0.001, "a loss: its 95% interval lies below zero"),
                            (-0.001, 0.001, "its 95% interval includes zero")):
        table.loc[best, ["net_low", "net_high"]] = low, high
        shifted = type(cmp)(table=table, k=cmp.k, users_per_month=cmp.users_per_month,
                            refreshes_per_month=cmp.refreshes_per_month, rule=cmp.rule)
        assert says in shifted.verdict()
        table.loc[best, "net_gain_target"] = 0.0015
        assert shifted.verdict().startswith("The largest net NDCG@10 gain on the users served")
        table.loc[best, "net_gain_target"] = -0.0015
        assert shifted.verdict().startswith("No remedy gains on the users it serves: the best")
        assert shifted.verdict(0.01).startswith("No remedy gains on the users it serves")
