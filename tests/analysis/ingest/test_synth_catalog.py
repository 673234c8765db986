"""Tests for analysis/ingest/_synth_catalog.py: the synthetic items' genres, titles and the
per-genre sampling tables, on hand-made cases."""

from __future__ import annotations

import numpy as np

from analysis.ingest._synth_catalog import (
    GENRES,
    draw_catalog,
    draw_titles,
    genre_cdf,
    genre_log_weights,
    genre_mask,
    genres_column,
    weighted_distinct,
)


def test_genre_log_weights_fall_linearly_from_two_to_point_six():
    np.testing.assert_allclose(np.exp(genre_log_weights(3)), [2.0, 1.3, 0.6])


def test_genres_column_joins_the_used_slots():
    item_genres = np.array([[0, 1, -1], [2, -1, -1], [1, 2, 0]])
    got = genres_column(item_genres, 3)
    a, b, c = GENRES[:3]
    assert list(got) == [f"{a}|{b}", c, f"{b}|{c}|{a}"]


def test_genre_mask_sets_one_bit_per_genre():
    item_genres = np.array([[0, 2, -1], [3, -1, -1]])
    np.testing.assert_array_equal(genre_mask(item_genres), [0b101, 0b1000])


def test_genre_cdf_lays_the_genres_end_to_end():
    # item 0 in genre 0 (weight 1); item 1 in genres 0 and 1 (weight 3)
    item_genres = np.array([[0, -1, -1], [0, 1, -1]])
    cdf, member = genre_cdf(item_genres, np.array([1.0, 3.0]), 2)
    np.testing.assert_allclose(cdf, [0.25, 1.0, 2.0])
    np.testing.assert_array_equal(member, [0, 1, 1])


def test_weighted_distinct_gives_distinct_columns_per_row():
    rng = np.random.default_rng(0)
    got = weighted_distinct(rng, np.log(np.ones(5)), 200, 3)
    assert got.shape == (200, 3)
    assert all(len(set(row)) == 3 for row in got.tolist())
    assert got.min() >= 0 and got.max() <= 4


def test_repeated_titles_become_sequels():
    rng = np.random.default_rng(1)
    titles = draw_titles(rng, np.zeros((300, 3), dtype=np.int64) - np.array([0, 1, 1]), 2)
    assert len(set(titles)) == 300  # 2 x 8 x 8 base titles for 300 items: sequels
    assert any(t.endswith(" 2") for t in titles)


def test_catalog_tail_leaves_out_the_head():
    rng = np.random.default_rng(2)
    cat = draw_catalog(rng, 50, 4, 1.0, 0.2, genre_log_weights(4))
    np.testing.assert_array_equal(np.sort(cat.tail_items), np.nonzero(cat.pop_rank >= 10)[0])
    assert cat.global_cdf[-1] == 1.0 and np.all(np.diff(cat.global_cdf) > 0)
    assert np.all(cat.item_mask > 0)
