"""The evaluation pass's fused per-block kernel against the loop it replaced (issue 10).

Before, each block of scores was masked and ranked twice: ``mask_rows(train)``,
``topk_rows(k)``, ``auc_from_scores(val)``, ``mask_rows(val_seen)``, ``topk_rows(C)``,
``auc_from_scores(test)``. :func:`old_block` repeats exactly that with the old kernels
(verbatim copies in tests/reference_kernels.py) and :func:`old_evaluate` the whole old
``evaluate_recommender``'s scoring loop; the new code must give the same values, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from analysis.metrics import auc_heldout_from_scores
from analysis.metrics.evaluate import (
    AUC_HELDOUT,
    _per_user_table,
    _rank_block,
    _UserScores,
    evaluate_recommender,
    nonrelevant_items,
)
from analysis.split import TEST, VALIDATION, make_split
from models.baselines import make_recommender
from models.topk import batch_size_for, mask_rows
from tests.datasets import make_dataset
from tests.models.test_topk_fused import bits, random_block
from tests.reference_kernels import old_auc_from_scores, old_topk_rows


def old_block(scores, k, c, val, val_seen, test):
    """The old per-block sequence (on a copy): two masks, two top-k, two AUC kernels."""
    s = np.array(scores)
    val_items, _ = old_topk_rows(s, k)
    val_auc = old_auc_from_scores(s, val)
    mask_rows(s, val_seen)
    items, sc = old_topk_rows(s, c)
    return val_items, items, sc, val_auc, old_auc_from_scores(s, test)


def random_csr(rng, b, n, mean):
    """Random 0/1 CSR, ~Poisson(mean) entries per row, every 4th row empty."""
    cnt = rng.poisson(mean, b)
    cnt[::4] = 0
    rows = np.repeat(np.arange(b), cnt)
    m = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, rng.integers(0, n, rows.size))),
                      shape=(b, n))
    m.data[:] = 1.0
    return m


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("levels", [3, 60, None])
@pytest.mark.parametrize("n", [5, 33, 1100, 2600])
def test_block_kernel_matches_the_old_sequence(dtype, levels, n):
    rng = np.random.default_rng(n + (levels or 0))
    b = 48
    s = random_block(rng, b, n, dtype, levels)
    train = random_csr(rng, b, n, 6.0)
    val = random_csr(rng, b, n, 2.0)
    test = random_csr(rng, b, n, 3.0)
    seen = (val + random_csr(rng, b, n, 2.0)).tocsr()  # validation items, some not relevant
    seen.data[:] = 1.0
    # overlaps the data never has but the kernel must survive: a test positive seen in
    # validation, a validation positive in training, validation-seen items in training
    test = (test + seen.multiply(rng.random((b, n)) < 0.3)).tocsr()
    test.data[:] = 1.0
    mask_rows(s, train)
    mask_rows(s, seen.multiply(rng.random((b, n)) < 0.2).tocsr())  # seen and trained
    mask_rows(s, val.multiply(rng.random((b, n)) < 0.3).tocsr())  # masked validation positives
    for k, c in [(1, 1), (3, 10), (10, 20), (n + 2, n + 5)]:
        got = _rank_block(s, k, c, val, seen, test)
        want = old_block(s, k, c, val, seen, test)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(bits(g) if g.dtype.kind == "f" else g,
                                          bits(w) if w.dtype.kind == "f" else w)
    assert not np.isnan(got[2]).any()


@pytest.mark.parametrize("n", [40, 700, 1500])
def test_block_kernel_when_seen_items_hold_the_best_scores(n):
    # the validation items outscore everything: the test list must look past them (their
    # groups' maxima are theirs), the validation list must hold them
    rng = np.random.default_rng(n)
    b = 30
    s = rng.standard_normal((b, n)).astype(np.float32)
    val, test = random_csr(rng, b, n, 2.0), random_csr(rng, b, n, 2.0)
    seen = (val + random_csr(rng, b, n, 25.0)).tocsr()
    seen.data[:] = 1.0
    rows = np.repeat(np.arange(b), np.diff(seen.indptr))
    s[rows, seen.indices] = 10 + rng.integers(0, 3, rows.size)  # ties among them too
    s[5, seen[5].indices[:2]] = np.inf
    for k, c in [(1, 1), (5, 20), (10, 40)]:
        got = _rank_block(s, k, c, val, seen, test)
        for g, w in zip(got, old_block(s, k, c, val, seen, test)):
            np.testing.assert_array_equal(g, w)
        assert not np.isin(got[1], seen[0].indices)[0].any()


def test_block_kernel_with_unsorted_duplicate_seen_items():
    rng = np.random.default_rng(3)
    b, n = 20, 300
    s = random_block(rng, b, n, np.float32, 5)
    val, test = random_csr(rng, b, n, 2.0), random_csr(rng, b, n, 2.0)
    seen = (val + random_csr(rng, b, n, 3.0)).tocsr()
    seen.data[:] = 1.0
    coo = seen.tocoo()
    r, cidx = np.r_[coo.row, coo.row], np.r_[coo.col, coo.col]  # every item twice
    order = np.lexsort((-cidx, r))  # and in descending item order within a row
    dup = sp.csr_matrix((np.ones(r.size, np.float32), cidx[order],
                         np.r_[0, np.cumsum(np.bincount(r, minlength=b))]), shape=(b, n))
    assert not dup.has_canonical_format
    got = _rank_block(s, 4, 9, val, dup, test)
    want = old_block(s, 4, 9, val, dup, test)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


def test_block_kernel_leaves_scores_alone():
    s = np.array([[3, 1, 2, -np.inf], [0, 0, 5, 1]], dtype=np.float32)
    before = s.copy()
    seen = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 1, 0]], np.float32))
    val = test = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 0, 1]], np.float32))
    vi, ti, ts, va, ta = _rank_block(s, 2, 3, val, seen, test)
    np.testing.assert_array_equal(s, before)
    assert vi.tolist() == [[0, 2], [2, 3]] and ti.tolist() == [[2, 1, -1], [3, 0, 1]]
    assert ts.tolist() == [[2, 1, -np.inf], [1, 0, 0]]
    assert va.tolist() == [0.0, pytest.approx(2 / 3)]  # row 1: item 3 (1) vs 0, 0 and 5
    assert ta.tolist() == [0.0, 1.0]  # row 1: item 3 (1) beats 0 and 1 (0); 2 is seen


# --- whole evaluate_recommender, old loop kept here -------------------------------------


def old_evaluate(model, split, k, c, batch_size=None):
    """The previous evaluate_recommender's block loop, with the old kernels, and its frame
    (built by the same code as today's: the frame is not what changed)."""
    train, val, test = split.train, split.validation, split.test
    val_seen = split.validation_seen
    users = np.flatnonzero((np.diff(val.indptr) > 0) | (np.diff(test.indptr) > 0))
    out = _UserScores.unscored(split.dataset.n_users, k, c)
    val_neg = nonrelevant_items(split, VALIDATION)
    test_neg = nonrelevant_items(split, TEST)
    bs = batch_size or batch_size_for(split.dataset.n_items)
    for start in range(0, len(users), bs):
        batch = users[start : start + bs]
        scores = np.asarray(model.score_users(batch), dtype=np.float32)
        mask_rows(scores, train[batch])
        val_items, _ = old_topk_rows(scores, k)
        out.val_recs[batch] = val_items
        out.val_auc[batch] = old_auc_from_scores(scores, val[batch])
        out.val_auc_heldout[batch] = auc_heldout_from_scores(scores, val[batch], val_neg[batch])
        mask_rows(scores, val_seen[batch])
        items, sc = old_topk_rows(scores, c)
        out.test_recs[batch], out.test_scores[batch] = items, sc
        out.test_auc[batch] = old_auc_from_scores(scores, test[batch])
        out.test_auc_heldout[batch] = auc_heldout_from_scores(scores, test[batch],
                                                              test_neg[batch])
    return _per_user_table(split, k, c, out), out.test_recs, out.test_scores


class TieScores:
    """Scores with heavy ties, NaN, -inf and +inf (what a broken model might return)."""

    name = "ties"

    def __init__(self, n_users, n_items, seed=0):
        self.params = {}
        self.S = random_block(np.random.default_rng(seed), n_users, n_items, np.float32, 4)

    def score_users(self, user_idx):
        return self.S[np.asarray(user_idx)].copy()


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(42)
    n_users, n_items = 260, 1500
    pairs = np.unique(rng.integers(0, n_items, (n_users * 30, 2)) % [n_users, n_items],
                      axis=0)
    u, i = pairs[:, 0], pairs[:, 1]
    r = rng.integers(1, 6, u.size)
    ds = make_dataset(u, i, r, n_users=n_users, n_items=n_items)
    return make_split(ds, "random", seed=7, validation_fraction=0.15, test_fraction=0.15)


def models(split):
    train = split.train
    als = make_recommender("als", seed=0, use_gpu=False, factors=8, iterations=3)
    pop = make_recommender("pop", use_gpu=False)  # ties between equally popular items
    return [als.fit(train), pop.fit(train), TieScores(*train.shape)]


@pytest.mark.parametrize("batch_size", [None, 37])
def test_evaluate_matches_the_old_loop(split, batch_size):
    for model in models(split):
        for k, c in [(10, 20), (5, 5)]:
            ev = evaluate_recommender(model, split, k=k, n_candidates=c, batch_size=batch_size)
            per_user, recs, scores = old_evaluate(model, split, k, c, batch_size)
            pd.testing.assert_frame_equal(ev.per_user, per_user, check_exact=True)
            np.testing.assert_array_equal(ev.recommendations, recs)
            np.testing.assert_array_equal(bits(ev.scores), bits(scores))
            assert ev.per_user["auc"].notna().sum() > 100
            assert ev.per_user[AUC_HELDOUT].notna().sum() > 50
