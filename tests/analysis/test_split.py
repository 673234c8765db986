"""Tests for analysis/split.py: hand-made tiny datasets with exact fold assignments."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import split as S
from analysis.dataset import Dataset, compute_gain
from analysis.errors import AnalysisError
from analysis.split import (
    TEST,
    TRAIN,
    VALIDATION,
    make_split,
    split_global,
    split_random,
    split_temporal,
)

T, V, R = TEST, VALIDATION, TRAIN


def dataset_from_arrays(
    user_idx, item_idx, timestamp=None, rating=None, n_users=None, n_items=None, name="toy"
) -> Dataset:
    """A Dataset built directly from arrays (explicit ratings, threshold 4)."""
    u = np.asarray(user_idx, dtype=np.int32)
    i = np.asarray(item_idx, dtype=np.int32)
    n_users = int(u.max()) + 1 if n_users is None else n_users
    n_items = int(i.max()) + 1 if n_items is None else n_items
    r = np.full(len(u), 5.0, np.float32) if rating is None else np.asarray(rating, np.float32)
    return Dataset(
        name=name, user_idx=u, item_idx=i, value=r,
        timestamp=None if timestamp is None else np.asarray(timestamp, dtype=np.int64),
        gain=compute_gain(r, "explicit", 4.0),
        user_ids=np.arange(100, 100 + n_users, dtype=np.int64),
        item_ids=np.arange(500, 500 + n_items, dtype=np.int64),
    )


def random_dataset(seed: int, n_users: int = 60, n_items: int = 40) -> Dataset:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 25, n_users)
    u = np.repeat(np.arange(n_users), counts)
    i = np.concatenate([rng.permutation(n_items)[:c] for c in counts])  # test data only
    ts = rng.integers(0, 50, len(u))  # many ties
    r = rng.integers(1, 6, len(u))
    return dataset_from_arrays(u, i, ts, r, n_users=n_users, n_items=n_items)


# ---- temporal --------------------------------------------------------------------------------

def _temporal_toy() -> tuple[Dataset, np.ndarray]:
    # rows deliberately not sorted by user or time
    rows = [  # (user, item, ts, expected fold for n_test=2, n_validation=2, min_train=1)
        (0, 3, 40, V), (0, 0, 10, R), (1, 2, 7, T), (0, 6, 70, T), (2, 4, 99, R),
        (0, 1, 20, R), (1, 0, 5, R), (0, 5, 60, T), (0, 4, 50, V), (0, 2, 30, R),
        (1, 1, 6, T),
    ]
    u, i, ts, exp = map(np.array, zip(*rows))
    return dataset_from_arrays(u, i, ts, n_users=4), exp


def test_temporal_exact_folds_short_users_and_cold_user():
    ds, expected = _temporal_toy()
    sp = split_temporal(ds, n_validation=2, n_test=2, min_train=1)
    np.testing.assert_array_equal(sp.fold, expected)
    assert sp.fold.dtype == np.int8
    assert sp.strategy == "temporal"
    assert sp.params == {"n_validation": 2, "n_test": 2, "min_train": 1}
    # user 1 (3 rows) keeps 1 train row, test is filled before validation; user 3 has no rows
    np.testing.assert_array_equal(sp.n_train, [3, 1, 1, 0])


def test_temporal_min_train_larger_holds_out_less():
    ds, _ = _temporal_toy()
    sp = split_temporal(ds, n_validation=2, n_test=2, min_train=4)
    # user 0 has 7 rows -> room 3: test 2 (ts 70, 60), validation 1 (ts 50); others train only
    got = {(int(u), int(t)): int(f) for u, t, f in zip(ds.user_idx, ds.timestamp, sp.fold)}
    assert got[(0, 70)] == T and got[(0, 60)] == T and got[(0, 50)] == V
    assert got[(0, 40)] == R
    assert all(f == R for (u, _), f in got.items() if u != 0)


def test_temporal_zero_holdout_is_all_train():
    ds, _ = _temporal_toy()
    sp = split_temporal(ds, n_validation=0, n_test=0)
    assert (sp.fold == TRAIN).all()


def test_temporal_ties_broken_by_seeded_key():
    # user 0: ts 1, 2, 3, 4, 4 -> with n_test=1 exactly one of the two ts=4 rows is test
    ds = dataset_from_arrays([0] * 5, [0, 1, 2, 3, 4], [1, 2, 3, 4, 4])
    chosen = set()
    for seed in range(20):
        sp = split_temporal(ds, n_validation=1, n_test=1, seed=seed)
        np.testing.assert_array_equal(sp.fold[:3], [R, R, R])
        assert sorted(sp.fold[3:].tolist()) == [V, T]
        np.testing.assert_array_equal(
            sp.fold, split_temporal(ds, n_validation=1, n_test=1, seed=seed).fold
        )
        chosen.add(int(np.argmax(sp.fold == T)))
        assert sp.seed == seed
    assert chosen == {3, 4}  # both tie orders occur across seeds


def test_temporal_no_timestamps_error():
    ds = dataset_from_arrays([0, 0], [0, 1], None, name="plays")
    with pytest.raises(AnalysisError) as err:
        split_temporal(ds)
    assert err.value.message == S.NO_TIMESTAMPS.format(name="plays", strategy="temporal")
    assert str(err.value) == (
        "Dataset 'plays' has no timestamp column, so a temporal split is impossible. Choose the "
        "random Split on the Baseline page, or ingest the data again on the Data page with its "
        "Timestamp column picked."
    )
    assert err.value.render("cli") == (
        "Dataset 'plays' has no timestamp column, so a temporal split is impossible. Use --split "
        "random, or ingest the data again with --timestamp-col NAME."
    )


@pytest.mark.parametrize("kw", [{"n_test": -1}, {"n_validation": -2}, {"min_train": -1},
                                {"n_test": 1.5}, {"n_test": True}])
def test_temporal_bad_counts(kw):
    ds, _ = _temporal_toy()
    with pytest.raises(AnalysisError, match="must be a whole number >= 0"):
        split_temporal(ds, **kw)


# ---- random ----------------------------------------------------------------------------------

def _sizes_dataset() -> Dataset:
    counts = [10, 20, 5, 2, 1, 15, 0, 4]
    u = np.repeat(np.arange(len(counts)), counts)
    i = np.concatenate([np.arange(c) for c in counts])
    return dataset_from_arrays(u, i, None, n_users=len(counts), n_items=20)


def _fold_counts(sp) -> np.ndarray:
    ds = sp.dataset
    return np.stack([np.bincount(ds.user_idx[sp.fold == f], minlength=ds.n_users)
                     for f in (TRAIN, VALIDATION, TEST)], axis=1)


def test_random_exact_counts_per_user():
    sp = split_random(_sizes_dataset(), validation_fraction=0.1, test_fraction=0.1, seed=1)
    # rows: (train, validation, test); round half up: 0.1*5 -> 1, 0.1*15 -> 2, 0.1*4 -> 0
    expected = [[8, 1, 1], [16, 2, 2], [3, 1, 1], [2, 0, 0], [1, 0, 0], [11, 2, 2],
                [0, 0, 0], [4, 0, 0]]
    np.testing.assert_array_equal(_fold_counts(sp), expected)
    assert sp.params == {"validation_fraction": 0.1, "test_fraction": 0.1, "min_train": 1}


def test_random_min_train_caps_test_first():
    # 0.4 each of 2 rows wants 1 test + 1 validation; min_train=1 leaves room for test only
    sp = split_random(_sizes_dataset(), validation_fraction=0.4, test_fraction=0.4,
                      min_train=1)
    c = _fold_counts(sp)
    np.testing.assert_array_equal(c[3], [1, 0, 1])  # 2 rows
    np.testing.assert_array_equal(c[4], [1, 0, 0])  # 1 row
    np.testing.assert_array_equal(c[0], [2, 4, 4])  # 10 rows
    sp0 = split_random(_sizes_dataset(), validation_fraction=0.4, test_fraction=0.4,
                       min_train=0)
    np.testing.assert_array_equal(_fold_counts(sp0)[3], [0, 1, 1])  # 2 rows, nothing kept
    np.testing.assert_array_equal(_fold_counts(sp0)[4], [1, 0, 0])  # floor(0.4 + 0.5) = 0


def test_random_deterministic_by_seed_and_varies_across_seeds():
    ds = _sizes_dataset()
    a = split_random(ds, seed=7).fold
    np.testing.assert_array_equal(a, split_random(ds, seed=7).fold)
    folds = {tuple(split_random(ds, seed=s).fold.tolist()) for s in range(10)}
    assert len(folds) > 5
    # which of user 1's 20 rows is held out varies and covers many positions
    held = np.zeros(20)
    for s in range(50):
        f = split_random(ds, seed=s).fold
        held += np.bincount(ds.item_idx[(ds.user_idx == 1) & (f != TRAIN)], minlength=20)
    assert (held > 0).sum() >= 18


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"test_fraction": 1.0}, "must be in [0, 1)"),
     ({"validation_fraction": -0.1}, "must be in [0, 1)"),
     ({"test_fraction": "a"}, "must be in [0, 1)"),
     ({"test_fraction": 0.5, "validation_fraction": 0.5}, "must sum to less than 1"),
     ({"min_train": -1}, "whole number >= 0")],
)
def test_random_bad_params(kw, message):
    with pytest.raises(AnalysisError) as err:
        split_random(_sizes_dataset(), **kw)
    assert message in str(err.value)


# ---- min_train guarantee on random data ----------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_train", [0, 1, 3])
def test_min_train_guarantee_every_user(seed, min_train):
    ds = random_dataset(seed)
    counts = np.bincount(ds.user_idx, minlength=ds.n_users)
    for sp in (
        split_temporal(ds, n_validation=3, n_test=4, min_train=min_train, seed=seed),
        split_random(ds, validation_fraction=0.3, test_fraction=0.4, min_train=min_train,
                     seed=seed),
    ):
        assert (sp.n_train >= np.minimum(counts, min_train)).all()
        assert sp.fold.shape == (ds.n_interactions,)
        assert sp.train.nnz + sp.validation_seen.nnz + (sp.fold == TEST).sum() == len(sp.fold)


def _temporal_reference(ds: Dataset, n_validation: int, n_test: int, min_train: int,
                        seed: int) -> np.ndarray:
    """Per-user loop: sort rows by (ts, position in the seeded permutation), count from end."""
    perm = np.random.default_rng(seed).permutation(ds.n_interactions)
    tie = np.argsort(perm)  # position of each row in the permutation
    expected = np.zeros(ds.n_interactions, dtype=np.int8)
    for u in range(ds.n_users):
        rows = np.nonzero(ds.user_idx == u)[0]
        rows = rows[np.lexsort((tie[rows], ds.timestamp[rows]))][::-1]
        room = max(len(rows) - min_train, 0)
        t = min(n_test, room)
        v = min(n_validation, room - t)
        expected[rows[:t]] = TEST
        expected[rows[t:t + v]] = VALIDATION
    return expected


def test_temporal_huge_time_span_uses_fallback_sort():
    # a span that does not fit the packed key must give the same rule (lexsort path)
    u = [0, 0, 0, 1, 1, 1, 1]
    ts = [-(2**62), 2**62, 2**62, 5, 5, 5, 7]
    ds = dataset_from_arrays(u, np.arange(7), ts)
    for seed in range(5):
        sp = split_temporal(ds, n_validation=1, n_test=1, seed=seed)
        np.testing.assert_array_equal(sp.fold, _temporal_reference(ds, 1, 1, 1, seed))
        assert sp.fold[0] == TRAIN and sp.fold[6] == TEST


def test_temporal_matches_reference_loop():
    ds = random_dataset(5)
    sp = split_temporal(ds, n_validation=2, n_test=3, min_train=2, seed=11)
    np.testing.assert_array_equal(sp.fold, _temporal_reference(ds, 2, 3, 2, 11))
    # held-out rows are never earlier than any train row of the same user (ties aside)
    for u in range(ds.n_users):
        m = ds.user_idx == u
        tr, ho = ds.timestamp[m & (sp.fold == TRAIN)], ds.timestamp[m & (sp.fold != TRAIN)]
        if len(tr) and len(ho):
            assert tr.max() <= ho.min()


# ---- global ----------------------------------------------------------------------------------

def test_global_explicit_times_and_cold_users():
    u = [0, 0, 0, 1, 1, 2, 2]
    ts = [10, 50, 90, 60, 95, 5, 80]
    ds = dataset_from_arrays(u, [0, 1, 2, 0, 1, 0, 1], ts)
    sp = split_global(ds, validation_time=50, test_time=90)
    np.testing.assert_array_equal(sp.fold, [R, V, T, V, T, R, V])
    assert sp.params["validation_time"] == 50 and sp.params["test_time"] == 90
    # user 1 has no training rows at all: a cold user keeps held-out rows
    np.testing.assert_array_equal(sp.n_train, [1, 0, 1])


def test_global_quantile_times_resolved():
    ts = np.arange(1, 11) * 100  # 100..1000
    ds = dataset_from_arrays(np.zeros(10, int), np.arange(10), ts)
    sp = split_global(ds)  # 0.8 / 0.9 quantiles, method="lower": 800 and 900
    assert sp.params["validation_time"] == 800 and sp.params["test_time"] == 900
    assert sp.params["time_source"] == {"validation_time": "quantile", "test_time": "quantile"}
    np.testing.assert_array_equal(np.bincount(sp.fold, minlength=3), [7, 1, 2])
    sp2 = split_global(ds, validation_quantile=0.5, test_time=1000)
    assert sp2.params["validation_time"] == 500 and sp2.params["test_time"] == 1000
    np.testing.assert_array_equal(np.bincount(sp2.fold, minlength=3), [4, 5, 1])
    assert isinstance(sp2.params["validation_time"], int)


def test_global_errors():
    ds = dataset_from_arrays([0, 0], [0, 1], [1, 2])
    with pytest.raises(AnalysisError) as err:
        split_global(ds, validation_time=5, test_time=3)
    assert str(err.value) == S.BAD_CUT_ORDER.format(validation_time=5, test_time=3)
    with pytest.raises(AnalysisError, match=r"must be in \[0, 1\]"):
        split_global(ds, test_quantile=1.5)
    nots = dataset_from_arrays([0, 0], [0, 1], None, name="clicks")
    with pytest.raises(AnalysisError) as err:
        split_global(nots)
    assert err.value.message == S.NO_TIMESTAMPS.format(name="clicks", strategy="global")
    assert "--split random" in err.value.render("cli") and "--" not in str(err.value)


# ---- make_split and the Split matrices -------------------------------------------------------

def test_make_split_dispatch_and_params():
    ds, expected = _temporal_toy()
    sp = make_split(ds, "temporal", seed=3, n_validation=2, n_test=2)
    np.testing.assert_array_equal(sp.fold, expected)
    assert sp.seed == 3
    r = make_split(ds, "random", seed=4, test_fraction=0.2)
    np.testing.assert_array_equal(r.fold, split_random(ds, test_fraction=0.2, seed=4).fold)
    g = make_split(ds, "global", validation_quantile=0.5)
    assert g.strategy == "global" and g.params["validation_quantile"] == 0.5


def test_make_split_errors():
    ds, _ = _temporal_toy()
    with pytest.raises(AnalysisError) as err:
        make_split(ds, "leave-one-out")  # type: ignore[arg-type]
    assert str(err.value) == S.UNKNOWN_STRATEGY.format(strategy="leave-one-out")
    with pytest.raises(AnalysisError, match="does not accept test_fraction"):
        make_split(ds, "temporal", test_fraction=0.1)


def test_split_matrices_relevant_only():
    # ratings 5, 2, 5, 4: the rating-2 test row is not in split.test but is held out of train
    ds = dataset_from_arrays([0, 0, 0, 0], [0, 1, 2, 3], [1, 2, 3, 4], [5, 2, 5, 4],
                             n_items=5)
    sp = split_temporal(ds, n_validation=1, n_test=2)
    np.testing.assert_array_equal(sp.fold, [R, V, T, T])
    assert sp.train.toarray().tolist() == [[1, 0, 0, 0, 0]]
    assert sp.validation.nnz == 0 and sp.validation_seen.toarray()[0, 1] == 1
    assert sp.test.toarray().tolist() == [[0, 0, 5, 4, 0]]


def test_empty_dataset():
    ds = dataset_from_arrays(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int),
                             n_users=2, n_items=3)
    for strategy in ("temporal", "random", "global"):
        sp = make_split(ds, strategy)
        assert sp.fold.shape == (0,) and sp.train.shape == (2, 3)
