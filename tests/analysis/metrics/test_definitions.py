"""The worked examples of docs/metrics.md ("Where a figure differs from trec_eval and ranx")
computed by the code, and the README's AUC line saying the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from analysis.metrics import auc_from_scores, compute_user_metrics
from models.topk import mask_rows, topk_rows

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "metrics.md").read_text()
README = (ROOT / "README.md").read_text()


def _truth(n_items: int, relevant: list[int]) -> sp.csr_matrix:
    m = np.zeros((1, n_items), dtype=np.float32)
    m[0, relevant] = 1.0
    return sp.csr_matrix(m)


def test_ap_normalised_by_min_k_r_against_ranx():
    # k = 2, R = 4, hits at ranks 1 and 2: ap@2 = (1 + 1) / min(2, 4) = 1, ranx map@2 = 0.5
    assert "`ap@2 = (1 + 1) / min(2, 4) = 1.0`" in DOC
    assert "give `(1 + 1) / 4 = 0.5`" in DOC
    out = compute_user_metrics(np.array([[0, 1]]), _truth(6, [0, 1, 2, 3]), 2)
    assert out.values["ap@2"][0] == pytest.approx(1.0)
    ranx = pytest.importorskip("ranx")
    qrels = ranx.Qrels({"u": {f"d{j}": 1 for j in range(4)}})
    run = ranx.Run({"u": {"d0": 2.0, "d1": 1.0}})
    assert ranx.evaluate(qrels, run, "map@2") == pytest.approx(0.5)


def test_ties_broken_by_lower_item_index():
    # items 3 and 7 tie at the top; only 7 is relevant: 3 first, mrr 1/2, ndcg 1/log2(3)
    assert "`mrr@10 = 1/2`, `ndcg@10 = 1 / log2(3) = 0.631`" in DOC
    scores = np.linspace(0.4, 0.0, 10, dtype=np.float32)[None, :].copy()
    scores[0, [3, 7]] = 0.5
    items, _ = topk_rows(scores, 10)
    assert items[0, :2].tolist() == [3, 7]
    out = compute_user_metrics(items, _truth(10, [7]), 10)
    assert out.values["mrr@10"][0] == pytest.approx(0.5)
    assert (
        out.values["ndcg@10"][0] == pytest.approx(1 / np.log2(3))
        and round(1 / np.log2(3), 3) == 0.631
    )


def test_low_rated_heldout_items_are_negatives_in_auc():
    # catalogue A..E = 0..4; A in training (masked), B relevant, C held out but rated low
    assert "so `auc = 2/3`" in DOC and "would give `2/2 = 1`" in DOC
    scores = np.array([[0.7, 0.9, 0.95, 0.5, 0.1]], dtype=np.float32)
    mask_rows(scores, sp.csr_matrix(np.array([[1, 0, 0, 0, 0]], dtype=np.float32)))
    truth = _truth(5, [1])  # only relevant held-out items are positives: C is not among them
    assert auc_from_scores(scores, truth)[0] == pytest.approx(2 / 3)
    without_c = scores.copy()
    without_c[0, 2] = -np.inf
    assert auc_from_scores(without_c, truth)[0] == pytest.approx(1.0)
    # the README's one-line definition says the same
    line = README[README.index("- **AUC**:") :].split("\n- ")[0]
    assert "held-out items rated below the threshold" in " ".join(line.split())
    assert "never\n  interacted with." not in line
