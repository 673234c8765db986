"""Tests of analysis/remedies/text_init.py (SASRec with a text item table against its random
control) and analysis/remedies/targets.py: "before" is the run's own test metric to the bit,
"after" the SASRec list's under the run's masking, the reporting tables agree with the
per-user figures, and a remedy run survives its folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.metrics import auc_from_scores, compute_user_metrics
from analysis.metrics.long_tail import long_tail_figures, long_tail_items
from analysis.remedies import targets as tg
from analysis.remedies import text_init as ti
from analysis.runs.baseline import load_run
from analysis.runs.remedy import load_remedy_run, write_remedy_outputs
from models.baselines import FIT_CANCELLED, make_recommender
from models.topk import mask_rows
from tests.analysis._fixtures_rerank import build_run

PARAMS = {"factors": 16, "epochs": 2, "max_len": 10, "batch_size": 64}
#: a TF-IDF encoder's id (models/encoders/tfidf.py): recorded whole, labelled "tfidf"
ENCODER = "tfidf:uni+bi,sublinear,min_df=1|svd:dim=12,seed=0|corpus=0123456789abcdef"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("text_init")
    return load_run(build_run(root, users=200, items=80, seed=3, with_users=True))


@pytest.fixture(scope="module")
def vectors(run):
    return np.random.default_rng(0).normal(size=(run.dataset.n_items, 12)).astype(np.float32)


@pytest.fixture(scope="module")
def remedy(run, vectors):
    return ti.sasrec_text_remedy(run, vectors, encoder_id=ENCODER, uses_llm=True,
                                 one_off_usd=0.25, params=PARAMS)


def test_select_targets_by_hand():
    per = pd.DataFrame({"weak": [True, False, False, True], "inactive": [False, True, False, True]},
                       index=[3, 5, 7, 9])
    assert tg.select_targets(per, "weak").tolist() == [3, 9]
    assert tg.select_targets(per, "inactive").tolist() == [5, 9]
    assert tg.select_targets(per, "weak_or_inactive").tolist() == [3, 5, 9]
    assert tg.select_targets(per.drop(columns="inactive"), "inactive").tolist() == []
    with pytest.raises(AnalysisError, match="Unknown remedy target 'all'"):
        tg.select_targets(per, "all")


def test_before_is_the_run_and_after_is_the_sasrec_list(run, vectors, remedy):
    k, per = run.k, run.per_user
    users = per.index[per["weak"] & per["evaluated"]].to_numpy()
    for rr, kind, control in ((remedy.text, "sasrec_text", "sasrec_random"),
                              (remedy.random, "sasrec_random", None)):
        s = rr.summary
        assert (s.kind, s.control, s.target, s.k) == (kind, control, "weak", k)
        assert s.n_target == int(per["weak"].sum()) and s.n_evaluated == int(per["evaluated"].sum())
        assert rr.per_user["user_idx"].tolist() == users.tolist()
        for m in (f"ndcg@{k}", f"recall@{k}", f"hit@{k}", "auc"):
            assert rr.per_user[f"before_{m}"].to_numpy().tobytes() == (
                per.loc[users, m].to_numpy(np.float64).tobytes())
        after = compute_user_metrics(rr.topk, run.split.test[users], k).values
        np.testing.assert_array_equal(rr.per_user[f"after_ndcg@{k}"], after[f"ndcg@{k}"])
        np.testing.assert_array_equal(rr.per_user[f"gain_ndcg@{k}"],
                                      after[f"ndcg@{k}"] - rr.per_user[f"before_ndcg@{k}"])
        assert rr.topk.shape == (len(users), k)
        # after_auc: the model's masked scores over the items the list may show, by the
        # metric engine's own AUC (an independent pass over the same scores)
        seen_all = (run.split.train + run.split.validation_seen).tocsr()
        model = make_recommender("sasrec", seed=run.summary.seed, use_gpu=False, **PARAMS).fit(
            run.split.train, sequences=run.split.train_sequences,
            item_vectors=vectors if kind == "sasrec_text" else None)
        scores = model.score_users(users).astype(np.float32)
        mask_rows(scores, seen_all[users])
        np.testing.assert_array_equal(rr.per_user["after_auc"],
                                      auc_from_scores(scores, run.split.test[users]))
        seen = (run.split.train + run.split.validation_seen).tocsr()[users].toarray() > 0
        assert not np.take_along_axis(seen, rr.topk, axis=1).any()  # masked as the run does
        assert s.settings["seed"] == run.summary.seed and s.settings["factors"] == 16
        assert f"val_ndcg@{k}_weak" in s.validation
    t, r = remedy.text.summary, remedy.random.summary
    assert (t.uses_llm, t.one_off_usd, t.encoder, t.settings["text_table"]) == (
        True, 0.25, ENCODER, "frozen")
    assert (r.uses_llm, r.one_off_usd, r.encoder, r.per_user_usd) == (False, 0.0, None, 0.0)
    assert 0 < t.settings["pca_explained"] <= 1
    assert t.label == "SASRec, item table from tfidf (frozen), weak users"
    assert r.label == "SASRec, random item table, weak users"


def test_everyone_subgroups_and_long_tail_agree_with_the_lists(run, remedy):
    k, every = run.k, remedy.everyone
    evaluated = run.per_user.index[run.per_user["evaluated"]].to_numpy()
    assert every["user_idx"].tolist() == evaluated.tolist()
    np.testing.assert_array_equal(every[f"reference_ndcg@{k}"],
                                  run.per_user.loc[evaluated, f"ndcg@{k}"])
    target = every[every["target"]]
    np.testing.assert_array_equal(target[f"sasrec_text_ndcg@{k}"],
                                  remedy.text.per_user[f"after_ndcg@{k}"])
    assert remedy.mean("sasrec_text", "target") == pytest.approx(
        remedy.text.per_user[f"after_ndcg@{k}"].mean())
    by = remedy.by_subgroup
    first = by.iloc[0]
    assert (first["dimension"], first["group"], first["n_users"]) == ("all", "everyone",
                                                                       len(evaluated))
    assert first[f"sasrec_random_ndcg@{k}"] == pytest.approx(remedy.mean("sasrec_random"))
    weak = by[by["dimension"] == "weak"].set_index("group")
    assert weak.loc["True", "n_users"] == len(target)
    assert weak.loc["True", f"reference_ndcg@{k}"] == pytest.approx(
        target[f"reference_ndcg@{k}"].mean())
    assert {"activity", "gender"} <= set(by["dimension"])  # the run's subgroup dimensions
    for dim, g in by[by["dimension"] != "all"].groupby("dimension"):
        assert g["n_users"].sum() == len(evaluated), dim
    lt = remedy.long_tail.set_index(["model", "users"])
    assert len(lt) == 6
    tail = long_tail_items(run.split.train)
    ref = long_tail_figures(run.rankings[evaluated], run.split.test[evaluated], tail, k)
    assert lt.loc[("reference", "everyone"), "exposure"] == ref.exposure
    mask = every["target"].to_numpy()
    text = long_tail_figures(remedy.text.topk, run.split.test[evaluated[mask]], tail, k)
    assert lt.loc[("sasrec_text", "weak"), "hit_rate"] == pytest.approx(text.hit_rate,
                                                                          nan_ok=True)
    assert lt.loc[("sasrec_text", "weak"), "n_slots"] == text.n_slots


def test_same_inputs_same_bytes_and_the_folder_round_trip(run, vectors, remedy, tmp_path):
    again = ti.sasrec_text_remedy(run, vectors, encoder_id=ENCODER, uses_llm=True,
                                  one_off_usd=0.25, params=PARAMS)
    assert again.text.topk.tobytes() == remedy.text.topk.tobytes()
    assert again.random.per_user.equals(remedy.random.per_user)
    for rr in (remedy.text, remedy.random):
        path = write_remedy_outputs(rr, tmp_path / rr.summary.kind, run.dataset)
        back = load_remedy_run(path, run.dataset)
        assert back.summary == rr.summary
        assert back.per_user["user_id"].tolist() == run.per_user.loc[
            rr.per_user["user_idx"], "user_id"].tolist()
        pd.testing.assert_frame_equal(back.per_user.drop(columns="user_id"), rr.per_user,
                                      check_dtype=False)
        np.testing.assert_array_equal(back.topk, rr.topk)
        assert back.mean_gain() == rr.mean_gain()


def test_bad_inputs(run, vectors):
    with pytest.raises(AnalysisError) as err:
        ti.sasrec_text_remedy(run, vectors[:5], encoder_id="x", uses_llm=False, one_off_usd=0)
    assert str(err.value) == ti.BAD_TEXT_VECTORS.format(shape=(5, 12),
                                                        n_items=run.dataset.n_items)
    with pytest.raises(AnalysisError, match="Unknown remedy target"):
        ti.sasrec_text_remedy(run, vectors, encoder_id="x", uses_llm=False, one_off_usd=0,
                              target="everyone")
    with pytest.raises(AnalysisError, match="text_table must be"):
        ti.sasrec_text_remedy(run, vectors, encoder_id="x", uses_llm=False, one_off_usd=0,
                              text_table="melted", params=PARAMS)


@pytest.mark.parametrize(("counted", "after", "epochs_run", "stopped_at"), [
    ("report", 1, 0, (1, 1)),  # after the first report ("fitting"): the text fit runs no batch
    ("epoch", 3, 3, (2, 1)),  # after the random fit's first epoch: its second never starts
])
def test_should_stop_stops_either_fit_before_its_next_batch(run, vectors, counted, after,
                                                            epochs_run, stopped_at):
    calls: list[str] = []

    def should_stop() -> bool:
        seen = calls if counted == "report" else [m for m in calls if "epoch" in m]
        return len(seen) >= after

    with pytest.raises(AnalysisError) as err:
        ti.sasrec_text_remedy(run, vectors, encoder_id=ENCODER, uses_llm=True, one_off_usd=0.25,
                              params=PARAMS, progress=lambda f, m: calls.append(m),
                              should_stop=should_stop)
    epoch, batch = stopped_at
    assert str(err.value) == FIT_CANCELLED.format(name="sasrec", epoch=epoch, epochs=2,
                                                  batch=batch)
    assert sum("epoch" in m for m in calls) == epochs_run  # of 2 fits x 2 epochs
    assert not any(m == "done" or m.startswith("ranking") for m in calls)
