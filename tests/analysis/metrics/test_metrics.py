"""Tests for analysis.metrics: hand-computed cases, ranx / sklearn / brute-force references."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from analysis.errors import AnalysisError
from analysis.metrics import (
    UserMetrics,
    _validate,
    auc_from_scores,
    candidate_recall,
    compute_user_metrics,
    hits_matrix,
    metric_columns,
)

D2, D3, D4 = 1 / math.log2(3), 1 / math.log2(4), 1 / math.log2(5)  # discounts of ranks 2..4


def csr(dense) -> sp.csr_matrix:
    return sp.csr_matrix(np.asarray(dense, dtype=np.float64))


# --------------------------------------------------------------------------- hand-computed


@pytest.fixture
def toy():
    """Five users, six items, used at k = 3 (the 4th column must be ignored).

    user 0: top-3 [2, 0, 5], gains {0: 1, 5: 3}             -> hits at ranks 2, 3
    user 1: top-3 [1, 3, 2], gains {0: 1, 1: 2, 2: 1, 3: 1, 4: 4} (R = 5 > k) -> 3 hits
    user 2: empty list, gains {2: 1}                          -> no hit
    user 3: short list [4], gains {3: 2}                      -> no hit
    user 4: top-3 [5, 5, 1], gains {1: 1, 5: 2}               -> hits at ranks 1 and 3
            (the repeat of item 5 at rank 2 counts as a miss)
    """
    recs = np.array(
        [
            [2, 0, 5, 4],  # 4th column ignored at k=3
            [1, 3, 2, 0],  # relevant {0,1,2,3,4}: more relevant items than k, all hit
            [-1, -1, -1, -1],  # empty list
            [4, -1, -1, -1],  # short list, relevant {3}
            [5, 5, 1, 0],  # duplicate of a relevant item, no relevant... see truth
        ]
    )
    truth = csr(
        [
            [1, 0, 0, 0, 0, 3],
            [1, 2, 1, 1, 4, 0],
            [0, 0, 1, 0, 0, 0],
            [0, 0, 0, 2, 0, 0],
            [0, 1, 0, 0, 0, 2],
        ]
    )
    return recs, truth


def test_ndcg_binary(toy):
    m = compute_user_metrics(*toy, k=3)
    expected = [
        (D2 + D3) / (1 + D2),  # hits at ranks 2, 3; R = 2 -> IDCG = 1 + D2
        1.0,  # 3 hits, R = 5 > k -> IDCG truncated at 3 ranks = 1 + D2 + D3
        0.0,  # empty list
        0.0,  # short list, no hit
        (1 + D3) / (1 + D2),  # item 5 hits at rank 1, its repeat at rank 2 does not count;
        # item 1 hits at rank 3: DCG = 1 + D3, R = 2 -> IDCG = 1 + D2
    ]
    np.testing.assert_allclose(m.values["ndcg@3"], expected, rtol=1e-12)


def test_ndcg_graded_linear_gain(toy):
    m = compute_user_metrics(*toy, k=3)
    expected = [
        (1 * D2 + 3 * D3) / (3 + 1 * D2),  # ideal: gains sorted desc 3, 1
        (2 + 1 * D2 + 1 * D3) / (4 + 2 * D2 + 1 * D3),  # gains 2,1,1; ideal top-3 4,2,1
        0.0,
        0.0,
        (2 + 1 * D3) / (2 + 1 * D2),  # gains 2 (rank 1), 1 (rank 3); ideal 2, 1
    ]
    np.testing.assert_allclose(m.values["ndcg_graded@3"], expected, rtol=1e-12)


def test_recall_precision_hit(toy):
    m = compute_user_metrics(*toy, k=3)
    # hits per user: 2, 3, 0, 0, 2; R: 2, 5, 1, 1, 2
    np.testing.assert_allclose(m.values["recall@3"], [2 / 2, 3 / 5, 0, 0, 2 / 2])
    # precision divides by k = 3 even for the short / empty lists
    np.testing.assert_allclose(m.values["precision@3"], [2 / 3, 3 / 3, 0, 0, 2 / 3])
    np.testing.assert_array_equal(m.values["hit@3"], [1, 1, 0, 0, 1])


def test_mrr_and_ap(toy):
    m = compute_user_metrics(*toy, k=3)
    np.testing.assert_allclose(m.values["mrr@3"], [1 / 2, 1, 0, 0, 1])
    expected_ap = [
        (1 / 2 + 2 / 3) / 2,  # hits at 2, 3: P@2 = 1/2, P@3 = 2/3; min(k, R) = 2
        (1 + 1 + 1) / 3,  # all 3 ranks hit, min(k, R) = 3
        0.0,
        0.0,
        (1 / 1 + 2 / 3) / 2,  # hits at 1 and 3 (rank 2 is a repeat): P@1 = 1, P@3 = 2/3
    ]
    np.testing.assert_allclose(m.values["ap@3"], expected_ap, rtol=1e-12)


def test_users_without_relevant_items_are_nan_and_counted():
    recs = np.array([[0, 1], [1, 0], [2, -1]])
    truth = csr([[1, 0, 0], [0, 0, 0], [0, 0, 0]])
    m = compute_user_metrics(recs, truth, k=2)
    assert isinstance(m, UserMetrics)
    np.testing.assert_array_equal(m.evaluated, [True, False, False])
    assert (m.n_evaluated, m.n_excluded) == (1, 2)
    for col in metric_columns(2)[:-1]:
        assert m.values[col][0] == pytest.approx(1.0 if col != "precision@2" else 0.5)
        assert np.isnan(m.values[col][1:]).all(), col
    np.testing.assert_array_equal(m.values["n_relevant"], [1, 0, 0])


def test_to_frame_columns_and_dtypes(toy):
    m = compute_user_metrics(*toy, k=3)
    frame = m.to_frame()
    assert list(frame.columns) == [
        "ndcg@3", "ndcg_graded@3", "recall@3", "precision@3", "hit@3", "mrr@3", "ap@3",
        "n_relevant",
    ]
    assert frame["n_relevant"].tolist() == [2, 5, 1, 1, 2]
    assert frame["n_relevant"].dtype == np.int64
    assert all(frame[c].dtype == np.float64 for c in frame.columns[:-1])
    assert len(frame) == 5
    for v in m.values.values():
        assert v.dtype == np.float64


def test_narrow_recommendations_are_padded():
    # 2 columns but k = 4: treated as [0, 1, -1, -1]; precision still divides by 4
    m = compute_user_metrics(np.array([[0, 1]]), csr([[1, 1, 1]]), k=4)
    assert m.values["precision@4"][0] == pytest.approx(2 / 4)
    assert m.values["ndcg@4"][0] == pytest.approx((1 + D2) / (1 + D2 + D3))


def test_hits_matrix_and_duplicates():
    recs = np.array([[1, 1, 0, 1], [-1, 2, 2, 0]])
    truth = csr([[0, 1, 0], [0, 0, 5]])
    hit = hits_matrix(recs, truth, k=3)
    np.testing.assert_array_equal(hit, [[True, False, False], [False, True, False]])


def test_empty_batch():
    m = compute_user_metrics(np.zeros((0, 5), dtype=np.int64), sp.csr_matrix((0, 7)), k=5)
    assert m.n_evaluated == 0 and m.to_frame().shape == (0, 8)
    assert auc_from_scores(np.zeros((0, 7)), sp.csr_matrix((0, 7))).shape == (0,)


@pytest.mark.parametrize(
    "gains",
    [
        [1.0, 1.0, 1.0],  # constant gain fast path
        [2.0, 5.0, 3.0],  # float32-exact: packed-key sort
        [1 / 3, 1 / 7, 2 / 3],  # not float32-exact: lexsort
    ],
)
def test_ideal_gain_paths(gains):
    truth = sp.csr_matrix((np.array(gains), ([0, 0, 0], [0, 1, 2])), shape=(1, 3))
    m = compute_user_metrics(np.array([[0, 1]]), truth, k=2)
    g = sorted(gains, reverse=True)
    expected = (gains[0] + gains[1] * D2) / (g[0] + g[1] * D2)
    assert m.values["ndcg_graded@2"][0] == pytest.approx(expected, rel=1e-14)


def test_unsorted_duplicate_truth_entries_are_canonicalized():
    # COO with a duplicate (summed to 2) and unsorted columns
    truth = sp.coo_matrix(([1.0, 1.0, 4.0], ([0, 0, 0], [2, 2, 0])), shape=(1, 3))
    m = compute_user_metrics(np.array([[2, 0]]), truth, k=2)
    assert m.values["n_relevant"][0] == 2
    assert m.values["ndcg_graded@2"][0] == pytest.approx((2 + 4 * D2) / (4 + 2 * D2))


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "10"])
def test_bad_k(k):
    with pytest.raises(AnalysisError, match="positive integer"):
        compute_user_metrics(np.array([[0]]), csr([[1]]), k=k)


@pytest.mark.parametrize("recs", [np.array([0, 1]), np.array([[0.0, 1.0]])])
def test_bad_recommendations(recs):
    with pytest.raises(AnalysisError, match="2-D integer array"):
        compute_user_metrics(recs, csr([[1, 1]]), k=2)


def test_row_mismatch():
    with pytest.raises(AnalysisError, match="has 2 rows but truth has 1"):
        compute_user_metrics(np.array([[0], [1]]), csr([[1, 1]]), k=1)


def test_item_out_of_range_names_the_cell():
    msg = _validate.ITEM_OUT_OF_RANGE.format(value=5, row=1, col=0, max_item=1)
    with pytest.raises(AnalysisError) as err:
        compute_user_metrics(np.array([[0, 1], [5, -1]]), csr([[1, 1], [1, 0]]), k=2)
    assert str(err.value) == msg
    with pytest.raises(AnalysisError, match="item_idx -2 at row 0, column 1"):
        candidate_recall(np.array([[0, -2]]), csr([[1, 1]]), c=2)


def test_nonpositive_gain_and_dense_truth():
    truth = sp.csr_matrix((np.array([1.0, -1.0]), ([0, 1], [0, 1])), shape=(2, 2))
    with pytest.raises(AnalysisError, match="gain -1.0 at row 1, item_idx 1"):
        compute_user_metrics(np.array([[0], [1]]), truth, k=1)
    with pytest.raises(AnalysisError, match="scipy.sparse"):
        compute_user_metrics(np.array([[0]]), np.array([[1.0]]), k=1)


def test_auc_bad_inputs():
    with pytest.raises(AnalysisError, match="2-D real-valued"):
        auc_from_scores(np.zeros(3), csr([[1, 0, 0]]))
    with pytest.raises(AnalysisError, match="scores have shape"):
        auc_from_scores(np.zeros((1, 3)), csr([[1, 0]]))
    with pytest.raises(AnalysisError, match="has 2 rows but truth has 1"):
        auc_from_scores(np.zeros((2, 3)), csr([[1, 0, 0]]))


# --------------------------------------------------------------------------- ranx reference


def _random_case(rng, n_users, n_items, k, graded=True):
    n_rel = rng.integers(0, 16, n_users)  # some users with none, some with more than k
    rows = np.repeat(np.arange(n_users), n_rel)
    cols = rng.integers(0, n_items, rows.size)
    gains = rng.integers(1, 6, rows.size).astype(np.float64) if graded else np.ones(rows.size)
    truth = sp.coo_matrix((gains, (rows, cols)), shape=(n_users, n_items)).tocsr()
    truth.data[:] = np.minimum(truth.data, 5)  # duplicates summed; keep them small
    # recommendations: distinct items per row, partly drawn from the relevant ones
    pool = rng.random((n_users, n_items)) + truth.toarray() * rng.random((n_users, n_items))
    recs = np.argsort(-pool, axis=1)[:, : k + 2]
    lengths = rng.integers(0, k + 3, n_users)
    recs[np.arange(k + 2)[None, :] >= lengths[:, None]] = -1
    return recs, truth


def _ranx_eval(recs, truth, k):
    ranx = pytest.importorskip("ranx")
    n = recs.shape[0]
    qrels, run = {}, {}
    for u in range(n):  # building the reference input; the metrics themselves are vectorized
        lo, hi = truth.indptr[u], truth.indptr[u + 1]
        if hi == lo:
            continue
        q = f"u{u:05d}"
        qrels[q] = {f"d{j}": int(g) for j, g in zip(truth.indices[lo:hi], truth.data[lo:hi])}
        items = [j for j in recs[u, :k] if j >= 0]
        run[q] = {f"d{j}": float(k - r) for r, j in enumerate(items)}  # strictly decreasing
    qrels_obj, run_obj = ranx.Qrels(qrels), ranx.Run(run)
    metrics = [f"{m}@{k}" for m in ("ndcg", "recall", "precision", "hit_rate", "mrr", "map")]
    out = ranx.evaluate(qrels_obj, run_obj, metrics, return_mean=False, make_comparable=True)
    users = np.array([int(q[1:]) for q in qrels_obj.get_query_ids()])
    return users, out


@pytest.mark.parametrize("k", [5, 10])
def test_matches_ranx(k):
    rng = np.random.default_rng(k)
    recs, truth = _random_case(rng, 300, 60, k)
    users, ref = _ranx_eval(recs, truth, k)
    m = compute_user_metrics(recs, truth, k)
    np.testing.assert_array_equal(np.flatnonzero(m.evaluated), np.sort(users))
    v = {c: x[users] for c, x in m.values.items()}
    # ranx's ndcg uses the stored (graded) relevance with linear gain: our ndcg_graded
    np.testing.assert_allclose(v[f"ndcg_graded@{k}"], ref[f"ndcg@{k}"], atol=1e-9)
    np.testing.assert_allclose(v[f"recall@{k}"], ref[f"recall@{k}"], atol=1e-9)
    np.testing.assert_allclose(v[f"precision@{k}"], ref[f"precision@{k}"], atol=1e-9)
    np.testing.assert_allclose(v[f"hit@{k}"], ref[f"hit_rate@{k}"], atol=1e-9)
    np.testing.assert_allclose(v[f"mrr@{k}"], ref[f"mrr@{k}"], atol=1e-9)
    # ranx's map@k divides by R, ours by min(k, R)
    n_rel = v["n_relevant"]
    np.testing.assert_allclose(v[f"ap@{k}"] * np.minimum(k, n_rel) / n_rel, ref[f"map@{k}"],
                               atol=1e-9)
    assert (n_rel > k).any() and (n_rel <= k).any()


def test_binary_ndcg_matches_ranx():
    k = 10
    recs, truth = _random_case(np.random.default_rng(7), 300, 60, k, graded=False)
    truth.data[:] = 1.0
    users, ref = _ranx_eval(recs, truth, k)
    m = compute_user_metrics(recs, truth, k)
    np.testing.assert_allclose(m.values["ndcg@10"][users], ref["ndcg@10"], atol=1e-9)


# --------------------------------------------------------------------------- candidate recall


def test_candidate_recall():
    recs = np.array([[3, 4, 0, 1], [2, -1, -1, -1], [0, 1, 2, 3], [-1, -1, -1, -1]])
    truth = csr([[1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]])
    # user 0: relevant item 0 at rank 3 -> found only when c >= 3; user 1: rank 1;
    # user 2: nothing relevant -> NaN; user 3: empty list -> 0
    np.testing.assert_array_equal(candidate_recall(recs, truth, 2), [0, 1, np.nan, 0])
    np.testing.assert_array_equal(candidate_recall(recs, truth, 3), [1, 1, np.nan, 0])
    np.testing.assert_array_equal(
        candidate_recall(recs, truth, 3),
        compute_user_metrics(recs, truth, 3).values["hit@3"],
    )


# --------------------------------------------------------------------------- AUC


def _auc_brute(scores, truth):
    out = np.full(scores.shape[0], np.nan)
    for u in range(scores.shape[0]):
        pos = set(truth.indices[truth.indptr[u] : truth.indptr[u + 1]].tolist())
        s = np.where(np.isnan(scores[u]), -np.inf, scores[u])
        negs = [j for j in range(scores.shape[1]) if j not in pos and s[j] > -np.inf]
        if not pos or not negs:
            continue
        total = 0.0
        for p in pos:
            for q in negs:
                total += 1.0 if s[p] > s[q] else 0.5 if s[p] == s[q] else 0.0
        out[u] = total / (len(pos) * len(negs))
    return out


def test_auc_hand_computed():
    scores = np.array(
        [
            [0.1, 0.5, 0.5, -np.inf],  # pos {1, 3}; negs {0, 2}: 1 beats 0, ties 2; 3 is -inf
            [1.0, 2.0, 3.0, 4.0],  # pos {0}: lowest -> 0
            [1.0, 1.0, 1.0, 1.0],  # all tied -> 0.5
            [2.0, -np.inf, -np.inf, -np.inf],  # pos {0}; every other item excluded -> NaN
            [5.0, 1.0, 2.0, 3.0],  # no positive -> NaN
        ]
    )
    truth = csr([[0, 1, 0, 1], [1, 0, 0, 0], [0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(
        auc_from_scores(scores, truth), [1.5 / 4, 0.0, 0.5, np.nan, np.nan]
    )


@pytest.fixture
def auc_path():
    """One compiled path since the kernel replaced the numpy scan/sort paths."""
    return "kernel"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_auc_matches_brute_force_with_ties(auc_path, dtype):
    rng = np.random.default_rng(3)
    b, n_items = 40, 30
    scores = rng.integers(0, 6, (b, n_items)).astype(dtype)  # many ties
    scores[rng.random((b, n_items)) < 0.15] = -np.inf
    scores[rng.random((b, n_items)) < 0.03] = np.nan
    scores[0, 3] = np.inf
    positives = rng.random((b, n_items)) < rng.random((b, 1)) * 0.4
    positives[1] = False  # a row without positives
    truth = sp.csr_matrix(positives.astype(np.float64))
    scores[2, :] = -np.inf  # a row without negatives
    got = auc_from_scores(scores, truth)
    ref = _auc_brute(scores.astype(np.float64), truth)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert np.isnan(got[1]) and np.isnan(got[2])
    assert np.isfinite(got).sum() > 30


def test_auc_matches_sklearn(auc_path):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(11)
    b, n_items = 25, 200
    scores = np.round(rng.standard_normal((b, n_items)), 1)  # ties
    truth = sp.csr_matrix((rng.random((b, n_items)) < 0.1).astype(np.float64))
    got = auc_from_scores(scores, truth)
    dense = truth.toarray() > 0
    ref = [metrics.roc_auc_score(dense[u], scores[u]) for u in range(b)]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- real data


def test_movielens_100k_popularity_vs_ranx():
    root = os.environ.get("WEAKSPOT_DATASETS")
    if not root or not (Path(root) / "ml-100k" / "u.data").exists():
        pytest.skip("set WEAKSPOT_DATASETS to the folder holding ml-100k/")
    raw = np.loadtxt(Path(root) / "ml-100k" / "u.data", dtype=np.int64)
    users, items, ratings, ts = raw[:, 0] - 1, raw[:, 1] - 1, raw[:, 2], raw[:, 3]
    n_users, n_items = users.max() + 1, items.max() + 1
    # hold out each user's last 10 ratings (by time, ties by item); relevant = rating >= 4
    order = np.lexsort((items, ts, users))
    rank_from_end = np.empty(len(order), dtype=np.int64)
    counts = np.bincount(users, minlength=n_users)
    ends = np.cumsum(counts)[users[order]]
    rank_from_end[order] = ends - np.arange(len(order)) - 1
    test = rank_from_end < 10
    train = sp.csr_matrix((np.ones((~test).sum()), (users[~test], items[~test])),
                          shape=(n_users, n_items))
    rel = test & (ratings >= 4)
    truth = sp.csr_matrix((ratings[rel].astype(np.float64), (users[rel], items[rel])),
                          shape=(n_users, n_items))
    pop = np.asarray(train.sum(axis=0)).ravel()
    scores = np.broadcast_to(pop, (n_users, n_items)).astype(np.float64)
    scores[train.nonzero()] = -np.inf
    recs = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    m = compute_user_metrics(recs, truth, 10)
    ids, ref = _ranx_eval(recs, truth, 10)
    np.testing.assert_allclose(m.values["ndcg_graded@10"][ids], ref["ndcg@10"], atol=1e-9)
    np.testing.assert_allclose(m.values["recall@10"][ids], ref["recall@10"], atol=1e-9)
    assert m.n_excluded == n_users - len(ids) > 0
    auc = auc_from_scores(scores, truth)
    assert np.nanmean(auc) > 0.7  # popularity is far better than random on ML-100K


# --- AUC within the held-out items -----------------------------------------------------------


def test_auc_heldout_by_hand():
    from analysis.metrics import auc_heldout_from_scores

    scores = np.array(
        [
            [0.9, 0.5, 0.5, 0.1, 7.0],  # pos {0, 2}, neg {1, 3}: pairs 0>1, 0>3, 2=1, 2>3
            [0.2, 0.8, 0.2, 0.0, 0.0],  # pos {0}, neg {1, 2}: 0<1, 0=2 -> 0.5 / 2
            [0.2, 0.8, 0.2, 0.0, 0.0],  # no negative -> NaN
            [0.2, 0.8, 0.2, 0.0, 0.0],  # no positive -> NaN
        ]
    )
    pos = sp.csr_matrix(np.array([[1, 0, 4, 0, 0], [5, 0, 0, 0, 0], [1, 0, 0, 0, 0],
                                  [0, 0, 0, 0, 0]], dtype=float))
    neg = sp.csr_matrix(np.array([[0, 1, 0, 1, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0],
                                  [1, 1, 0, 0, 0]], dtype=float))
    got = auc_heldout_from_scores(scores, pos, neg)
    np.testing.assert_array_equal(got[:2], [3.5 / 4, 0.5 / 2])
    assert np.isnan(got[2:]).all()
    # item 4 scores 7 but is not held out: it plays no part (the catalogue AUC would count it)


def test_auc_heldout_matches_sklearn_on_random_rows():
    from sklearn.metrics import roc_auc_score

    from analysis.metrics import auc_heldout_from_scores

    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, (80, 40)).astype(np.float32)  # many ties
    label = rng.integers(-1, 2, (80, 40))  # 1 relevant, 0 not relevant, -1 not held out
    got = auc_heldout_from_scores(
        scores, sp.csr_matrix(label == 1, dtype=float), sp.csr_matrix(label == 0, dtype=float)
    )
    for r in range(80):
        held = label[r] >= 0
        y = label[r][held]
        want = roc_auc_score(y, scores[r][held]) if 0 < y.sum() < len(y) else np.nan
        assert got[r] == pytest.approx(want, abs=1e-12, nan_ok=True)


def test_auc_heldout_refuses_an_item_labelled_both_ways():
    from analysis.metrics import auc_heldout_from_scores

    m = sp.csr_matrix(np.array([[1.0, 0.0]]))
    with pytest.raises(AnalysisError, match="both relevant"):
        auc_heldout_from_scores(np.zeros((1, 2)), m, m)
