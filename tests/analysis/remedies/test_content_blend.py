"""Tests of analysis/remedies/content_blend.py: the content score and the standardisation by
hand, the weight chosen on validation only, the baseline reproduced at weight 0, a useless
encoder never changing a ranking, and the bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from analysis.errors import AnalysisError
from analysis.ingest import load_dataset
from analysis.ingest.uploads import ingest_synthetic
from analysis.metrics import compute_user_metrics
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.remedies import content_blend as cb
from analysis.remedies.targets import select_targets
from analysis.workspace import Workspace
from models.topk import mask_rows, topk_rows


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("blend") / "ws.duckdb")
    ingest_synthetic(ws, "syn", n_users=300, n_items=120, mean_interactions=15.0, seed=5)
    return run_pipeline(load_dataset(ws, "syn"), EvaluateConfig(model="pop", seed=1)).run


def test_content_scores_by_hand():
    # user 0 trained on items 0 and 1; item vectors (1,0), (0,1), (1,1), (0,0)
    train = sp.csr_matrix(np.array([[3.0, 1.0, 0.0, 0.0]]))
    vectors = np.array([[2, 0], [0, 5], [1, 1], [0, 0]], dtype=np.float32)
    scores = cb.content_scores(train, vectors, np.array([0]))
    # profile = mean of unit rows = (0.5, 0.5) -> unit (1/√2, 1/√2)
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(scores, [[s, s, 1.0, 0.0]], rtol=1e-6)


def test_standardise_by_hand_keeps_masked_cells_out():
    z = cb._standardise(np.array([[1.0, 3.0, -np.inf, 5.0], [2.0, 2.0, 2.0, -np.inf]]))
    sd = np.sqrt(8 / 3)
    np.testing.assert_allclose(z[0, [0, 1, 3]], [-2 / sd, 0.0, 2 / sd])
    assert z[0, 2] == -np.inf and z[1, 3] == -np.inf
    np.testing.assert_array_equal(z[1, :3], 0.0)  # no spread: every z is 0


def _val_ndcg(run, users, vectors, weight):
    """Independent reference: blend, mask training items, rank, NDCG@k on validation."""
    base = np.asarray(run.model.score_users(users), dtype=np.float64)
    content = cb.content_scores(run.split.train, vectors, users).astype(np.float64)
    for rows in (base, content):
        mask_rows(rows, run.split.train[users])
    with np.errstate(invalid="ignore"):  # -inf * 0 on masked cells: NaN, never ranked
        blended = (1 - weight) * cb._standardise(base) + weight * cb._standardise(content)
    ranked = topk_rows(blended, run.k)[0]
    return compute_user_metrics(ranked, run.split.validation[users], run.k).values["ndcg@10"]


def test_the_weight_is_chosen_on_validation_and_zero_is_the_baseline(run):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(run.dataset.n_items, 8)).astype(np.float32)
    blend = cb.blend_content(run, vectors, target="weak")
    grid = blend.grid.set_index("weight")["val_ndcg@10"]
    best = grid.index[int(np.argmax(grid.to_numpy()))]  # first best: the smallest weight
    users = select_targets(run.per_user, "weak")
    users = users[np.diff(run.split.validation.indptr)[users] > 0]
    # kept only when its paired validation gain over the baseline is established
    diff = _val_ndcg(run, users, vectors, best) - _val_ndcg(run, users, vectors, 0.0)
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    established = best != 0.0 and diff.mean() - half > 0
    assert blend.weight == (best if established else 0.0)
    assert blend.unproven_weight == (None if established or best == 0.0 else best)
    for weight in (0.0, blend.weight, 1.0):
        assert grid[weight] == pytest.approx(_val_ndcg(run, users, vectors, weight).mean(),
                                             abs=1e-12)
    # before: the run's own test NDCG@10 of those users, to the bit
    recorded = run.per_user.loc[blend.per_user["user_idx"], "ndcg@10"].to_numpy()
    np.testing.assert_array_equal(blend.per_user["before_ndcg@10"].to_numpy(), recorded)
    gains = blend.per_user["gain_ndcg@10"].to_numpy()
    half = stats.t.ppf(0.975, len(gains) - 1) * gains.std(ddof=1) / np.sqrt(len(gains))
    low, high = blend.gain_ci95
    assert (high - low) / 2 == pytest.approx(half, rel=1e-12)
    assert (low + high) / 2 == pytest.approx(blend.mean_gain_target)
    assert blend.mean_gain_all == pytest.approx(
        blend.per_user["gain_ndcg@10"].sum() / run.per_user["evaluated"].sum())


def test_a_useless_encoder_never_changes_a_ranking(run):
    """Zero vectors score every item alike: below weight 1 the order is the baseline's, the
    grid is flat and its first (smallest) weight, the baseline, is kept."""
    blend = cb.blend_content(run, np.zeros((run.dataset.n_items, 4), np.float32),
                             target="weak_or_inactive", weights=(0.0, 0.5, 0.9))
    assert blend.grid["val_ndcg@10"].nunique() == 1
    assert blend.weight == 0.0
    np.testing.assert_array_equal(blend.per_user["gain_ndcg@10"], 0.0)
    # at weight 0 the blended scores rank every item as the baseline does (a per-row affine
    # map): the AUC after equals the run's own AUC (the "before", read from the run)
    np.testing.assert_allclose(blend.per_user["after_auc"], blend.per_user["before_auc"],
                               rtol=0, atol=1e-12)
    np.testing.assert_array_equal(
        blend.per_user["before_auc"],
        run.per_user.loc[blend.per_user["user_idx"], "auc"].to_numpy())


def test_bad_inputs_say_what_is_wrong(run):
    good = np.ones((run.dataset.n_items, 3), np.float32)
    with pytest.raises(AnalysisError, match="Unknown remedy target 'all'"):
        cb.blend_content(run, good, target="all")
    with pytest.raises(AnalysisError, match="item vectors have 5 rows"):
        cb.blend_content(run, good[:5])
    with pytest.raises(AnalysisError, match=r"Blend weights must lie in \[0, 1\]"):
        cb.blend_content(run, good, weights=(0.0, 1.5))


def test_an_unproven_weight_is_said_in_the_saved_remedy():
    from analysis.runs.remedy import RemedySummary

    summary = RemedySummary(kind="content_blend", label="content blend (tfidf, weak users)",
                            uses_llm=False, control=None, target="weak", k=10, n_target=5,
                            n_evaluated=9, validation={"unproven_weight": 0.2})
    assert summary.unproven_note() == (
        "content blend (tfidf, weak users): weight 0.2 scored best on validation, but its gain "
        "over the baseline was not established, so it keeps the baseline's lists.")
    head = RemedySummary(kind="msr_rescorer", label="MSR", uses_llm=True, control="msr_ids",
                         target="weak", k=10, n_target=5, n_evaluated=9,
                         validation={"unproven_epoch": 14})
    assert "best epoch on validation (14) did not establish" in head.unproven_note()
    proven = RemedySummary(kind="content_blend", label="b", uses_llm=False, control=None,
                           target="weak", k=10, n_target=5, n_evaluated=9,
                           validation={"unproven_weight": None})
    assert proven.unproven_note() is None
