"""Dataset statistics for the Data page: hand-computed histogram, long-tail curve, counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import ingest
from analysis.ingest.stats import activity_histogram, dataset_stats, head_share, popularity_curve
from analysis.workspace import Workspace


def test_activity_histogram_log_bins_by_hand():
    h = activity_histogram(np.array([1, 1, 2, 3, 5, 8]), n_bins=3)
    # geomspace(1, 9, 4) = 1, 2.08, 4.33, 9 -> edges 1, 2, 4, 9
    assert h["low"].tolist() == [1, 2, 4]
    assert h["high"].tolist() == [1, 3, 8]
    assert h["label"].tolist() == ["1", "2-3", "4-8"]
    assert h["n_users"].tolist() == [2, 2, 2]


def test_activity_histogram_counts_every_user_once_and_handles_empty():
    rng = np.random.default_rng(0)
    counts = rng.zipf(1.8, size=1000)
    h = activity_histogram(counts, n_bins=30)
    assert h["n_users"].sum() == 1000
    assert (h["high"].to_numpy()[:-1] + 1 == h["low"].to_numpy()[1:]).all()  # contiguous
    assert h["high"].iloc[-1] == counts.max()
    assert activity_histogram(np.array([], dtype=int)).empty
    single = activity_histogram(np.array([4, 4]))
    assert single["n_users"].sum() == 2 and single["high"].iloc[-1] == 4


def test_popularity_curve_by_hand():
    full = popularity_curve(np.array([1, 5, 3, 1]), max_points=10)
    assert full["rank"].tolist() == [1, 2, 3, 4]
    assert full["n_interactions"].tolist() == [5, 3, 1, 1]
    assert full["cumulative_share"].tolist() == pytest.approx([0.5, 0.8, 0.9, 1.0])
    assert full["item_share"].tolist() == pytest.approx([0.25, 0.5, 0.75, 1.0])
    two = popularity_curve(np.array([1, 5, 3, 1]), max_points=2)
    assert two["rank"].tolist() == [1, 4]
    assert two["cumulative_share"].tolist() == pytest.approx([0.5, 1.0])
    assert popularity_curve(np.array([], dtype=int)).empty


def test_popularity_curve_keeps_at_most_max_points_and_the_ends():
    c = popularity_curve(np.arange(1, 10_001), max_points=50)
    assert len(c) <= 50
    assert c["rank"].iloc[0] == 1 and c["rank"].iloc[-1] == 10_000
    assert c["cumulative_share"].iloc[-1] == pytest.approx(1.0)
    assert (np.diff(c["n_interactions"]) <= 0).all()


def test_head_share():
    assert head_share(np.array([5, 3, 1, 1]), 0.2) == pytest.approx(0.5)  # ceil(0.8) = 1 item
    assert head_share(np.array([5, 3, 1, 1]), 0.5) == pytest.approx(0.8)
    assert head_share(np.array([], dtype=int)) == 0.0
    assert head_share(np.array([0, 0])) == 0.0


def test_dataset_stats_from_the_workspace():
    ws = Workspace(":memory:")
    frame = pd.DataFrame({"user_id": [1, 1, 2, 2], "item_id": [10, 11, 10, 12],
                          "rating": [5, 3, 4, 1], "timestamp": [100, 101, 102, 103]})
    ingest(ws, "tiny", frame)
    s = dataset_stats(ws, "tiny")
    assert (s.n_users, s.n_items, s.n_interactions, s.n_relevant) == (2, 3, 4, 2)
    assert s.sparsity == pytest.approx(1 - 4 / 6)
    assert s.relevant_share == pytest.approx(0.5)
    assert s.has_timestamps and not s.has_users and not s.has_items
    assert s.kind == "explicit" and s.relevance_threshold == 4.0
    assert s.top20_share == pytest.approx(0.5)  # item 10 holds 2 of 4
    assert s.activity["label"].tolist() == ["1", "2"]  # bins always start at 1
    assert s.activity["n_users"].tolist() == [0, 2]
    assert s.popularity["n_interactions"].tolist() == [2, 1, 1]


def test_dataset_stats_without_timestamps_and_unknown_name():
    ws = Workspace(":memory:")
    ingest(ws, "nots", pd.DataFrame({"user": ["a", "b"], "item": ["x", "x"]}))
    s = dataset_stats(ws, "nots")
    assert not s.has_timestamps and s.kind == "implicit" and s.relevant_share == 1.0
    with pytest.raises(AnalysisError, match="No dataset named 'nope'"):
        dataset_stats(ws, "nope")
