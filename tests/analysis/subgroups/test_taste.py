"""Taste categories: a hand-computed case (two obvious clusters), determinism, the subgroup
dimensions and the errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from analysis.errors import AnalysisError
from analysis.subgroups._columns import subgroup_dimensions
from analysis.subgroups.taste import (
    BAD_CATEGORIES,
    TOO_FEW_ITEMS,
    add_taste_columns,
    focus_bins,
    taste_categories,
    taste_subgroups,
)

# items 0-2 point along x, items 3-5 along y, item 6 has no vector
VECTORS = np.array(
    [[1.0, 0.1], [2.0, 0.0], [1.0, -0.1], [0.0, 1.0], [0.1, 3.0], [-0.1, 1.0], [0.0, 0.0]]
)
# u0: {0, 1, 3}; u1: {4, 5}; u2: {2, 3}; u3: {6} (only the uncategorised item)
ROWS = [0, 0, 0, 1, 1, 2, 2, 3]
COLS = [0, 1, 3, 4, 5, 2, 3, 6]
ITEMS = pd.DataFrame({
    "title": ["A0", "A1", "A2", "B3", "B4", "B5", "Z6"],
    "genres": ["Action|Sci-Fi", "Action", "Action|Drama", "Romance", "Romance|Comedy", None,
               "Horror"],
})


def _train(values=None) -> sp.csr_matrix:
    data = np.ones(len(ROWS)) if values is None else values
    return sp.csr_matrix((data, (ROWS, COLS)), shape=(4, 7))


def _taste(**kw):
    return taste_categories(_train(), VECTORS, n_categories=2, seed=0, items=ITEMS,
                            item_ids=np.arange(7) + 100, **kw)


def test_hand_computed_categories_distribution_dominant_focus():
    t = _taste()
    # cluster y (items 3-5) has 4 training interactions, cluster x 3: it is category 0
    np.testing.assert_array_equal(t.item_category, [1, 1, 1, 0, 0, 0, -1])
    np.testing.assert_allclose(
        t.distribution, [[1 / 3, 2 / 3], [1.0, 0.0], [0.5, 0.5], [0.0, 0.0]]
    )
    np.testing.assert_array_equal(t.dominant, [1, 0, 0, -1])  # u2's tie goes to category 0
    np.testing.assert_allclose(t.focus, [2 / 3, 1.0, 0.5, np.nan])
    np.testing.assert_array_equal(t.popularity, [4, 3])
    np.testing.assert_array_equal(t.n_items, [3, 3])
    np.testing.assert_array_equal(t.n_dominant, [2, 1])
    # names: top 3 items by training popularity (B3 has 2), then the two commonest genres
    assert t.names == ["B3, B4, B5 [Romance, Comedy]", "A0, A1, A2 [Action, Drama]"]
    assert t.short_names == ["T1 B3", "T2 A0"]
    table = t.table()
    assert table["n_users_dominant"].tolist() == [2, 1]


def test_counts_are_binary_and_names_fall_back_to_ids():
    t = taste_categories(_train(np.arange(1.0, 9.0)), VECTORS, n_categories=2)
    np.testing.assert_allclose(t.distribution[0], [1 / 3, 2 / 3])  # ratings don't weigh
    assert t.names == ["item 3, item 4, item 5", "item 0, item 1, item 2"]


def test_deterministic_for_a_seed():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(60, 5))
    train = sp.random(30, 60, density=0.2, random_state=2, format="csr")
    a = taste_categories(train, vectors, n_categories=4, seed=3)
    b = taste_categories(train, vectors, n_categories=4, seed=3)
    assert a.item_category.tobytes() == b.item_category.tobytes()
    assert a.distribution.tobytes() == b.distribution.tobytes()
    assert a.names == b.names
    np.testing.assert_allclose(a.distribution[a.distribution.sum(1) > 0].sum(1), 1.0)
    # categories are numbered by popularity, most popular first
    assert (np.diff(a.popularity) <= 0).all()


def test_focus_bins_at_fixed_cut_offs():
    bins = focus_bins(np.array([0.2, 0.3, 0.49, 0.5, 1.0, np.nan]))
    assert list(bins) == ["broad", "mixed", "mixed", "focused", "focused", "none"]
    assert list(bins.categories) == ["focused", "mixed", "broad", "none"]


def test_taste_dimensions_go_through_the_subgroup_report():
    t = _taste()
    per_user = pd.DataFrame(
        {"user_id": [10, 11, 12, 13], "ndcg@10": [0.2, 0.4, 0.6, 0.8]},
        index=pd.Index([0, 1, 2, 3], name="user_idx"),
    )
    table = add_taste_columns(per_user, t)
    assert table["taste_category"].astype(str).tolist() == ["T2 A0", "T1 B3", "T1 B3", "none"]
    assert table["taste_focus"].astype(str).tolist() == ["focused"] * 3 + ["none"]
    assert {"taste_category", "taste_focus"} <= set(subgroup_dimensions(table))
    out = taste_subgroups(per_user, t, "ndcg@10", n_boot=50, min_group_size=1)
    by_cat = out.reports[0].by_group.set_index("group")
    assert by_cat.loc["T1 B3", "mean"] == pytest.approx(0.5)
    assert by_cat.loc["T2 A0", "mean"] == pytest.approx(0.2)
    assert by_cat.loc["none", "mean"] == pytest.approx(0.8)
    assert by_cat["size"].tolist() == [2, 1, 1]
    by_focus = out.reports[1].by_group.set_index("group")
    assert by_focus.loc["focused", "mean"] == pytest.approx(0.4)
    assert by_focus.loc["focused", "ci_low"] <= 0.4 <= by_focus.loc["focused", "ci_high"]
    assert out.p_tests["dimension"].tolist() == [
        "taste_category", "taste_focus", "taste_category × taste_focus"]


def test_errors():
    with pytest.raises(AnalysisError, match="integer >= 2"):
        taste_categories(_train(), VECTORS, n_categories=1)
    assert "{value!r}" in BAD_CATEGORIES
    with pytest.raises(AnalysisError, match="one vector per item"):
        taste_categories(_train(), VECTORS[:5], n_categories=2)
    with pytest.raises(AnalysisError, match="fewer categories"):
        taste_categories(_train(), VECTORS, n_categories=7)
    assert "{k}" in TOO_FEW_ITEMS
