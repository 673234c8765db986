"""Tests of analysis/dataset.py: relevance gains and the dataset's headline statistics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis.dataset import Dataset, compute_gain
from tests.datasets import make_dataset


def test_gain_of_each_feedback_kind():
    ratings = np.array([1, 3.5, 4, 5], dtype=np.float32)
    # explicit: the rating at or above the threshold, else 0
    assert compute_gain(ratings, "explicit", 4.0).tolist() == [0, 0, 4, 5]
    assert compute_gain(ratings, "explicit", 3.5).tolist() == [0, 3.5, 4, 5]
    # counts: every interaction relevant, graded by its count (a copy, not a view)
    counts = np.array([1, 7, 2], dtype=np.float32)
    gain = compute_gain(counts, "count", 4.0)
    assert gain.tolist() == [1, 7, 2] and gain is not counts
    # implicit, or no value at all: 1 each
    assert compute_gain(counts, "implicit", 4.0).tolist() == [1, 1, 1]
    assert compute_gain(None, "explicit", 4.0).tolist() == []
    assert all(g.dtype == np.float32 for g in (gain, compute_gain(ratings, "explicit", 4.0)))


def test_headline_statistics_by_hand():
    # 3 users x 4 items, 5 interactions; ratings 5, 2, 4, 4, 1 at threshold 4: 3 relevant
    ds = make_dataset([0, 0, 1, 2, 2], [0, 1, 1, 2, 3], [5, 2, 4, 4, 1], [1, 2, 3, 4, 5])
    s = ds.stats()
    assert (ds.n_users, ds.n_items, ds.n_interactions) == (3, 4, 5)
    assert s["n_relevant"] == 3
    assert s["sparsity"] == 1 - 5 / 12
    assert s["interactions_per_user_mean"] == 5 / 3
    assert s["interactions_per_user_median"] == 2.0
    assert s["interactions_per_item_mean"] == 5 / 4
    assert s["has_timestamps"] and not s["has_user_attributes"] and not s["has_item_table"]
    assert json.loads(json.dumps(s)) == s  # plain JSON-able values


def test_an_empty_dataset_has_zero_statistics_not_errors():
    ds = make_dataset([], [], n_users=0, n_items=0)
    s = ds.stats()
    assert s["sparsity"] == 1.0 and s["n_interactions"] == 0
    assert s["interactions_per_user_mean"] == 0.0 and s["interactions_per_item_mean"] == 0.0


def test_side_tables_are_reported():
    ds = make_dataset([0, 1], [0, 0], [5, 5])
    with_tables = type(ds)(**{**ds.__dict__, "users": pd.DataFrame({"user_id": [100, 101]}),
                              "items": pd.DataFrame({"item_id": [1000]})})
    s = with_tables.stats()
    assert s["has_user_attributes"] and s["has_item_table"]


def test_pair_scenarios_look_up_each_interaction():
    ds = Dataset(
        name="s", user_idx=np.array([0, 0, 1, 2], np.int32),
        item_idx=np.array([1, 2, 1, 0], np.int32), value=None, timestamp=None,
        gain=np.ones(4, np.float32), user_ids=np.array(["a", "b", "c"]),
        item_ids=np.array(["x", "y", "z"]), kind="implicit",
        scenario=np.array([0, 1, 1, 0], np.int16), scenario_names=("home", "search"),
    )
    assert ds.has_scenarios and ds.stats()["n_scenarios"] == 2
    got = ds.pair_scenarios(np.array([[0, 0, 0], [1, 2, 2]]), np.array([[1, 2, 0], [1, 0, 2]]))
    np.testing.assert_array_equal(got, [[0, 1, -1], [1, 0, -1]])
    plain = Dataset(name="p", user_idx=ds.user_idx, item_idx=ds.item_idx, value=None,
                    timestamp=None, gain=ds.gain, user_ids=ds.user_ids, item_ids=ds.item_ids)
    assert not plain.has_scenarios and plain.stats()["n_scenarios"] == 0
    np.testing.assert_array_equal(plain.pair_scenarios(np.array([0]), np.array([1])), [-1])
