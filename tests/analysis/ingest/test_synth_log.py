"""Tests for analysis/ingest/_synth_log.py: the synthetic (user, item) pairs, ratings and
timestamps."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.ingest._synth_catalog import draw_catalog, genre_log_weights
from analysis.ingest._synth_log import (
    SPAN,
    T0,
    TasteModel,
    draw_pairs,
    draw_ratings,
    draw_timestamps,
)
from analysis.ingest._synth_users import draw_niche_clusters, draw_tastes


def _model(is_niche: np.ndarray, n_items: int = 60, niche_mainstream_share: float = 0.25):
    rng = np.random.default_rng(3)
    logw = genre_log_weights(4)
    cat = draw_catalog(rng, n_items, 4, 1.0, 0.2, logw)
    tastes = draw_tastes(rng, len(is_niche), logw)
    clusters = draw_niche_clusters(rng, len(is_niche), int(is_niche.sum()), cat.tail_items, 2, 5)
    return TasteModel(cat, tastes, clusters, is_niche, 0.05, niche_mainstream_share, 5)


def test_pure_niche_users_pick_only_tail_items():
    model = _model(np.ones(30, dtype=bool), niche_mainstream_share=0.0)
    items = model.draw(np.random.default_rng(0), np.repeat(np.arange(30), 20))
    assert np.isin(items, model.catalog.tail_items).all()


def test_mainstream_picks_stay_in_a_liked_genre_or_the_background():
    model = _model(np.zeros(30, dtype=bool))
    users = np.repeat(np.arange(30), 50)
    items = model.draw(np.random.default_rng(0), users)
    liked_bits = (1 << model.tastes.liked).sum(axis=1)
    in_liked = (model.catalog.item_mask[items] & liked_bits[users]) != 0
    assert in_liked.mean() > 0.9  # the rest: the 5% background share


def test_pairs_meet_each_users_count_without_repeats():
    model = _model(np.arange(30) < 5)
    want = np.arange(30) % 7 + 1
    u_idx, i_idx = draw_pairs(np.random.default_rng(0), model, want, 60)
    np.testing.assert_array_equal(np.bincount(u_idx, minlength=30), want)
    keys = u_idx * 60 + i_idx
    assert len(np.unique(keys)) == len(keys)


def test_ratings_are_whole_numbers_from_one_to_five():
    model = _model(np.arange(30) < 5)
    u_idx, i_idx = draw_pairs(np.random.default_rng(0), model, np.full(30, 5), 60)
    rating = draw_ratings(np.random.default_rng(1), model, u_idx, i_idx, np.zeros(30), 0.2)
    assert rating.dtype == np.float32
    assert set(np.unique(rating)) <= {1.0, 2.0, 3.0, 4.0, 5.0}


@pytest.mark.parametrize("seed", [0, 1])
def test_timestamps_sorted_by_user_then_time_inside_the_span(seed):
    u_idx = np.array([2, 0, 1, 0, 2, 2, 1], dtype=np.int64)
    order, ts = draw_timestamps(np.random.default_rng(seed), u_idx, 3)
    np.testing.assert_array_equal(np.sort(order), np.arange(7))
    users = u_idx[order]
    np.testing.assert_array_equal(users, [0, 0, 1, 1, 2, 2, 2])
    assert ts.dtype == np.int64 and ts.min() >= T0 and ts.max() <= T0 + SPAN
    for u in range(3):
        assert np.all(np.diff(ts[users == u]) >= 0)
