"""Tests of analysis/rerank/history.py: recent, paper and long-short histories."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.rerank.candidates import CandidateSet, paper_candidates
from analysis.rerank.history import (
    CANDIDATES_GIVE_AWAY,
    NO_CANDIDATES,
    NO_FACTORS,
    NO_TIMESTAMPS,
    UNKNOWN_HISTORY,
    history_phrase,
    select_history,
)
from analysis.split import Split
from tests.datasets import make_dataset

# user 0 (train rows only unless noted), item: rating @ time
#   item 0: 3 @ 10, item 1: 5 @ 20, item 2: 4 @ 30, item 3: 5 @ 40, item 4: 2 @ 50,
#   item 5: 4 @ 30 (same time as item 2), item 6: 5 @ 60 VALIDATION, item 7: 5 @ 70 TEST
# user 1: item 2: 1 @ 5, item 8: 4 @ 6
# user 2: only a TEST row (item 9)
U = [0] * 8 + [1, 1] + [2]
ITEMS = [0, 1, 2, 3, 4, 5, 6, 7, 2, 8, 9]
R = [3, 5, 4, 5, 2, 4, 5, 5, 1, 4, 5]
T = [10, 20, 30, 40, 50, 30, 60, 70, 5, 6, 1]
F = [0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 2]


def _split(timestamps=True, ratings=True):
    ds = make_dataset(U, ITEMS, R if ratings else None, T if timestamps else None, n_items=12)
    return Split(ds, np.array(F, np.int8), "test", 0, {})


def test_recent_most_recent_first_train_only():
    h = select_history(_split(), np.array([0, 1, 2]), "recent", n_recent=4)
    # user 0 by time desc: 4@50, 3@40, then the tie at 30 by item: 2, 5  (6, 7 are held out)
    np.testing.assert_array_equal(h.items, [[4, 3, 2, 5], [8, 2, -1, -1], [-1] * 4])
    np.testing.assert_array_equal(h.ratings[0], [2, 5, 4, 4])
    np.testing.assert_array_equal(h.ratings[1], [4, 1, np.nan, np.nan])
    np.testing.assert_array_equal(h.n_items, [4, 2, 0])
    assert h.strategy == "recent" and h.params == {"n_recent": 4}
    assert h.items.dtype == np.int32 and h.ratings.dtype == np.float32


def test_rows_follow_requested_order():
    h = select_history(_split(), np.array([1, 0]), "recent", n_recent=1)
    np.testing.assert_array_equal(h.user_idx, [1, 0])
    np.testing.assert_array_equal(h.items, [[8], [4]])


def test_paper_whole_history_ordered_by_rating_then_recency_then_item():
    h = select_history(_split(), np.array([0]), "paper", n_paper=20, seed=3)
    # 5s: item 3 @40 before item 1 @20; 4s: items 2 and 5 both @30 -> item 2 first; 3; 2
    np.testing.assert_array_equal(h.items, [[3, 1, 2, 5, 0, 4] + [-1] * 14])
    np.testing.assert_array_equal(h.ratings[0, :6], [5, 5, 4, 4, 3, 2])


def test_paper_sample_is_seeded_subset_and_batch_independent():
    split = _split()
    a = select_history(split, np.array([0, 1]), "paper", n_paper=3, seed=1)
    b = select_history(split, np.array([0]), "paper", n_paper=3, seed=1)
    np.testing.assert_array_equal(a.items[0], b.items[0])
    assert set(a.items[0].tolist()) <= {0, 1, 2, 3, 4, 5}
    r = a.ratings[0]
    assert list(r) == sorted(r, reverse=True)  # best first
    samples = {tuple(sorted(select_history(split, np.array([0]), "paper", n_paper=3,
                                           seed=s).items[0])) for s in range(15)}
    assert len(samples) > 1


def test_paper_without_timestamps_or_ratings():
    h = select_history(_split(timestamps=False), np.array([0]), "paper", n_paper=20)
    # no time: 5s by item (1, 3), 4s (2, 5), 3, 2
    np.testing.assert_array_equal(h.items[0, :6], [1, 3, 2, 5, 0, 4])
    h = select_history(_split(ratings=False), np.array([0]), "paper", n_paper=20)
    np.testing.assert_array_equal(h.items[0, :6], [4, 3, 2, 5, 1, 0])  # recency
    assert np.isnan(h.ratings).all()


def _candidates(user_idx, items, protocol="realistic"):
    items = np.asarray(items, np.int32)
    return CandidateSet(
        user_idx=np.asarray(user_idx), items=items,
        shown=np.tile(np.arange(items.shape[1], dtype=np.int16), (len(items), 1)),
        protocol=protocol, seed=0, candidate_recall=np.full(len(items), np.nan),
    )


def test_long_short_recent_then_most_similar():
    factors = np.zeros((12, 2))
    factors[:, 0] = 1.0  # default direction (1, 0)
    factors[10] = [0.0, 1.0]  # candidate 10 and 11 point to (0, 1)
    factors[11] = [0.0, 2.0]
    factors[0] = [0.1, 1.0]  # most similar to (0, 1)
    factors[1] = [1.0, 1.0]  # second
    factors[2] = [0.0, 0.0]  # zero vector: similarity 0
    cands = _candidates([0, 1], [[10, 11, -1], [10, -1, -1]])
    h = select_history(_split(), np.array([0, 1]), "long-short", n_short=2, n_long=2,
                       item_factors=factors, candidates=cands)
    # user 0: short = 4 @50, 3 @40; rest 0, 1, 2, 5: cos 0.995, 0.707, 0, 0 -> 0, 1
    # user 1: short = 8, 2; nothing left
    np.testing.assert_array_equal(h.items, [[4, 3, 0, 1], [8, 2, -1, -1]])
    np.testing.assert_array_equal(h.ratings[0], [2, 5, 3, 5])
    assert h.params == {"n_short": 2, "n_long": 2, "similar_to": "candidates"}


def test_long_short_similarity_ties_prefer_recent():
    factors = np.ones((12, 2))
    cands = _candidates([0], [[10]])
    h = select_history(_split(), np.array([0]), "long-short", n_short=1, n_long=3,
                       item_factors=factors, candidates=cands)
    # short: 4; rest all cos 1 -> by time desc 3@40, then 2, 5 @30 by item
    np.testing.assert_array_equal(h.items, [[4, 3, 2, 5]])


def test_errors():
    split = _split()
    with pytest.raises(AnalysisError) as err:
        select_history(_split(timestamps=False), np.array([0]), "recent")
    assert str(err.value) == NO_TIMESTAMPS.format(name="toy", strategy="recent")
    assert "'paper'" in str(err.value)
    with pytest.raises(AnalysisError) as err:
        select_history(split, np.array([0]), "long-short", candidates=_candidates([0], [[1]]))
    assert str(err.value) == NO_FACTORS and "'recent'" in str(err.value)
    with pytest.raises(AnalysisError) as err:
        select_history(split, np.array([0]), "long-short", item_factors=np.ones((12, 2)),
                       use_candidates=True)
    assert err.value.message == NO_CANDIDATES
    assert str(err.value).endswith("Choose another History on the LLM rerank page.")
    with pytest.raises(AnalysisError) as err:
        select_history(split, np.array([0]), "long-short", item_factors=np.ones((12, 2)),
                       candidates=_candidates([0], [[7]], "paper"), use_candidates=True)
    assert err.value.message == CANDIDATES_GIVE_AWAY
    assert str(err.value).endswith(
        "Choose the realistic Candidates or another History on the LLM rerank page.")
    assert err.value.render("cli").endswith("Use --protocol realistic or another --history.")
    with pytest.raises(AnalysisError, match="one row per item"):
        select_history(split, np.array([0]), "long-short", item_factors=np.ones((3, 2)),
                       candidates=_candidates([0], [[1]]))
    with pytest.raises(AnalysisError, match="no row for user_idx 1"):
        select_history(split, np.array([0, 1]), "long-short", item_factors=np.ones((12, 2)),
                       candidates=_candidates([0], [[1]]))
    with pytest.raises(AnalysisError) as err:
        select_history(split, np.array([0]), "newest")
    assert str(err.value) == UNKNOWN_HISTORY.format(strategy="newest")
    with pytest.raises(AnalysisError, match="n_recent"):
        select_history(split, np.array([0]), "recent", n_recent=-1)
    with pytest.raises(AnalysisError, match="repeated users"):
        select_history(split, np.array([0, 0]), "recent")
    with pytest.raises(AnalysisError, match="user_idx 5"):
        select_history(split, np.array([5]), "recent")


def test_empty_request():
    h = select_history(_split(), np.array([], dtype=np.int64), "recent", n_recent=3)
    assert h.items.shape == (0, 3)


def _recent_anchor_factors():
    """Factors where the candidates (items 10, 11) and the recent items (4, 3) point apart:
    candidates to (1, 0), the recent items to (0, 1). Held-out 6 and 7 would be the closest
    items to either anchor."""
    factors = np.zeros((12, 2))
    factors[[4, 3]] = [0.0, 1.0]
    factors[[10, 11]] = [1.0, 0.0]
    factors[0] = [0.1, 1.0]  # close to the recent items
    factors[1] = [1.0, 1.0]  # in between
    factors[5] = [1.0, 0.1]  # close to the candidates
    factors[2] = [0.0, 0.0]
    factors[[6, 7]] = [1.0, 1.0]
    return factors


def test_long_short_without_candidates_uses_the_recent_items():
    split, factors = _split(), _recent_anchor_factors()
    cands = _candidates([0], [[10, 11]])
    by_cands = select_history(split, np.array([0]), "long-short", n_short=2, n_long=2,
                              item_factors=factors, candidates=cands)
    # anchor (1, 0): rest 0, 1, 2, 5 have cos 0.0995, 0.707, 0, 0.995 -> 5, 1
    np.testing.assert_array_equal(by_cands.items, [[4, 3, 5, 1]])
    own = select_history(split, np.array([0]), "long-short", n_short=2, n_long=2,
                         item_factors=factors, candidates=cands, use_candidates=False)
    # anchor = mean of 4 and 3 = (0, 1): cos 0.995, 0.707, 0, 0.0995 -> 0, 1
    np.testing.assert_array_equal(own.items, [[4, 3, 0, 1]])
    assert own.params == {"n_short": 2, "n_long": 2, "similar_to": "recent"}
    # no short part: the anchor is the most recent item (4), itself the most similar
    h = select_history(split, np.array([0]), "long-short", n_short=0, n_long=2,
                       item_factors=factors, use_candidates=False)
    np.testing.assert_array_equal(h.items, [[4, 3]])


def test_long_short_under_the_paper_protocol_ignores_the_candidates():
    split, factors = _split(), _recent_anchor_factors()
    users = np.array([0, 1])
    histories = [
        select_history(split, users, "long-short", n_short=2, n_long=3, item_factors=factors,
                       candidates=_candidates(users, items, "paper"))
        for items in ([[7, 10, 11], [9, 10, -1]], [[11, 7, 10], [10, 9, -1]],  # permuted
                      [[7, 5, -1], [8, 11, 10]], [[0, 1, 2], [3, 4, 5]])  # replaced
    ]
    histories.append(select_history(split, users, "long-short", n_short=2, n_long=3,
                                    item_factors=factors, use_candidates=False))
    for h in histories[1:]:
        np.testing.assert_array_equal(h.items, histories[0].items)
    np.testing.assert_array_equal(histories[0].items, [[4, 3, 0, 1, 5], [8, 2, -1, -1, -1]])
    assert histories[0].params["similar_to"] == "recent"
    # never a held-out item (6 validation, 7 test), though they are the closest to the anchor
    assert not np.isin(histories[0].items, [6, 7]).any()


def test_long_short_with_real_paper_candidates_depends_on_nothing_held_out():
    split, factors = _split(), _recent_anchor_factors()

    def score(users, items):
        return factors[items, 0]

    users = np.array([0, 1, 2])
    hs = [select_history(split, users, "long-short", n_short=1, n_long=4, item_factors=factors,
                         candidates=paper_candidates(split, score, users, n_candidates=3,
                                                     seed=s, negatives=neg))
          for s in range(4) for neg in ("uniform", "popularity")]
    for h in hs[1:]:
        np.testing.assert_array_equal(h.items, hs[0].items)
    assert not np.isin(hs[0].items[0], [6, 7]).any() and not np.isin(hs[0].items[2], 9).any()


def test_history_phrase_says_how_each_history_was_chosen():
    split = _split()
    assert select_history(split, np.array([0]), "recent").description == "most recent first"
    paper = select_history(split, np.array([0]), "paper", n_paper=7)
    assert paper.params["order"] == "rating"
    assert paper.description == "a random sample of up to 7 items, best rated first"
    no_ratings = select_history(_split(ratings=False), np.array([0]), "paper", n_paper=7)
    assert no_ratings.description.endswith(", most recent first")
    bare = select_history(_split(ratings=False, timestamps=False), np.array([0]), "paper")
    assert bare.description.endswith(", in no particular order")
    assert history_phrase("paper", {"n_paper": 3, "order": "count"}).endswith(
        "most interacted with first")
    factors = _recent_anchor_factors()
    ls = select_history(split, np.array([0]), "long-short", n_short=2, n_long=3,
                        item_factors=factors, candidates=_candidates([0], [[10]]))
    assert ls.description == (
        "up to 2 most recent items, most recent first, then up to 3 earlier items most similar "
        "to the candidates, most similar first")
    own = select_history(split, np.array([0]), "long-short", n_short=2, n_long=3,
                         item_factors=factors)  # no candidates given: the recent items
    assert own.description.endswith("up to 3 earlier items most similar to those recent items, "
                                    "most similar first")
    assert history_phrase("long-short", {"n_short": 0, "n_long": 4, "similar_to": "recent"}) == (
        "up to 4 items most similar to the most recent item, most similar first")
    assert history_phrase("long-short", {"n_short": 3, "n_long": 0, "similar_to": "recent"}) == (
        "up to 3 most recent items, most recent first")
    with pytest.raises(AnalysisError):
        history_phrase("newest", {})
