"""Tests of analysis/metrics/evaluate.py: one scoring pass, two masked rankings, per-user metrics."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.metrics.evaluate import evaluate_recommender
from analysis.split import Split
from tests.datasets import make_dataset


class FixedScores:
    """A recommender whose scores are a given matrix (rows = users)."""

    name = "fixed"
    params: dict = {}

    def __init__(self, scores):
        self.S = np.asarray(scores, dtype=np.float32)

    def fit(self, train, progress=None):
        return self

    def score_users(self, user_idx):
        return self.S[np.asarray(user_idx)].copy()


# 3 users x 6 items.  fold: 0 train, 1 validation, 2 test
#   user 0: train 0,1 | val 2 (r5) | test 3 (r4), 4 (r2: not relevant)
#   user 1: train 5    | val 0 (r3: not relevant) | test 1 (r5)
#   user 2: train 0..4 | nothing held out  -> never scored, not evaluated
ROWS = [  # (user, item, rating, fold)
    (0, 0, 5, 0), (0, 1, 4, 0), (0, 2, 5, 1), (0, 3, 4, 2), (0, 4, 2, 2),
    (1, 5, 5, 0), (1, 0, 3, 1), (1, 1, 5, 2),
    *[(2, item, 4, 0) for item in range(5)],
]
SCORES = [
    [9, 8, 1, 7, 6, 5],  # user 0
    [4, 3, 2, 1, 9, 9],  # user 1 (items 4 and 5 tie)
    [1, 1, 1, 1, 1, 1],
]


@pytest.fixture
def toy_split() -> Split:
    u, i, r, f = (np.array(c) for c in zip(*ROWS))
    ds = make_dataset(u, i, r, n_users=3, n_items=6)
    return Split(dataset=ds, fold=f.astype(np.int8), strategy="manual", seed=0, params={})


def test_rankings_exclude_seen_items(toy_split):
    ev = evaluate_recommender(FixedScores(SCORES), toy_split, k=2, n_candidates=4)
    recs = ev.recommendations
    # user 0, test: train {0,1} and validation {2} excluded -> 3 (7), 4 (6), 5 (5); then -1 pad
    assert recs[0].tolist() == [3, 4, 5, -1]
    # user 1, test: train {5}, validation {0} excluded -> 4 (9), 1 (3), 2 (2), 3 (1)
    assert recs[1].tolist() == [4, 1, 2, 3]
    # user 2 has nothing held out: never scored
    assert recs[2].tolist() == [-1, -1, -1, -1]


def test_metrics_by_hand(toy_split):
    ev = evaluate_recommender(FixedScores(SCORES), toy_split, k=2, n_candidates=4)
    t = ev.per_user.set_index("user_idx")
    # user 0 test: relevant {3}; list [3, 4] -> hit at rank 1: ndcg 1, recall 1, precision 1/2
    assert t.loc[0, "ndcg@2"] == pytest.approx(1.0)
    assert t.loc[0, "precision@2"] == pytest.approx(0.5)
    # user 1 test: relevant {1}; list [4, 1] -> hit at rank 2: ndcg = (1/log2 3) / 1
    assert t.loc[1, "ndcg@2"] == pytest.approx(1 / np.log2(3))
    assert t.loc[1, "mrr@2"] == pytest.approx(0.5)
    # user 0 validation: train {0,1} excluded -> [3, 4]; relevant {2} (score 1) missed -> 0
    assert t.loc[0, "val_ndcg@2"] == pytest.approx(0.0)
    # user 1 validation item 0 has rating 3: not relevant -> no validation metric
    assert np.isnan(t.loc[1, "val_ndcg@2"])
    # AUC user 0, test: candidates {3,4,5} (train and validation masked), positive 3 (7)
    # beats 4 (6) and 5 (5) -> 1.0.  Validation: negatives {3,4,5}, positive 2 (1) -> 0.0
    assert t.loc[0, "auc"] == pytest.approx(1.0)
    assert t.loc[0, "val_auc"] == pytest.approx(0.0)
    # AUC user 1, test: positive 1 (3) vs {2 (2), 3 (1), 4 (9)} -> 2/3
    assert t.loc[1, "auc"] == pytest.approx(2 / 3)
    # candidate recall@4: both evaluated users have their test item in the top 4
    assert t.loc[0, "candidate_recall@4"] == 1.0 and t.loc[1, "candidate_recall@4"] == 1.0
    assert t["evaluated"].tolist() == [True, True, False]
    assert t["n_train"].tolist() == [2, 1, 5]
    assert t["n_test"].tolist() == [1, 1, 0]
    ov = ev.overall()
    assert ov["n_evaluated"] == 2 and ov["n_excluded"] == 1
    assert ov["ndcg@2"] == pytest.approx((1 + 1 / np.log2(3)) / 2)


def test_ties_broken_by_item_index(toy_split):
    # user 0's unseen items 3, 4, 5 all score 5: ranked by item index; user 1's 2 and 3 tie
    scores = [[9, 8, 1, 5, 5, 5], [4, 3, 2, 2, 9, 9], [1] * 6]
    ev = evaluate_recommender(FixedScores(scores), toy_split, k=3, n_candidates=4)
    assert ev.recommendations[0].tolist() == [3, 4, 5, -1]
    assert ev.recommendations[1].tolist() == [4, 1, 2, 3]


def test_batches_give_the_same_answer(toy_split):
    a = evaluate_recommender(FixedScores(SCORES), toy_split, k=2, n_candidates=4, batch_size=1)
    b = evaluate_recommender(FixedScores(SCORES), toy_split, k=2, n_candidates=4)
    np.testing.assert_array_equal(a.recommendations, b.recommendations)
    assert a.per_user.equals(b.per_user)


@pytest.mark.parametrize("k,c", [(0, 20), (10, 5)])
def test_bad_k_or_candidates(toy_split, k, c):
    with pytest.raises(AnalysisError):
        evaluate_recommender(FixedScores(SCORES), toy_split, k=k, n_candidates=c)


def test_no_test_items_is_an_error(toy_split):
    fold = np.where(toy_split.fold == 2, 0, toy_split.fold).astype(np.int8)
    s = Split(dataset=toy_split.dataset, fold=fold, strategy="manual", seed=0, params={})
    with pytest.raises(AnalysisError, match="test split"):
        evaluate_recommender(FixedScores(SCORES), s, k=2)


@pytest.mark.parametrize(("s3", "s4", "want"), [(7, 6, 1.0), (6, 7, 0.0), (7, 7, 0.5)])
def test_auc_within_the_held_out_items_by_hand(toy_split, s3, s4, want):
    # user 0's test items: 3 (relevant) and 4 (rated 2: not relevant); the catalogue-wide
    # AUC compares item 3 with every unseen item, auc@heldout only with item 4
    scores = np.array(SCORES, dtype=np.float32)
    scores[0, 3], scores[0, 4] = s3, s4
    t = evaluate_recommender(FixedScores(scores), toy_split, k=2, n_candidates=3).per_user
    assert t.loc[0, "auc@heldout"] == want
    # users with no relevant or no non-relevant held-out item of the split: NaN
    assert t["auc@heldout"].iloc[1:].isna().all()
    assert t["val_auc@heldout"].isna().all()  # validation: user 0 has only a relevant item
