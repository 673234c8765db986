"""Tests of analysis/rerank/negatives.py: popularity ranks and popularity-matched draws."""

from __future__ import annotations

import numpy as np

from analysis.rerank.candidates import paper_candidates
from analysis.rerank.negatives import popularity_ranks, sample_negatives
from analysis.split import TRAIN, Split
from tests.datasets import make_dataset


def _score_by_item(users, items):  # higher item_idx scores higher
    return items.astype(np.float32) * 1.0


def _ladder_split():
    """Training popularity 2*item (+1 for user 0's own train items 4, 5, 7), strictly
    increasing, so the popularity rank of an item is its item_idx.

    User 0: train 4, 5, 7; test 6. Its unseen items are 0-3 and 8-11; item 6 sits between
    3 and 8, so the 3 unseen items on each side of it are 1, 2, 3 and 8, 9, 10.
    """
    u, i = [0, 0, 0, 0], [4, 5, 7, 6]
    for item in range(12):  # background users 1..2*item each hold item once
        u += list(range(1, 2 * item + 1))
        i += [item] * (2 * item)
    fold = [0, 0, 0, 2] + [0] * (len(u) - 4)
    ds = make_dataset(u, i, [5.0] * len(u), n_users=23, n_items=12)
    return Split(ds, np.array(fold, np.int8), "t", 0, {})


def test_popularity_ranks_order_by_training_count_ties_at_random():
    split = _ladder_split()
    pop = np.bincount(split.dataset.item_idx[split.fold == TRAIN], minlength=12)
    np.testing.assert_array_equal(pop, [0, 2, 4, 6, 9, 11, 12, 15, 16, 18, 20, 22])
    np.testing.assert_array_equal(popularity_ranks(pop, 0), np.arange(12))
    tied = [popularity_ranks(np.array([5, 1, 1, 1, 1, 0]), s) for s in range(20)]
    assert all(r[5] == 0 and r[0] == 5 for r in tied)  # counts decide
    assert len({tuple(r[1:5]) for r in tied}) > 1  # ties: seeded, not by item_idx


def test_paper_popularity_negatives_are_the_nearest_unseen_items():
    split = _ladder_split()
    drawn = set()
    for seed in range(30):  # test-only loop over seeds
        cs = paper_candidates(split, _score_by_item, np.array([0]), n_candidates=3, seed=seed)
        negs = set(cs.items[0].tolist()) - {6}
        assert 6 in cs.items[0] and len(negs) == 2
        assert negs <= {1, 2, 3, 8, 9, 10}  # the +-3 window among unseen items: 4, 5, 7 skipped
        drawn |= negs
    assert drawn == {1, 2, 3, 8, 9, 10}  # both sides of the test item are drawn


def test_popularity_exhaustive_pass_takes_the_nearest_in_rank():
    # the pass the rounds rarely need
    split = _ladder_split()
    ds = split.dataset
    seen = np.unique(ds.user_idx.astype(np.int64) * 12 + ds.item_idx)
    pop = np.bincount(ds.item_idx[split.fold == TRAIN], minlength=12)
    out = sample_negatives(np.array([0]), np.array([2]), seen, 12, 0, rounds=0,
                           anchors=np.array([[6]]), popularity=pop)
    # unseen items by rank distance to 6: 8 (2), then 3 and 9 (3, tie broken by the hash)
    assert out[0, 0] == 8 and out[0, 1] in (3, 9)
