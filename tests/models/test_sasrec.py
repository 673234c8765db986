"""Tests of models/baselines/_sasrec.py (SASRec, its cancel hook), of _sasrec_text.py (its item
table from text) and of the time-ordered train sequences it reads.

The planted set: 60 items on one fixed cycle (a random permutation: ``nxt[i]`` follows
``i``). Each user's history is 5 random items (noise), then a walk along the cycle of 8 to
11 items; no item twice. The rows are shuffled, so only the timestamps give the order. A
temporal split holds out the last item (test) and the one before (validation), so the
validation item is always ``nxt`` of the last training item. A sequential model learns that
from the walks; ALS sees only which items co-occur, so to it the predecessor of the walk's
start and the neighbours of each noise item look as likely as the next item.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from analysis.dataset import Dataset
from analysis.errors import AnalysisError
from analysis.split import Split, split_random, split_temporal
from models import baselines as B
from models.baselines import load_model, make_recommender, save_model
from models.baselines._sasrec import build_network

N_USERS, N_ITEMS = 150, 60
#: small and quick; enough to learn the pattern
FAST = {"factors": 32, "epochs": 60, "max_len": 16, "batch_size": 32, "learning_rate": 0.01,
        "dropout": 0.1}


def planted(seed: int = 0, extra_test_item: bool = False, test_item: int | None = None) -> Dataset:
    """The planted set; with ``extra_test_item`` one more item (index ``N_ITEMS``) that
    the first 10 users meet last, at test time only (``test_item`` replaces it)."""
    rng = np.random.default_rng(seed)
    cycle = rng.permutation(N_ITEMS)
    nxt = np.empty(N_ITEMS, dtype=np.int64)
    nxt[cycle] = np.roll(cycle, -1)
    users, items, times = [], [], []
    for u in range(N_USERS):
        walk = [int(rng.integers(N_ITEMS))]
        for _ in range(int(rng.integers(8, 12)) - 1):
            walk.append(int(nxt[walk[-1]]))
        others = np.setdiff1d(np.arange(N_ITEMS), walk)
        seq = [int(i) for i in rng.choice(others, 5, replace=False)] + walk
        if extra_test_item and u < 10:
            seq.append(N_ITEMS if test_item is None else test_item)
        users += [u] * len(seq)
        items += seq
        times += [1_000 * u + 10 * t for t in range(len(seq))]
    n_items = N_ITEMS + 1 if extra_test_item else N_ITEMS
    rows = rng.permutation(len(users))
    return Dataset(
        name="planted",
        user_idx=np.asarray(users, np.int32)[rows],
        item_idx=np.asarray(items, np.int32)[rows],
        value=None,
        timestamp=np.asarray(times, np.int64)[rows],
        gain=np.ones(len(users), np.float32),
        user_ids=np.arange(N_USERS).astype(str),
        item_ids=np.arange(n_items).astype(str),
        kind="implicit",
    )


def fit(split: Split, seed: int = 0, **params):
    model = make_recommender("sasrec", seed=seed, use_gpu=False, **{**FAST, **params})
    return model.fit(split.train, sequences=split.train_sequences)


def next_item_ndcg(model, split: Split) -> tuple[float, float]:
    """Mean NDCG@10 and hit rate@10 of the validation item (one relevant item:
    NDCG = 1 / log2(rank + 1) when it is at 1-based rank <= 10, else 0), train excluded."""
    users = np.flatnonzero(np.diff(split.validation.indptr) == 1)
    target = split.validation.indices[split.validation.indptr[users]]
    top, _ = model.recommend(users, 10, exclude=split.train)
    hit = top == target[:, None]
    rank = np.argmax(hit, axis=1) + 1
    found = hit.any(axis=1)
    return float(np.where(found, 1.0 / np.log2(rank + 1), 0.0).mean()), float(found.mean())


@pytest.fixture(scope="module")
def split() -> Split:
    return split_temporal(planted(), n_validation=1, n_test=1)


@pytest.fixture(scope="module")
def model(split):
    return fit(split)


def test_train_sequences_are_train_items_in_time_order(split):
    ds = split.dataset
    indptr, items = split.train_sequences
    assert indptr.dtype == np.int64 and items.dtype == np.int32
    assert len(indptr) == N_USERS + 1 and indptr[-1] == split.train.nnz
    for u in (0, 7, 149):
        rows = np.flatnonzero((ds.user_idx == u) & (split.fold == 0))
        expected = ds.item_idx[rows[np.argsort(ds.timestamp[rows])]]
        np.testing.assert_array_equal(items[indptr[u]:indptr[u + 1]], expected)
        # the held-out items come after: validation then test
        held = np.flatnonzero((ds.user_idx == u) & (split.fold > 0))
        assert ds.timestamp[held].min() > ds.timestamp[rows].max()


def test_train_sequences_without_timestamps_follow_row_order():
    ds = replace(planted(), timestamp=None)
    split = split_random(ds, validation_fraction=0.1, test_fraction=0.1, seed=3)
    indptr, items = split.train_sequences
    for u in (0, 42):
        rows = np.flatnonzero((ds.user_idx == u) & (split.fold == 0))  # ascending row order
        np.testing.assert_array_equal(items[indptr[u]:indptr[u + 1]], ds.item_idx[rows])


def test_recovers_the_planted_next_item_far_above_als(model, split):
    ndcg, hit = next_item_ndcg(model, split)
    als = make_recommender("als", seed=0, use_gpu=False, factors=32).fit(split.train)
    als_ndcg, als_hit = next_item_ndcg(als, split)
    assert hit >= 0.95 and ndcg >= 0.85  # measured: 1.0 and 0.93
    assert ndcg > als_ndcg + 0.5 and hit > als_hit + 0.3  # ALS: 0.28 (hit rate 0.51)
    assert model.device == "cpu"


def test_same_seed_same_bytes_other_seed_differs(split):
    users = np.arange(N_USERS)
    first, again = fit(split, epochs=5), fit(split, epochs=5)
    assert again.score_users(users).tobytes() == first.score_users(users).tobytes()
    assert again.item_factors.tobytes() == first.item_factors.tobytes()
    other = fit(split, seed=1, epochs=5)
    assert other.score_users(users).tobytes() != first.score_users(users).tobytes()


def test_never_sees_validation_or_test_items():
    # item N_ITEMS is only ever a test item: no gradient, so its embedding stays at its init
    first = split_temporal(planted(extra_test_item=True), n_validation=1, n_test=1)
    assert first.train[:, N_ITEMS].nnz == 0 and first.test[:, N_ITEMS].nnz == 10
    params = {**FAST, "epochs": 3}
    model = fit(first, **params)
    torch.manual_seed(0)
    init = build_network(N_ITEMS + 1, model.params).item_emb.weight[1:].detach().numpy()
    np.testing.assert_array_equal(model.item_factors[N_ITEMS], init[N_ITEMS])
    assert not np.array_equal(model.item_factors[0], init[0])  # trained items moved
    # other held-out items (the same train rows) give the same model, byte for byte
    second = split_temporal(planted(extra_test_item=True, test_item=3), n_validation=1, n_test=1)
    assert (second.train != first.train).nnz == 0 and (second.test != first.test).nnz > 0
    again = fit(second, **params)
    assert again.item_factors.tobytes() == model.item_factors.tobytes()
    assert again.user_factors.tobytes() == model.user_factors.tobytes()


def test_save_load_round_trip_scores_the_same(model, tmp_path):
    path = save_model(model, tmp_path / "model.npz")
    loaded = load_model(path)
    assert isinstance(loaded, B.SASRec) and loaded.params == model.params
    users = np.arange(N_USERS)
    assert loaded.score_users(users).tobytes() == model.score_users(users).tobytes()
    cand = np.tile(np.arange(5), (N_USERS, 1))
    np.testing.assert_allclose(loaded.score(users, cand), model.score_users(users)[:, :5],
                               rtol=1e-5, atol=1e-6)


def test_progress_epochs_and_cold_users(split):
    calls = []
    model = make_recommender("sasrec", seed=0, use_gpu=False, **{**FAST, "epochs": 3})
    train = split.train.tolil()
    train[5, :] = 0  # user 5 has no training items: zero state, zero scores
    train = sp.csr_matrix(train)
    indptr, items = split.train_sequences
    keep = np.repeat(np.arange(N_USERS), np.diff(indptr)) != 5
    counts = np.diff(indptr) * (np.arange(N_USERS) != 5)
    model.fit(train, progress=lambda f, m: calls.append((f, m)),
              sequences=(np.r_[0, np.cumsum(counts)], items[keep]))
    fractions = [f for f, _ in calls]
    assert fractions == [0.0, 1 / 3, 2 / 3, 1.0, 1.0]
    assert calls[0][1] == "sasrec: fitting on cpu" and calls[1][1].startswith("sasrec: epoch 1/3")
    assert not model.score_users(np.array([5])).any()


def test_a_cancel_after_the_first_epoch_stops_before_the_second_batch_runs(split):
    # 150 users with >= 2 training items, batches of 32: 5 batches an epoch
    calls, asked = [], []

    def should_stop() -> bool:
        asked.append(len(calls))
        return len(calls) >= 2  # cancelled once the first epoch has been reported

    model = make_recommender("sasrec", seed=0, use_gpu=False, **{**FAST, "epochs": 4})
    threads = torch.get_num_threads()
    with pytest.raises(AnalysisError) as err:
        model.fit(split.train, progress=lambda f, m: calls.append((f, m)),
                  sequences=split.train_sequences, should_stop=should_stop)
    assert str(err.value) == B._sasrec.FIT_CANCELLED.format(
        name="sasrec", epoch=2, epochs=4, batch=1)
    assert [f for f, _ in calls] == [0.0, 0.25]  # one epoch of four reported, no "done"
    assert asked == [1] * 5 + [2]  # asked before each batch: 5 ran, the 6th never did
    assert not model.is_fitted and torch.get_num_threads() == threads


def test_a_cancel_mid_epoch_keeps_the_previous_fit(split):
    model = fit(split, epochs=1)
    users = np.arange(N_USERS)
    before = model.score_users(users).tobytes()
    asked = []

    def should_stop() -> bool:
        asked.append(True)
        return len(asked) == 3

    with pytest.raises(AnalysisError, match="cancelled at epoch 1/1, batch 3"):
        model.fit(split.train, sequences=split.train_sequences, should_stop=should_stop)
    assert len(asked) == 3 and model.score_users(users).tobytes() == before
    # the hook is dropped with the fit: a plain refit runs to its end
    assert fit(split, epochs=1).score_users(users).tobytes() == before


def test_bad_inputs_are_one_line_analysis_errors(split):
    cases = [
        (lambda: make_recommender("sasrec", heads=3), "Parameter 'heads' of model 'sasrec'"),
        (lambda: make_recommender("sasrec", dropout=1.0), "Parameter 'dropout'"),
        (lambda: make_recommender("sasrec", epochs=0), "Parameter 'epochs'"),
        (lambda: make_recommender("sasrec", use_gpu=False).fit(split.train),
         "pass sequences=split.train_sequences"),
        (lambda: make_recommender("sasrec", use_gpu=False).fit(
            split.train, sequences=(np.array([0, 1]), np.array([0]))), "sequences must be"),
        (lambda: make_recommender("sasrec", use_gpu=False).fit(  # a held-out item
            split.train, sequences=(np.r_[0, np.full(N_USERS, 1)],
                                    split.validation.indices[:1])), "not in the train matrix"),
    ]
    for call, text in cases:
        with pytest.raises(AnalysisError) as err:
            call()
        assert text in str(err.value) and "\n" not in str(err.value)


def test_gpu_requested_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(AnalysisError) as err:
        make_recommender("sasrec", use_gpu=True)
    assert str(err.value) == B.NO_TORCH_CUDA
    with pytest.raises(AnalysisError, match="use_gpu must be"):
        make_recommender("sasrec", use_gpu="yes")
    assert make_recommender("sasrec")._resolve_device("auto") is False


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fits_on_cuda(split):
    model = make_recommender("sasrec", seed=0, use_gpu=True, **FAST)
    model.fit(split.train, sequences=split.train_sequences)
    assert model.device == "gpu"
    assert next_item_ndcg(model, split)[1] >= 0.9


# --- the item table from text (LLMEmb) ----------------------------------------------------

N_CLUSTERS, CLUSTER = 12, 10


def clustered(seed: int = 0) -> tuple[Dataset, np.ndarray]:
    """120 items in 12 clusters of 10 (scattered item indices); each of 80 users meets 6
    items of one cluster; the text vectors are the cluster's one-hot plus a little noise
    (16 dims). Few interactions per item (about 2.7 in training): a random table barely
    learns the clusters, the text table has them from the start."""
    rng = np.random.default_rng(seed)
    n_items = N_CLUSTERS * CLUSTER
    cluster = rng.permutation(np.repeat(np.arange(N_CLUSTERS), CLUSTER))
    users, items, times = [], [], []
    for u in range(80):
        members = np.flatnonzero(cluster == rng.integers(N_CLUSTERS))
        seq = rng.choice(members, 6, replace=False)
        users += [u] * 6
        items += seq.tolist()
        times += [100 * u + t for t in range(6)]
    text = np.zeros((n_items, 16))
    text[np.arange(n_items), cluster] = 1.0
    text += rng.normal(scale=0.1, size=text.shape)
    ds = Dataset(name="clustered", user_idx=np.asarray(users, np.int32),
                 item_idx=np.asarray(items, np.int32), value=None,
                 timestamp=np.asarray(times, np.int64), gain=np.ones(len(users), np.float32),
                 user_ids=np.arange(80).astype(str), item_ids=np.arange(n_items).astype(str),
                 kind="implicit")
    return ds, text


TEXT = {"factors": 16, "epochs": 20, "max_len": 8, "batch_size": 16, "learning_rate": 0.01,
        "dropout": 0.1}


def test_pca_matches_a_hand_computation():
    # centred: (-3, -3), (1, 1), (2, 2): one direction (1, 1)/√2 with U ∝ (-3, 1, 2), so the
    # largest |U| entry is negative and the sign flips: coordinates 3√2, -√2, -2√2; rank 1,
    # so the second and third coordinates are 0
    x = np.array([[0.0, 1.0], [4.0, 5.0], [5.0, 6.0]])
    coords, explained = B._sasrec_text.pca_reduce(x, 3)
    r = np.sqrt(2)
    np.testing.assert_allclose(coords, [[3 * r, 0, 0], [-r, 0, 0], [-2 * r, 0, 0]], rtol=1e-12)
    assert coords[:, 1:].tolist() == [[0, 0]] * 3 and explained == pytest.approx(1.0)
    # scaled to root mean square 1 over the 3 x 2 entries: sum of squares 28 -> / √(28/6)
    table = B._sasrec_text.text_table(x, 2)
    np.testing.assert_allclose(table[:, 0], np.array([3, -1, -2]) * r / np.sqrt(28 / 6),
                               rtol=1e-6)
    assert table.dtype == np.float32 and np.sqrt((table.astype(float) ** 2).mean()) == (
        pytest.approx(1.0, rel=1e-6))


@pytest.fixture(scope="module")
def text_data():
    ds, text = clustered()
    return split_temporal(ds, n_validation=1, n_test=1), text


def fit_text(split, text, mode="frozen", seed=0, **params):
    model = make_recommender("sasrec", seed=seed, use_gpu=False, **{**TEXT, **params})
    vectors = None if mode is None else text
    return model.fit(split.train, sequences=split.train_sequences, item_vectors=vectors,
                     text_table=mode or "frozen")


def test_text_init_beats_random_init_when_the_text_carries_the_signal(text_data):
    split, text = text_data
    frozen, trainable, random = (fit_text(split, text, m) for m in ("frozen", "trainable", None))
    ndcg = {name: next_item_ndcg(m, split) for name, m in
            (("frozen", frozen), ("trainable", trainable), ("random", random))}
    # measured NDCG@10 (hit rate): frozen 0.53 (1.0), trainable 0.56 (1.0), random 0.10 (0.19)
    assert ndcg["frozen"][1] > ndcg["random"][1] + 0.6
    assert ndcg["trainable"][1] > ndcg["random"][1] + 0.6
    assert ndcg["frozen"][0] > 3 * ndcg["random"][0] and ndcg["trainable"][0] > 3 * ndcg[
        "random"][0]
    assert random.text_state is None and frozen.text_state.text_table == "frozen"


def test_frozen_keeps_the_pca_table_and_trains_the_adapter(text_data):
    split, text = text_data
    model = fit_text(split, text, "frozen", epochs=3)
    state = model.text_state
    pca = B._sasrec_text.text_table(text, 16)
    assert state.table.tobytes() == pca.tobytes()
    assert not np.allclose(state.adapter_weight, np.eye(16))
    np.testing.assert_allclose(model.item_factors,
                               pca @ state.adapter_weight.T + state.adapter_bias, atol=1e-5)
    assert 0.5 < state.explained <= 1.0


def test_text_init_is_byte_identical_for_a_seed(text_data):
    split, text = text_data
    users = np.arange(80)
    first, again = (fit_text(split, text, "trainable", epochs=3) for _ in range(2))
    assert first.score_users(users).tobytes() == again.score_users(users).tobytes()
    assert first.text_state.table.tobytes() == again.text_state.table.tobytes()
    other = fit_text(split, text, "trainable", seed=1, epochs=3)
    assert other.score_users(users).tobytes() != first.score_users(users).tobytes()


def test_an_item_seen_only_in_test_keeps_adapter_of_its_pca_row():
    split = split_temporal(planted(extra_test_item=True), n_validation=1, n_test=1)
    text = np.random.default_rng(4).normal(size=(N_ITEMS + 1, 24))
    model = make_recommender("sasrec", seed=0, use_gpu=False, **{**FAST, "epochs": 3})
    model.fit(split.train, sequences=split.train_sequences, item_vectors=text,
              text_table="trainable")
    state, pca = model.text_state, B._sasrec_text.text_table(text, 32)
    np.testing.assert_array_equal(state.table[N_ITEMS], pca[N_ITEMS])  # no gradient
    assert not np.array_equal(state.table[0], pca[0])  # a trained item's row moved
    np.testing.assert_allclose(model.item_factors[N_ITEMS],
                               pca[N_ITEMS] @ state.adapter_weight.T + state.adapter_bias,
                               atol=1e-5)
    # stored and loaded as plain factors: scores unchanged
    users = np.arange(N_USERS)
    assert model.score_users(users).shape == (N_USERS, N_ITEMS + 1)


def test_text_init_round_trips_and_checks_its_inputs(text_data, tmp_path):
    split, text = text_data
    model = fit_text(split, text, "frozen", epochs=2)
    loaded = load_model(save_model(model, tmp_path / "model.npz"))
    users = np.arange(80)
    assert loaded.score_users(users).tobytes() == model.score_users(users).tobytes()
    cases = [
        ({"item_vectors": text[:5]}, "item_vectors must be a finite (n_items, d) matrix"),
        ({"item_vectors": np.full_like(text, np.nan)}, "item_vectors must be"),
        ({"item_vectors": text, "text_table": "melted"}, "text_table must be"),
    ]
    for kw, message in cases:
        with pytest.raises(AnalysisError) as err:
            make_recommender("sasrec", use_gpu=False, **TEXT).fit(
                split.train, sequences=split.train_sequences, **kw)
        assert message in str(err.value) and "\n" not in str(err.value)
