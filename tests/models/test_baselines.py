"""Tests of models/baselines: one contract class subclassed per model, plus factory/GPU checks.

The contract fits each model once (class-scoped) on a seeded synthetic matrix with planted
blocks: 3 groups of 20 users, each group interacting only with its own 12 items, plus one
cold user (no interactions) and one item nobody saw. The right recommendations for a warm
user are therefore the unseen items of its own block.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import implicit.cpu.als
import implicit.cpu.bpr
import implicit.gpu
import implicit.gpu.als
import implicit.gpu.bpr
import numpy as np
import pytest
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
from threadpoolctl import threadpool_limits

from analysis.errors import AnalysisError
from models import baselines as B
from models.base import Recommender
from models.baselines import DEFAULT_PARAMS, describe_params, make_recommender

N_BLOCKS, USERS_PER, ITEMS_PER = 3, 20, 12
COLD_USER = N_BLOCKS * USERS_PER  # last row: no interactions
UNSEEN_ITEM = N_BLOCKS * ITEMS_PER  # last column: nobody interacted


@dataclass(frozen=True)
class Blocks:
    train: sp.csr_matrix
    user_block: np.ndarray  # block of each user (-1 for the cold user)
    item_block: np.ndarray  # block of each item (-1 for the unseen item)


def planted_blocks(seed: int = 0) -> Blocks:
    rng = np.random.default_rng(seed)
    n_users, n_items = COLD_USER + 1, UNSEEN_ITEM + 1
    user_block = np.r_[np.repeat(np.arange(N_BLOCKS), USERS_PER), -1]
    item_block = np.r_[np.repeat(np.arange(N_BLOCKS), ITEMS_PER), -1]
    same = (user_block[:, None] == item_block[None, :]) & (user_block[:, None] >= 0)
    liked = same & (rng.random((n_users, n_items)) < 0.55)
    liked[np.arange(COLD_USER), user_block[:COLD_USER] * ITEMS_PER] = True  # >= 1 each
    values = rng.integers(1, 5, size=(n_users, n_items)).astype(np.float32)
    train = sp.csr_matrix(np.where(liked, values, 0).astype(np.float32))
    return Blocks(train, user_block, item_block)


DATA = planted_blocks()
WARM = np.arange(COLD_USER)
ALL_USERS = np.arange(COLD_USER + 1)


def reference_topk(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent top-n: full lexsort by (-score, item), -inf dropped."""
    items = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    order = np.lexsort((items, -scores.astype(np.float64)), axis=1)[:, :n]
    top = np.take_along_axis(scores, order, axis=1)
    return np.where(np.isfinite(top), order, -1), top


@functools.cache
def _fitted(name: str, params: tuple):
    """One fitted model per (name, params), shared by the contract tests (read-only use)."""
    return make_recommender(name, seed=0, **dict(params)).fit(DATA.train)


