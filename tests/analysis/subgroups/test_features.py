"""Tests of analysis/subgroups/_features.py: user features on a hand-computed tiny split, and on
MovieLens 100K when WEAKSPOT_DATASETS holds it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.dataset import Dataset
from analysis.errors import AnalysisError
from analysis.split import Split
from analysis.subgroups import _features as F
from analysis.subgroups import compute_user_features

# ---------------------------------------------------------------- tiny split fixture
# train: u0 {0,1,2}, u1 {0,1}, u2 {0}, u3 {0,1,2,3}, u4 {} ; validation/test items extra.
_TRAIN = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (3, 0), (3, 1), (3, 2), (3, 3)]
_VAL = [(0, 3), (1, 2), (4, 0)]
_TEST = [(1, 3), (2, 1), (4, 3)]


def _split(users: pd.DataFrame | None = None) -> Split:
    pairs = _TRAIN + _VAL + _TEST
    fold = np.array([0] * len(_TRAIN) + [1] * len(_VAL) + [2] * len(_TEST), dtype=np.int8)
    u = np.array([p[0] for p in pairs], dtype=np.int32)
    i = np.array([p[1] for p in pairs], dtype=np.int32)
    ds = Dataset(
        name="tiny",
        user_idx=u,
        item_idx=i,
        value=None,
        timestamp=None,
        gain=np.ones(len(u), dtype=np.float32),
        user_ids=np.array(["a", "b", "c", "d", "e"], dtype=object),
        item_ids=np.array([10, 11, 12, 13]),
        users=users,
        kind="implicit",
    )
    return Split(dataset=ds, fold=fold, strategy="random", seed=0, params={})


def _users() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d", "e"],
            "age": [20.0, 30.0, np.nan, 40.0, 50.0],
            "gender": ["M", "F", None, "F", "M"],
            "activity": ["x", "y", "x", "y", "x"],  # collides with a computed column
        }
    )


class TestUserFeatures:
    def test_counts_and_inactive(self):
        t = compute_user_features(_split()).table
        assert list(t.index) == [0, 1, 2, 3, 4]
        assert t.index.name == "user_idx"
        np.testing.assert_array_equal(t["n_train"], [3, 2, 1, 4, 0])
        # mean n_train = 2: strictly below
        np.testing.assert_array_equal(t["inactive"], [False, False, True, False, True])
        # 20th percentile of [0,1,2,3,4] (linear) = 0.8
        np.testing.assert_array_equal(t["inactive_pct"], [False, False, False, False, True])

    def test_inactive_percentile_param(self):
        t = compute_user_features(_split(), inactive_percentile=40).table  # P40 = 1.6
        np.testing.assert_array_equal(t["inactive_pct"], [False, False, True, False, True])

    def test_mainstreamness_by_hand(self):
        # popularity: item0 4, item1 3, item2 2, item3 1 -> ECDF pct 1, .75, .5, .25
        t = compute_user_features(_split()).table
        expected = [(1 + 0.75 + 0.5) / 3, (1 + 0.75) / 2, 1.0, (1 + 0.75 + 0.5 + 0.25) / 4]
        np.testing.assert_allclose(t["mainstreamness"].to_numpy()[:4], expected)
        assert np.isnan(t["mainstreamness"].iloc[4])

    def test_popularity_percentile_ties_and_unseen(self):
        pct = F._item_popularity_percentile(np.array([0, 0, 1, 1, 2]), n_items=4)
        # pops [2, 2, 1, 0]: seen items 3; item 3 unseen -> 0
        np.testing.assert_allclose(pct, [1.0, 1.0, 1 / 3, 0.0])

    @pytest.mark.parametrize(
        ("column", "categories", "values"),
        [
            (
                "activity",
                ["Q1 (0-1)", "Q2 (2)", "Q3 (3)", "Q4 (4)"],
                ["Q3 (3)", "Q2 (2)", "Q1 (0-1)", "Q4 (4)", "Q1 (0-1)"],
            ),
            (
                "mainstream",
                ["niche", "mid", "mainstream", "unknown"],
                ["niche", "mid", "mainstream", "niche", "unknown"],
            ),
        ],
    )
    def test_ordered_bins(self, column, categories, values):
        col = compute_user_features(_split()).table[column]
        assert col.cat.ordered
        assert list(col.cat.categories) == categories
        assert list(col.astype(str)) == values

    def test_activity_ties_merge_bins(self):
        t = compute_user_features(_split(), activity_bins=2).table
        assert list(t["activity"].cat.categories) == ["Q1 (0-2)", "Q2 (3-4)"]

    def test_attributes(self):
        feats = compute_user_features(_split(_users()))
        t = feats.table
        np.testing.assert_array_equal(t["age"].to_numpy()[[0, 1, 3, 4]], [20, 30, 40, 50])
        assert list(t["age_bin"].astype(str)) == [
            "Q1 (20-30)",
            "Q1 (20-30)",
            "unknown",
            "Q2 (40)",
            "Q3 (50)",
        ]
        assert isinstance(t["gender"].dtype, pd.CategoricalDtype)
        assert list(t["gender"].astype(str)) == ["M", "F", "unknown", "F", "M"]
        assert "user_id" not in t.columns
        # the computed "activity" wins; the attribute is renamed
        assert list(t["attr_activity"].astype(str)) == ["x", "y", "x", "y", "x"]
        assert feats.dimensions == {
            "activity": "activity",
            "inactive": "inactive",
            "inactive_pct": "inactive",
            "mainstream": "mainstream",
            "age_bin": "numeric_binned",
            "gender": "attribute",
            "attr_activity": "attribute",
        }
        for dim in feats.dimensions:
            assert dim in t.columns

    def test_bad_inputs(self):
        with pytest.raises(AnalysisError, match="activity_bins must be an integer"):
            compute_user_features(_split(), activity_bins=0)
        with pytest.raises(AnalysisError, match="inactive_percentile must lie"):
            compute_user_features(_split(), inactive_percentile=120)
        with pytest.raises(AnalysisError, match="one row per user_idx"):
            compute_user_features(_split(_users().iloc[:3]))


# ---------------------------------------------------------------- real data (optional)
def test_features_on_movielens_100k(ml100k_dir):
    d = ml100k_dir
    data = pd.read_csv(d / "u.data", sep="\t", names=["u", "i", "r", "t"])
    users = pd.read_csv(
        d / "u.user", sep="|", names=["user_id", "age", "gender", "occupation", "zip_code"]
    )
    uids, u = np.unique(data["u"].to_numpy(), return_inverse=True)
    iids, i = np.unique(data["i"].to_numpy(), return_inverse=True)
    users = users.set_index("user_id").loc[uids].reset_index()
    fold = (np.random.default_rng(0).random(len(data)) < 0.2).astype(np.int8) * 2
    ds = Dataset(
        name="ml-100k",
        user_idx=u.astype(np.int32),
        item_idx=i.astype(np.int32),
        value=data["r"].to_numpy(np.float32),
        timestamp=None,
        gain=np.ones(len(data), np.float32),
        user_ids=uids,
        item_ids=iids,
        users=users,
    )
    split = Split(dataset=ds, fold=fold, strategy="random", seed=0, params={})
    feats = compute_user_features(split)
    t = feats.table
    assert len(t) == 943
    np.testing.assert_array_equal(t["n_train"], np.bincount(u[fold == 0], minlength=943))
    assert t["mainstreamness"].between(0, 1).all()
    assert t["activity"].cat.categories.size == 4
    assert {"age_bin", "gender", "occupation", "zip_code"} <= set(feats.dimensions)
    assert t["inactive"].mean() > 0.5  # long tail: most users are below the mean
