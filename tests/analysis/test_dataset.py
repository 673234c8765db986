"""Tests of analysis/dataset.py: relevance gains and the dataset's headline statistics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis.dataset import compute_gain
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