class RecommenderContract:
    """Behaviour every baseline must show; subclasses set ``name``/``params``."""

    name: str = ""
    params: dict = {}
    deterministic = True
    min_block_precision = 0.9

    def make(self, **extra):
        return make_recommender(self.name, **{**self.params, **extra})

    def reference(self, train: sp.csr_matrix):
        """implicit's own model fitted with the same parameters (None: no reference)."""
        return

    @pytest.fixture
    def model(self):
        return _fitted(self.name, tuple(sorted(self.params.items())))

    # --- protocol and shapes ------------------------------------------------------------

    def test_is_recommender(self, model):
        assert isinstance(model, Recommender)
        assert model.name == self.name
        assert model.device == "cpu"
        assert (model.n_users, model.n_items) == DATA.train.shape

    def test_params_resolved_and_json(self, model):
        expected = {**DEFAULT_PARAMS[self.name], **self.params, "seed": 0}
        assert model.params == expected
        assert json.loads(json.dumps(model.params)) == expected
        rebuilt = make_recommender(self.name, **model.params)
        assert rebuilt.params == model.params

    def test_score_users_shape_dtype(self, model):
        s = model.score_users(ALL_USERS)
        assert s.shape == DATA.train.shape
        assert s.dtype == np.float32
        assert np.isfinite(s).all()

    def test_recommend_shape_order_ties(self, model):
        items, scores = model.recommend(ALL_USERS, 8)
        assert items.shape == scores.shape == (len(ALL_USERS), 8)
        assert items.dtype == np.int32 and scores.dtype == np.float32
        ref_items, ref_scores = reference_topk(model.score_users(ALL_USERS), 8)
        np.testing.assert_array_equal(items, ref_items)
        np.testing.assert_array_equal(scores, ref_scores)
        s0, s1, i0, i1 = scores[:, :-1], scores[:, 1:], items[:, :-1], items[:, 1:]
        assert ((s0 > s1) | ((s0 == s1) & (i0 < i1))).all()

    def test_exclude_never_returned_and_padding(self, model):
        n = DATA.train.shape[1]  # longer than what remains after excluding
        items, scores = model.recommend(ALL_USERS, n, exclude=DATA.train)
        liked = DATA.train[ALL_USERS].toarray() > 0
        returned = np.take_along_axis(liked, np.maximum(items, 0), axis=1) & (items >= 0)
        assert not returned.any()
        n_valid = (items >= 0).sum(axis=1)
        np.testing.assert_array_equal(n_valid, n - liked.sum(axis=1))
        pad = items < 0
        assert np.isneginf(scores[pad]).all() and np.isfinite(scores[~pad]).all()
        assert (pad[:, :-1] <= pad[:, 1:]).all()  # padding only at the end
        full = model.score_users(ALL_USERS)
        np.testing.assert_array_equal(
            np.take_along_axis(full, np.maximum(items, 0), axis=1)[~pad], scores[~pad]
        )

    def test_batches_and_duplicates(self, model):
        users = np.r_[ALL_USERS, 3, 3]
        a = model.recommend(users, 5, exclude=DATA.train)
        b = model.recommend(users, 5, exclude=DATA.train, batch_size=7)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[0][-1], a[0][3])
        empty_items, empty_scores = model.recommend(np.array([], dtype=np.int64), 4)
        assert empty_items.shape == empty_scores.shape == (0, 4)

    def test_score_equals_score_users_gathered(self, model, monkeypatch):
        rng = np.random.default_rng(1)
        cand = rng.integers(-1, DATA.train.shape[1], size=(len(ALL_USERS), 6))
        got = model.score(ALL_USERS, cand)
        monkeypatch.setattr(B._base, "batch_size_for", lambda cells: 7)  # several blocks
        np.testing.assert_array_equal(model.score(ALL_USERS, cand), got)
        assert got.shape == cand.shape and got.dtype == np.float32
        full = model.score_users(ALL_USERS)
        want = np.take_along_axis(full, np.maximum(cand, 0), axis=1)
        valid = cand >= 0
        np.testing.assert_allclose(got[valid], want[valid], rtol=1e-5, atol=1e-6)
        assert np.isneginf(got[~valid]).all()

    # --- quality and reproducibility ------------------------------------------------------

    def test_planted_blocks_recovered(self, model):
        items, _ = model.recommend(WARM, 3, exclude=DATA.train)
        in_block = DATA.item_block[items] == DATA.user_block[WARM][:, None]
        assert in_block.mean() >= self.min_block_precision

    def test_deterministic_with_same_seed(self, model):
        if not self.deterministic:
            pytest.skip("not reproducible with these settings")
        again = self.make(seed=0).fit(DATA.train)
        np.testing.assert_array_equal(again.score_users(ALL_USERS), model.score_users(ALL_USERS))

    def test_stored_model_loads_without_refit_and_scores_the_same(
        self, model, tmp_path, monkeypatch
    ):
        path = B.save_model(model, tmp_path / "model.npz")
        monkeypatch.setattr(B.BaselineRecommender, "fit", _no_fit)
        loaded = B.load_model(path)
        assert type(loaded) is type(model) and loaded.params == model.params
        assert (loaded.n_users, loaded.n_items) == (model.n_users, model.n_items)
        np.testing.assert_array_equal(loaded.score_users(ALL_USERS), model.score_users(ALL_USERS))
        cand = np.tile(np.arange(-1, 6), (len(ALL_USERS), 1))
        np.testing.assert_array_equal(loaded.score(ALL_USERS, cand), model.score(ALL_USERS, cand))
        for a, b in zip(
            loaded.recommend(WARM, 5, exclude=DATA.train),
            model.recommend(WARM, 5, exclude=DATA.train),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
        # the same fitted model is the same bytes (no wall-clock time in the archive)
        again = B.save_model(loaded, tmp_path / "again.npz")
        assert again.read_bytes() == path.read_bytes()

    def test_agrees_with_implicit(self, model):
        ref = self.reference(DATA.train)
        if ref is None:
            pytest.skip("no implicit counterpart")
        n = 5
        ref_ids, ref_sc = ref.recommend(
            WARM, DATA.train[WARM], N=n, filter_already_liked_items=True
        )
        items, scores = model.recommend(WARM, n, exclude=DATA.train)
        valid = ref_ids >= 0
        np.testing.assert_allclose(scores[valid], ref_sc[valid], rtol=1e-5, atol=1e-6)
        # implicit's kNN scorer pads short lists with already-liked items scored 0: skip them
        liked = DATA.train[WARM].toarray() > 0
        valid &= ~np.take_along_axis(liked, np.maximum(ref_ids, 0), axis=1)
        # implicit's items score the same under our model (they agree up to ties) ...
        full = model.score_users(WARM)
        gathered = np.take_along_axis(full, np.maximum(ref_ids, 0), axis=1)
        np.testing.assert_allclose(gathered[valid], ref_sc[valid], rtol=1e-5, atol=1e-6)
        # ... and where a score is unique in its row, the item is the same
        close = np.abs(full[:, None, :] - ref_sc[:, :, None].astype(np.float32)) <= 1e-5 * (
            1 + np.abs(ref_sc[:, :, None])
        )
        unique = (close.sum(axis=2) == 1) & valid
        np.testing.assert_array_equal(items[unique], ref_ids[unique])

    # --- progress, cold users, unseen items ----------------------------------------------

    def test_progress_callback(self):
        calls: list[tuple[float, str]] = []
        self.make(seed=0).fit(DATA.train, progress=lambda f, m: calls.append((f, m)))
        fractions = np.array([f for f, _ in calls])
        assert len(calls) >= 2
        assert fractions[0] == 0.0 and fractions[-1] == 1.0
        assert ((fractions >= 0) & (fractions <= 1)).all()
        assert (np.diff(fractions) >= 0).all()
        assert all(isinstance(m, str) and m for _, m in calls)
        iterations = self.params.get("iterations", DEFAULT_PARAMS[self.name].get("iterations"))
        if iterations:
            assert len(calls) == iterations + 1  # start + one per iteration

    def test_cold_user_and_unseen_item(self, model):
        items, scores = model.recommend(np.array([COLD_USER]), 5, exclude=DATA.train)
        assert (items >= 0).all() and np.isfinite(scores).all()
        s = model.score(np.array([0, COLD_USER]), np.array([[UNSEEN_ITEM], [UNSEEN_ITEM]]))
        assert np.isfinite(s).all()

    def test_factors(self, model):
        if model.item_factors is None:
            assert model.user_factors is None
            return
        u, v = model.user_factors, model.item_factors
        assert u.dtype == v.dtype == np.float32
        assert u.shape[0] == DATA.train.shape[0] and v.shape[0] == DATA.train.shape[1]
        assert u.shape[1] == v.shape[1]
        np.testing.assert_allclose(model.score_users(ALL_USERS), u @ v.T, rtol=1e-6)

    # --- bad inputs -------------------------------------------------------------------------

    def test_unfitted_raises(self):
        with pytest.raises(AnalysisError, match="not fitted yet"):
            self.make().recommend(np.array([0]), 3)
        with pytest.raises(AnalysisError, match="not fitted yet"):
            self.make().score_users(np.array([0]))

    @pytest.mark.parametrize(
        "train, message",
        [
            (sp.csr_matrix((4, 3), dtype=np.float32), "has no interactions"),
            (sp.csr_matrix(np.zeros((0, 3), dtype=np.float32)), "has no interactions"),
            (np.ones((3, 3)), "must be a 2-D scipy.sparse"),
            (sp.csr_matrix(np.array([[1.0, np.nan], [0.0, 1.0]])), "1 NaN or infinite"),
        ],
    )
    def test_bad_train(self, train, message):
        with pytest.raises(AnalysisError, match=message):
            self.make().fit(train)

    def test_bad_queries(self, model):
        n_users, n_items = DATA.train.shape
        for users in (np.array([n_users]), np.array([-1]), np.array([0.5]), np.zeros((2, 2), int)):
            with pytest.raises(AnalysisError, match=r"user_idx must be a 1-D array"):
                model.recommend(users, 3)
        for n in (0, -2, 2.5, True):
            with pytest.raises(AnalysisError, match=r"n \(the list length\)"):
                model.recommend(np.array([0]), n)
        for ex in (sp.csr_matrix((n_users, n_items + 1)), sp.csr_matrix((2, n_items)), "x"):
            with pytest.raises(AnalysisError, match="exclude must be"):
                model.recommend(np.array([5]), 3, exclude=ex)
        for cand in (np.array([1, 2]), np.array([[n_items]]), np.array([[-2]]), np.ones((2, 1))):
            with pytest.raises(AnalysisError, match="item_idx must be"):
                model.score(np.array([0]), cand)


def fit_implicit(model_class, train, **params):
    """implicit's own model, fitted with seed 0 and no progress bar: the reference."""
    ref = model_class(random_state=0, **params)
    ref.fit(train, show_progress=False)
    return ref


class TestALS(RecommenderContract):
    name = "als"
    params = {"factors": 8, "iterations": 10}

    def reference(self, train):
        with threadpool_limits(1, "blas"):
            return fit_implicit(implicit.cpu.als.AlternatingLeastSquares, train, factors=8,
                                regularization=1.0, alpha=2.0, iterations=10)


class TestBPR(RecommenderContract):
    name = "bpr"
    params = {"factors": 8, "num_threads": 1}  # Hogwild SGD is reproducible on one thread

    def reference(self, train):
        return fit_implicit(implicit.cpu.bpr.BayesianPersonalizedRanking, train, factors=8,
                            learning_rate=0.05, regularization=0.01, iterations=100,
                            num_threads=1)


class TestLMF(RecommenderContract):
    name = "lmf"
    params = {"factors": 8, "num_threads": 1}
    min_block_precision = 0.8

    def reference(self, train):
        import implicit.cpu.lmf

        return fit_implicit(implicit.cpu.lmf.LogisticMatrixFactorization, train, factors=8,
                            learning_rate=1.0, regularization=0.6, iterations=30, neg_prop=30,
                            num_threads=1)


_QUIET = pytest.mark.filterwarnings("ignore::implicit.utils.ParameterWarning")


@_QUIET
class TestItemKNNCosine(RecommenderContract):
    name = "itemknn"
    params = {"K": 10}

    def reference(self, train):
        ref = CosineRecommender(K=10)
        ref.fit(train, show_progress=False)
        return ref


@_QUIET
class TestItemKNNBM25(RecommenderContract):
    name = "itemknn"
    params = {"similarity": "bm25", "K": 10, "K1": 1.5, "B": 0.5}

    def reference(self, train):
        ref = BM25Recommender(K=10, K1=1.5, B=0.5)
        ref.fit(train, show_progress=False)
        return ref


class TestMostPopular(RecommenderContract):
    name = "pop"
    min_block_precision = 0.0  # one list for everyone: no personalisation to check

    def test_by_hand(self):
        # counts: item0 2 users, item1 3, item2 1, item3 1, item4 0 (stored zero ignored)
        train = sp.csr_matrix(
            (
                np.array([1, 5, 1, 1, 1, 1, 2, 0], dtype=np.float32),
                (np.array([0, 0, 1, 1, 2, 2, 3, 3]), np.array([0, 1, 1, 2, 1, 3, 0, 4])),
            ),
            shape=(5, 5),  # user 4 is cold
        )
        model = make_recommender("pop").fit(train)
        np.testing.assert_array_equal(model.item_counts, [2, 3, 1, 1, 0])
        items, scores = model.recommend(np.arange(5), 5)
        np.testing.assert_array_equal(items, np.tile([1, 0, 2, 3, 4], (5, 1)))
        np.testing.assert_array_equal(scores, np.tile([3, 2, 1, 1, 0], (5, 1)))
        items, scores = model.recommend(np.arange(5), 5, exclude=train)
        np.testing.assert_array_equal(
            items,
            [
                [2, 3, 4, -1, -1],
                [0, 3, 4, -1, -1],
                [0, 2, 4, -1, -1],
                [1, 2, 3, -1, -1],
                [1, 0, 2, 3, 4],
            ],
        )  # user 3's stored zero on item 4 is still excluded (it is a stored entry)
        inf = -np.inf
        np.testing.assert_array_equal(
            scores,
            [
                [1, 1, 0, inf, inf],
                [2, 1, 0, inf, inf],
                [2, 1, 0, inf, inf],
                [3, 1, 1, inf, inf],
                [3, 2, 1, 1, 0],
            ],
        )
        np.testing.assert_array_equal(
            model.score(np.array([0, 4]), np.array([[4, 1], [-1, 0]])), [[0, 3], [inf, 2]]
        )

    def test_equal_counts_tie_by_index(self):
        train = sp.csr_matrix(np.ones((2, 6), dtype=np.float32))
        items, _ = make_recommender("pop").fit(train).recommend(np.array([0]), 4)
        np.testing.assert_array_equal(items, [[0, 1, 2, 3]])


# --- factory, parameters, device choice ------------------------------------------------------


def _no_fit(self, *args, **kwargs):
    raise AssertionError(f"{self.name} was refitted")


def test_sgd_models_default_to_one_thread_and_fit_reproducibly():
    # Hogwild SGD on several threads changes the factors from fit to fit: BPR and LMF default
    # to one thread; ALS (one independent solve per row) and kNN keep every core
    assert DEFAULT_PARAMS["bpr"]["num_threads"] == 1
    assert DEFAULT_PARAMS["lmf"]["num_threads"] == 1
    assert DEFAULT_PARAMS["als"]["num_threads"] == 0
    assert DEFAULT_PARAMS["itemknn"]["num_threads"] == 0
    for name in ("bpr", "lmf"):
        first = make_recommender(name, seed=3).fit(DATA.train).score_users(ALL_USERS)
        again = make_recommender(name, seed=3).fit(DATA.train).score_users(ALL_USERS)
        np.testing.assert_array_equal(first, again)


def test_load_model_refuses_a_file_that_is_not_a_stored_model(tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_text("not a zip")
    with pytest.raises(AnalysisError, match="is not a readable stored baseline"):
        B.load_model(bad)
    np.savez(bad, meta=np.array('{"format": 99}'))
    with pytest.raises(AnalysisError, match="format 99"):
        B.load_model(bad)
    with pytest.raises(AnalysisError, match="is not a readable stored baseline"):
        B.load_model(tmp_path / "missing.npz")


def test_save_model_refuses_an_unfitted_model(tmp_path):
    with pytest.raises(AnalysisError, match="not fitted yet"):
        B.save_model(make_recommender("pop"), tmp_path / "model.npz")


def test_default_params_and_describe():
    assert set(DEFAULT_PARAMS) == {"als", "bpr", "lmf", "itemknn", "pop", "sasrec"}
    assert B.MODEL_NAMES == ("als", "bpr", "lmf", "itemknn", "pop", "sasrec")
    assert isinstance(make_recommender("SASRec"), B.SASRec)
    assert make_recommender("sasrec").uses_sequences
    assert not any(make_recommender(n).uses_sequences for n in B.MODEL_NAMES[:-1])
    assert DEFAULT_PARAMS["als"] == {
        "factors": 32,
        "regularization": 1.0,
        "alpha": 2.0,
        "iterations": 15,
        "num_threads": 0,
    }
    assert DEFAULT_PARAMS["bpr"]["learning_rate"] == 0.05
    assert DEFAULT_PARAMS["bpr"]["iterations"] == 100
    assert DEFAULT_PARAMS["itemknn"]["K"] == 100
    for name, defaults in DEFAULT_PARAMS.items():
        infos = describe_params(name)
        assert [i.name for i in infos] == list(defaults)
        assert all(i.default == defaults[i.name] and i.help for i in infos)
        json.dumps(defaults)
    knn = {i.name: i for i in describe_params("ITEMKNN")}
    assert knn["similarity"].choices == ("cosine", "bm25")
    assert describe_params("pop") == []


def test_unknown_model_name():
    msg = B.UNKNOWN_MODEL.format(name="svd", valid="als, bpr, lmf, itemknn, pop, sasrec")
    with pytest.raises(AnalysisError) as err:
        make_recommender("svd")
    assert str(err.value) == msg
    with pytest.raises(AnalysisError, match="Unknown model"):
        describe_params("svd")


def test_unknown_param_lists_valid_ones():
    with pytest.raises(AnalysisError) as err:
        make_recommender("als", factor=8)
    assert str(err.value) == B.UNKNOWN_PARAM.format(
        param="factor",
        name="als",
        valid="factors, regularization, alpha, iterations, num_threads",
    )
    with pytest.raises(AnalysisError, match=r"valid parameters are \(none\)"):
        make_recommender("pop", K=3)


@pytest.mark.parametrize(
    "name, params, param",
    [
        ("als", {"factors": 0}, "factors"),
        ("als", {"factors": 2.5}, "factors"),
        ("als", {"factors": "abc"}, "factors"),
        ("als", {"alpha": 0}, "alpha"),
        ("als", {"iterations": True}, "iterations"),
        ("bpr", {"learning_rate": -1}, "learning_rate"),
        ("bpr", {"verify_negative_samples": "maybe"}, "verify_negative_samples"),
        ("lmf", {"regularization": float("nan")}, "regularization"),
        ("itemknn", {"similarity": "jaccard"}, "similarity"),
        ("itemknn", {"B": 2}, "B"),
        ("itemknn", {"num_threads": -1}, "num_threads"),
        ("sasrec", {"dropout": 0.95}, "dropout"),
        ("sasrec", {"max_len": 1}, "max_len"),
        ("sasrec", {"heads": 3}, "heads"),  # must divide factors (64)
    ],
)
def test_bad_param_values(name, params, param):
    with pytest.raises(AnalysisError, match=f"Parameter '{param}' of model '{name}' must be"):
        make_recommender(name, **params)


def test_param_coercion_from_strings():
    model = make_recommender(
        "BPR", factors="16", learning_rate="0.1", verify_negative_samples="false"
    )
    assert model.name == "bpr"
    assert model.params["factors"] == 16 and isinstance(model.params["factors"], int)
    assert model.params["learning_rate"] == 0.1
    assert model.params["verify_negative_samples"] is False
    assert make_recommender("itemknn", similarity="BM25", K=np.int64(5)).params["K"] == 5
    with pytest.raises(AnalysisError, match="seed must be an integer"):
        make_recommender("als", seed="x")


def test_use_gpu_true_without_cuda(monkeypatch):
    monkeypatch.setattr(implicit.gpu, "HAS_CUDA", False)
    for name in ("als", "bpr", "lmf", "itemknn", "pop"):
        with pytest.raises(AnalysisError) as err:
            make_recommender(name, use_gpu=True)
        assert str(err.value) == B.NO_CUDA.format(name=name)
    with pytest.raises(AnalysisError, match="use_gpu must be 'auto', True or False"):
        make_recommender("als", use_gpu="yes")
    model = make_recommender("als", use_gpu="auto", factors=4, iterations=2).fit(DATA.train)
    assert model.device == "cpu"


class _FakeGpuModel:
    """Stands in for implicit's CUDA classes: records arguments, fits on the CPU."""

    created: list[dict] = []

    def __init__(self, cpu_class, **kwargs):
        _FakeGpuModel.created.append(kwargs)
        self._cpu = cpu_class(**kwargs)
        self.user_factors = self.item_factors = "gpu matrix"  # must not leak out

    def fit(self, user_items, show_progress=True, callback=None):
        self._cpu.fit(user_items, show_progress=show_progress, callback=callback)

    def to_cpu(self):
        return self._cpu


@pytest.mark.parametrize("use_gpu", ["auto", True])
def test_gpu_branch_with_fake_cuda(monkeypatch, use_gpu):
    monkeypatch.setattr(implicit.gpu, "HAS_CUDA", True)
    _FakeGpuModel.created.clear()
    monkeypatch.setattr(
        implicit.gpu.als,
        "AlternatingLeastSquares",
        lambda **kw: _FakeGpuModel(implicit.cpu.als.AlternatingLeastSquares, **kw),
    )
    monkeypatch.setattr(
        implicit.gpu.bpr,
        "BayesianPersonalizedRanking",
        lambda **kw: _FakeGpuModel(implicit.cpu.bpr.BayesianPersonalizedRanking, **kw),
    )
    als = make_recommender("als", use_gpu=use_gpu, factors=4, iterations=3).fit(DATA.train)
    bpr = make_recommender("bpr", use_gpu=use_gpu, factors=4, iterations=3).fit(DATA.train)
    assert als.device == bpr.device == "gpu"
    assert _FakeGpuModel.created[0] == {
        "factors": 4,
        "regularization": 1.0,
        "alpha": 2.0,
        "iterations": 3,
        "random_state": 0,
    }
    assert "num_threads" not in _FakeGpuModel.created[1]
    assert isinstance(als.item_factors, np.ndarray) and als.item_factors.dtype == np.float32
    cpu = make_recommender("als", use_gpu=False, factors=4, iterations=3).fit(DATA.train)
    assert cpu.device == "cpu"
    np.testing.assert_array_equal(als.score_users(WARM), cpu.score_users(WARM))
    # models without a GPU version stay on the CPU
    for name in ("lmf", "itemknn", "pop"):
        extra = {"iterations": 1} if name == "lmf" else {}
        assert make_recommender(name, use_gpu=use_gpu, **extra).fit(DATA.train).device == "cpu"
    assert len(_FakeGpuModel.created) == 2


def test_diverging_fit_is_an_analysis_error(monkeypatch):
    from implicit.recommender_base import ModelFitError

    class Diverging:
        def fit(self, user_items, show_progress=True, callback=None):
            raise ModelFitError("NaN encountered in factors")

    monkeypatch.setattr(B.BPR, "_build", lambda self, gpu: Diverging())
    with pytest.raises(AnalysisError) as err:
        make_recommender("bpr", use_gpu=False).fit(DATA.train)
    assert str(err.value) == B.FIT_FAILED.format(name="bpr", error="NaN encountered in factors")
    assert isinstance(err.value.__cause__, ModelFitError)


# --- real data (optional) -----------------------------------------------------------------


def _ml100k() -> Path:
    root = os.environ.get("WEAKSPOT_DATASETS")
    if not root or not (Path(root) / "ml-100k" / "u.data").exists():
        pytest.skip("set WEAKSPOT_DATASETS to a folder containing ml-100k/")
    return Path(root) / "ml-100k"


def test_ml100k_als_matches_implicit():
    raw = np.loadtxt(_ml100k() / "u.data", dtype=np.int64)
    users, items = raw[:, 0] - 1, raw[:, 1] - 1
    train = sp.csr_matrix(
        ((raw[:, 2] >= 4).astype(np.float32) + 1, (users, items)),
        shape=(users.max() + 1, items.max() + 1),
    )
    model = make_recommender("als", factors=16, iterations=5, use_gpu=False).fit(train)
    with threadpool_limits(1, "blas"):
        ref = implicit.cpu.als.AlternatingLeastSquares(
            factors=16, regularization=1.0, alpha=2.0, iterations=5, random_state=0
        )
        ref.fit(train, show_progress=False)
    probe = np.arange(0, train.shape[0], 7)
    ref_ids, ref_sc = ref.recommend(probe, train[probe], N=10)
    ids, sc = model.recommend(probe, 10, exclude=train)
    np.testing.assert_allclose(sc, ref_sc, rtol=1e-4, atol=1e-5)
    assert (ids == ref_ids).mean() > 0.99  # identical up to near-ties


@pytest.mark.parametrize("name", ["als", "bpr", "lmf"])
def test_an_iterative_fit_stops_when_asked_and_keeps_nothing(name):
    """``should_stop`` is asked after every iteration; True after the second stops the fit
    there with its one line, and the model holds no factors; a hook that never says stop
    changes nothing (the same factors as without it)."""
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) >= 2

    model = make_recommender(name, seed=0, iterations=6)
    with pytest.raises(AnalysisError) as err:
        model.fit(DATA.train, should_stop=stop)
    assert str(err.value) == (f"The {name} fit was cancelled after iteration 2/6: nothing "
                              "was kept.")
    assert len(asked) == 2 and model.item_factors is None and model._should_stop is None
    plain = make_recommender(name, seed=0, iterations=6).fit(DATA.train)
    hooked = make_recommender(name, seed=0, iterations=6).fit(DATA.train,
                                                              should_stop=lambda: False)
    np.testing.assert_array_equal(plain.item_factors, hooked.item_factors)
