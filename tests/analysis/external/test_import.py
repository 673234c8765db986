"""Imported runs: readers, per-user metrics equal to ranx's on the same files, unknown ids,
the AUC from ranks, the test-only random-half selection and held-out files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from analysis.errors import AnalysisError
from analysis.external import (
    AUC_UNAVAILABLE,
    NO_SCORER,
    ONLY_TEST,
    ImportConfig,
    RunColumns,
    auc_heldout_from_ranks,
    evaluate_rankings,
    import_run,
    read_rankings,
    unknown_lines,
)
from analysis.weak_users import WeakRule
from tests.analysis.external._fixtures import C


def _ranx_per_user(ext, k):
    ranx = pytest.importorskip("ranx")
    test = ext.split.test
    ds = ext.dataset
    qrels = {}
    for u in np.flatnonzero(np.diff(test.indptr)):  # the reference input, user by user
        lo, hi = test.indptr[u], test.indptr[u + 1]
        qrels[str(ds.user_ids[u])] = {str(ds.item_ids[i]): int(g)
                                      for i, g in zip(test.indices[lo:hi], test.data[lo:hi])}
    run = ranx.Run.from_file(str(ext.trec), kind="trec")
    metrics = [f"{m}@{k}" for m in ("ndcg", "recall", "precision", "hit_rate", "mrr")]
    q = ranx.Qrels(qrels)
    out = ranx.evaluate(q, run, metrics, return_mean=False, make_comparable=True)
    users = pd.Index(ds.user_ids.astype(str)).get_indexer(q.get_query_ids())
    return users, out


@pytest.mark.parametrize("which", ["trec", "parquet"])
def test_lists_and_metrics_equal_ranx(ext, which):
    k = 10
    path = ext.trec if which == "trec" else ext.parquet
    r = read_rankings(path, ext.dataset, C)
    np.testing.assert_array_equal(r.items, ext.items)
    assert r.order_by == ("score" if which == "trec" else "rank")
    assert (r.n_unknown_user_rows, r.n_duplicates, r.n_cut) == (0, 0, 0)
    ev, counts = evaluate_rankings(ext.split, r.items, r.scores, None, k=k)
    assert counts.seen_test == 0 and counts.unranked_test == 0
    users, ref = _ranx_per_user(ext, k)
    t = ev.per_user
    np.testing.assert_array_equal(np.sort(users), np.flatnonzero(t["evaluated"]))
    # ranx's ndcg uses the stored (graded) relevance with linear gain: our ndcg_graded
    for ours, theirs in (("ndcg_graded", "ndcg"), ("recall", "recall"),
                         ("precision", "precision"), ("hit", "hit_rate"), ("mrr", "mrr")):
        np.testing.assert_allclose(t[f"{ours}@{k}"].to_numpy()[users], ref[f"{theirs}@{k}"],
                                   atol=1e-9, err_msg=ours)
    assert t["auc"].isna().all() and t["val_ndcg@10"].isna().all()


def test_unknown_ids_counted_in_one_line(ext, tmp_path):
    path = tmp_path / "run.trec"
    path.write_text(ext.trec.read_text() + "u999 Q0 1 1 9 x\nu999 Q0 2 2 8 x\n"
                    f"{ext.dataset.user_ids[0]} Q0 nope 1 99 x\n")
    r = read_rankings(path, ext.dataset, C)
    assert unknown_lines(r, "syn") == [
        "2 rows name users not in dataset syn (run.trec, first: 'u999')",
        "1 rows name items not in dataset syn (run.trec, first: 'nope')",
    ]
    np.testing.assert_array_equal(r.items, ext.items)  # the unknown item is not listed


def test_csv_score_order_ties_and_duplicates(ext, tmp_path):
    ds = ext.dataset
    u, (a, b, c) = ds.user_ids[1], ds.item_ids[[5, 3, 7]]
    path = tmp_path / "run.csv"
    path.write_text(f"uid,iid,pred\n{u},{a},0.5\n{u},{b},0.5\n{u},{c},0.9\n{u},{c},0.1\n")
    r = read_rankings(path, ds, 4, columns=RunColumns(user="uid", item="iid"))
    assert r.items[1].tolist() == [7, 3, 5, -1]  # score desc, the tie by item_idx
    assert r.n_duplicates == 1 and r.order_by == "score"
    with pytest.raises(AnalysisError, match="neither a rank nor a score column"):
        bad = tmp_path / "bad.csv"
        bad.write_text(f"user_id,item_id\n{u},{a}\n")
        read_rankings(bad, ds, 4)


def test_auc_heldout_from_ranks_hand_computed():
    # one user, C = 3: list [2, 0, 5]; relevant {0, 4}, not relevant {5, 6}
    # scores: item 0 -> -2, item 5 -> -3, items 4 and 6 missing -> -4 (tied)
    # pairs: (0,5) win, (0,6) win, (4,5) loss, (4,6) tie -> (2 + 0.5) / 4
    items = np.array([[2, 0, 5]])
    truth = sp.csr_matrix(([1.0, 1.0], ([0, 0], [0, 4])), shape=(1, 8))
    neg = sp.csr_matrix(([1.0, 1.0], ([0, 0], [5, 6])), shape=(1, 8))
    assert auc_heldout_from_ranks(items, truth, neg)[0] == pytest.approx(2.5 / 4)


def test_import_with_validation_selects_on_it(ext):
    res = import_run(ext.dataset, ext.trec, ext.val_trec,
                     ImportConfig(name="prod-ranker-v7", n_candidates=C))
    t = res.per_user
    assert res.config.model == "prod-ranker-v7" and res.config.weak_rule.metric == "ndcg@10"
    assert t["val_ndcg@10"].notna().any() and res.weak.n_weak > 0
    s = res.summary()
    assert s["model"]["name"] == "prod-ranker-v7"
    assert s["imported"]["unavailable_metrics"] == ["auc", "val_auc"]
    assert s["imported"]["selection"] == {"kind": "validation"}
    assert "AUC over all items: not available" in res.notes[-1]
    with pytest.raises(AnalysisError, match="no model that scores items"):
        res.run.model.score(np.array([0]), np.array([[1]]))
    assert NO_SCORER.startswith("The run {name!r} holds")


def test_only_test_run_needs_the_random_half(ext):
    with pytest.raises(AnalysisError) as err:
        import_run(ext.dataset, ext.trec, config=ImportConfig(n_candidates=C))
    assert str(err.value).startswith(ONLY_TEST)
    with pytest.raises(AnalysisError) as err:
        import_run(ext.dataset, ext.trec, ext.val_trec,
                   ImportConfig(weak_rule=WeakRule(metric="auc", percentile=20)))
    assert str(err.value).startswith(AUC_UNAVAILABLE)


def test_random_half_selection(ext):
    cfg = ImportConfig(name="p", n_candidates=C, selection="random_half", seed=4)
    res = import_run(ext.dataset, ext.trec, config=cfg)
    sel = res.imported["selection"]
    n_with_test = int((np.diff(ext.split.test.indptr) > 0).sum())
    assert sel["n_selection"] == n_with_test // 2
    assert sel["n_judged"] == n_with_test - n_with_test // 2 == res.per_user["evaluated"].sum()
    t = res.per_user
    judged = t["evaluated"].to_numpy()
    np.testing.assert_array_equal(t["val_ndcg@10"][judged], t["ndcg@10"][judged])
    assert t["val_ndcg@10"][~judged].isna().all()
    # the threshold is the selection half's 20th percentile of test NDCG@10
    has_test = np.diff(ext.split.test.indptr) > 0
    selection = has_test & ~judged
    expected = np.percentile(t["ndcg@10"].to_numpy()[selection], 20)
    assert sel["threshold_value"] == pytest.approx(expected)
    assert res.weak.rule.threshold == pytest.approx(expected)
    assert (res.weak.mask <= judged).all() and res.weak.n_weak > 0
    again = import_run(ext.dataset, ext.trec, config=cfg)
    assert again.imported["selection"] == sel  # same seed, same half


def test_heldout_file_defines_the_test_fold(ext, tmp_path):
    ds, test = ext.dataset, ext.split.test.tocoo()
    held = tmp_path / "held.csv"
    rows = [f"{ds.user_ids[u]},{ds.item_ids[i]}" for u, i in zip(test.row, test.col)]
    held.write_text("user_id,item_id\n" + "\n".join(rows + ["ghost,1"]) + "\n")
    cfg = ImportConfig(n_candidates=C, selection="random_half")
    res = import_run(ds, ext.trec, config=cfg, heldout_test=held)
    assert res.split.strategy == "heldout_file"
    assert (res.split.test != ext.split.test).nnz == 0
    assert "1 rows name users not in dataset syn (held.csv, first: 'ghost')" in res.notes
    assert res.imported["seen_in_earlier_interactions"]["test"] > 0  # validation items now train


def test_the_report_of_an_imported_run_says_what_it_is(ext):
    """The HTML report names the model as given, says the rankings were imported, and what an
    imported run cannot have."""
    import html

    from analysis.external import import_and_save
    from analysis.report import build_report
    from analysis.workspace import Workspace

    info, _ = import_and_save(Workspace(ext.ws_path), "syn", str(ext.trec), str(ext.val_trec),
                              ImportConfig(name="prod-ranker-v7", n_candidates=C))
    text = html.unescape(build_report(info).html)
    assert "Weakspot report: syn, prod-ranker-v7 (imported rankings)" in text
    assert ("prod-ranker-v7: an external recommender's rankings, imported (no model was "
            "fitted; nothing can score an item") in text
    assert "<td>test.run</td>" in text and "<td>auc, val_auc</td>" in text
