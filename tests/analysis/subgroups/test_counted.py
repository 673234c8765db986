"""Subgroup statistics from value counts equal subgroup_report on the expanded table."""

import numpy as np
import pandas as pd
import pytest

from analysis.subgroups import bootstrap_mean_ci, kruskal_family, subgroup_report
from analysis.subgroups._binning import quantile_codes
from analysis.subgroups._grouping import crossed_codes
from analysis.subgroups.counted import counted_family, counted_quantile_edges, counted_report


def _table(seed=0):
    """3 groups: 2,600 users (normal-limit CI), 400 (bootstrap), 6 (too small); NDCG-like
    discrete values, a weak flag, a few NaNs."""
    rng = np.random.default_rng(seed)
    sizes = {"big": 2600, "mid": 400, "tiny": 6}
    group = np.repeat(list(sizes), list(sizes.values()))
    levels = np.array([0.0, 0.25, 0.3869, 0.5, 0.6309, 1.0])
    shift = np.where(group == "big", 0, np.where(group == "mid", 2, 1))
    value = levels[np.minimum(rng.integers(0, 4, len(group)) + shift, 5)]
    value[rng.random(len(group)) < 0.02] = np.nan
    table = pd.DataFrame({
        "g": pd.Categorical(group, categories=["big", "mid", "tiny"], ordered=True),
        "h": pd.Categorical(rng.choice(["a", "b"], len(group))),
        "m": value,
    })
    weak = np.nan_to_num(value, nan=1.0) <= 0.25
    return table, weak


def _counts(table, weak, dims):
    codes, levels = crossed_codes(table, list(dims))
    ok = table["m"].notna().to_numpy()
    df = pd.DataFrame({"code": codes[ok], "value": table["m"].to_numpy()[ok], "w": weak[ok]})
    counts = df.groupby(["code", "value"]).agg(n=("w", "size"), n_weak=("w", "sum"))
    return counts.reset_index(), levels, int((~ok).sum())


@pytest.mark.parametrize("dims", [("g",), ("g", "h")])
def test_equals_subgroup_report(dims):
    table, weak = _table()
    counts, levels, n_excl = _counts(table, weak, dims)
    dimension = dims[0] if len(dims) == 1 else tuple(dims)
    got = counted_report(counts, levels, dimension, "m", n_excluded=n_excl, n_boot=200,
                         seed=3, min_group_size=20)
    want = subgroup_report(table, "m", dimension, weak=weak, n_boot=200, seed=3,
                           min_group_size=20)
    exact = ["group", "size", "reliable"] + list(dims if len(dims) == 2 else [])
    pd.testing.assert_frame_equal(got.by_group[exact], want.by_group[exact])
    for col in ["mean", "median", "weak_share"]:
        np.testing.assert_allclose(got.by_group[col], want.by_group[col], rtol=1e-12)
    for name in ["group_min", "group_max", "difference", "ratio", "gini", "kruskal_h",
                 "kruskal_p"]:
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-9), name
    assert (got.worst_group, got.n_excluded, got.n_small_groups) == (
        want.worst_group, want.n_excluded, want.n_small_groups)
    # above 2,000 users: the same normal-limit interval; below: the same bootstrap over the
    # group's values in ascending order (user order in the in-memory report)
    big = got.by_group["size"] > 2000
    np.testing.assert_allclose(got.by_group.loc[big, ["ci_low", "ci_high"]],
                               want.by_group.loc[big, ["ci_low", "ci_high"]], rtol=1e-12)
    np.testing.assert_allclose(got.overall.to_numpy(dtype=float),
                               want.overall.to_numpy(dtype=float), rtol=1e-12)
    ok = table["m"].notna().to_numpy()
    codes, _ = crossed_codes(table, list(dims))
    for _, row in got.by_group[~big].iterrows():
        g = levels.index(row["group"].split(" × ")) if len(dims) == 2 else \
            [lv[0] for lv in levels].index(row["group"])
        xs = np.sort(table["m"].to_numpy()[ok & (codes == g)])
        lo, hi = bootstrap_mean_ci(xs, 200, 0.95, np.random.default_rng((3, g + 1)))
        assert (row["ci_low"], row["ci_high"]) == (lo, hi)


def test_family_equals_kruskal_family():
    table, weak = _table(1)
    reports = []
    for dims in [("g",), ("h",), ("g", "h")]:
        counts, levels, n_excl = _counts(table, weak, dims)
        reports.append(counted_report(counts, levels, dims[0] if len(dims) == 1 else dims,
                                      "m", n_excluded=n_excl, n_boot=0, min_group_size=20))
    got = counted_family(reports)
    want = kruskal_family(table, "m", ["g", "h"], min_group_size=20)
    assert list(got["dimension"]) == list(want["dimension"]) == ["g", "h", "g × h"]
    np.testing.assert_allclose(got[["kruskal_h", "kruskal_p", "p_holm", "p_bh"]],
                               want[["kruskal_h", "kruskal_p", "p_holm", "p_bh"]], rtol=1e-9)


def test_hand_computed():
    """Values 0, 0, 1, 1, 1 (group a) and 1 (group b): mean 0.6, median 1, Gini
    2 (3+4+5+6) / (6 * 4) - 7/6 = 1/3 over everyone."""
    counts = pd.DataFrame({"code": [0, 0, 1], "value": [0.0, 1.0, 1.0], "n": [2, 3, 1]})
    r = counted_report(counts, [["a"], ["b"]], "d", "m", n_boot=0, min_group_size=1)
    assert r.by_group["mean"].tolist() == [0.6, 1.0]
    assert r.by_group["median"].tolist() == [1.0, 1.0]
    assert r.overall["median"] == 1.0 and r.overall["size"] == 6
    assert r.gini == pytest.approx(1 / 3)
    assert (r.worst_group, r.difference) == ("a", pytest.approx(0.4))
    # identical values: no test, as scipy
    same = pd.DataFrame({"code": [0, 1], "value": [1.0, 1.0], "n": [3, 3]})
    r = counted_report(same, [["a"], ["b"]], "d", "m", n_boot=0, min_group_size=1)
    assert np.isnan(r.kruskal_h) and np.isnan(r.kruskal_p)


def test_quantile_edges_equal_expanded():
    rng = np.random.default_rng(0)
    x = rng.poisson(6, 999).astype(float)
    v, c = np.unique(x, return_counts=True)
    for bins in (1, 3, 4, 7):
        np.testing.assert_array_equal(counted_quantile_edges(v, c, bins),
                                      quantile_codes(x, bins)[1])
