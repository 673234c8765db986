"""Tests for analysis/ingest/_synth_users.py: the synthetic users' niche group, attributes,
tastes, clusters and activity."""

from __future__ import annotations

import numpy as np

from analysis.ingest._synth_catalog import genre_log_weights
from analysis.ingest._synth_users import (
    AGE_BANDS,
    COUNTRIES,
    GENDERS,
    draw_activity,
    draw_attributes,
    draw_niche_clusters,
    draw_niche_group,
    draw_tastes,
    row_choice,
)


def test_row_choice_follows_one_hot_rows():
    rng = np.random.default_rng(0)
    p = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(row_choice(rng, p), [1, 0, 2])


def test_niche_group_has_the_rounded_share():
    rng = np.random.default_rng(0)
    assert draw_niche_group(rng, 10, 0.3).sum() == 3
    assert draw_niche_group(rng, 7, 0.0).sum() == 0


def test_attributes_take_known_values_and_niche_users_lean_to_br():
    rng = np.random.default_rng(0)
    is_niche = np.arange(20_000) < 10_000
    attrs = draw_attributes(rng, is_niche)
    assert set(attrs.country) <= set(COUNTRIES) and set(attrs.age_band) <= set(AGE_BANDS)
    assert set(attrs.gender) <= set(GENDERS)
    br_niche = (attrs.country[is_niche] == "BR").mean()
    br_rest = (attrs.country[~is_niche] == "BR").mean()
    assert abs(br_rest - 0.07) < 0.01  # the base share
    assert abs(br_niche - (0.07 * 0.65 + 0.35)) < 0.015  # tilted by 0.35


def test_tastes_are_three_distinct_genres_with_weights_summing_to_one():
    rng = np.random.default_rng(0)
    tastes = draw_tastes(rng, 100, genre_log_weights(6))
    assert all(len(set(row)) == 3 for row in tastes.liked.tolist())
    np.testing.assert_allclose(tastes.liked_cdf[:, -1], 1.0)
    assert np.all((tastes.user_mask & ~0b111111) == 0)  # only the 6 genres' bits


def test_niche_clusters_hold_tail_items():
    rng = np.random.default_rng(0)
    tail = np.arange(40, 100)
    clusters = draw_niche_clusters(rng, 200, 25, tail, 10, 7)
    assert clusters.n_clusters == 2  # round(2.5) -> 2
    assert clusters.cluster_items.shape == (2, 7)
    assert np.isin(clusters.cluster_items, tail).all()
    assert set(clusters.cluster_of) <= {0, 1}


def test_activity_is_the_floor_when_the_mean_is_the_floor_and_capped_otherwise():
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(draw_activity(rng, 50, 1000, 5.0, 5, 1.1), 5)
    want = draw_activity(rng, 500, 30, 200.0, 3, 1.1)
    assert want.dtype == np.int64 and want.min() >= 3 and want.max() == 10  # cap 30 // 3
