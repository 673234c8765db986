"""Tests for analysis/ingest/synthetic.py: determinism, planted structure, files, and the ALS gap."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import dataset_from_frames
from analysis.ingest.synthetic import (
    AGE_BANDS,
    COUNTRIES,
    GENRES,
    SyntheticData,
    generate_synthetic,
    write_synthetic,
)


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return generate_synthetic(2000, 1000, seed=0)


def test_determinism_same_seed_identical_frames():
    a = generate_synthetic(400, 300, seed=5)
    b = generate_synthetic(400, 300, seed=5)
    for name in ("interactions", "users", "items"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    np.testing.assert_array_equal(a.niche_user_ids, b.niche_user_ids)
    assert a.params == b.params


def _frames_digest(data: SyntheticData) -> str:
    """SHA-256 over every column's name, dtype and values, the niche ids and the params."""
    h = hashlib.sha256()
    for name in ("interactions", "users", "items"):
        frame = getattr(data, name)
        h.update(name.encode())
        for col in frame.columns:
            values = frame[col].to_numpy()
            h.update(f"{col}:{frame[col].dtype}".encode())
            if values.dtype == object:
                h.update("\x1f".join(values.tolist()).encode())
            else:
                h.update(np.ascontiguousarray(values).tobytes())
    h.update(data.niche_user_ids.astype(np.int64).tobytes())
    h.update(json.dumps(data.params, sort_keys=True).encode())
    return h.hexdigest()


@pytest.mark.parametrize(
    ("n_users", "n_items", "seed", "kw", "digest"),
    [
        (300, 120, 0, {},
         "872f2252b322fcb6d27ca1322134d802adbc6f20edc90e3c588f9553038937cc"),
        (2000, 500, 7, {},
         "68d7bdf7fbe101d0194e895f72d4a6f686a2b79fe944a11cfef637228f48ccc8"),
        (1500, 60, 42,
         {"niche_share": 0.3, "zipf_exponent": 0.5, "n_genres": 5, "mean_interactions": 12.0},
         "36d1a4dfa77cfeeb28c7424f711b6e9a3e8d82a0645c7213205bfa7e1663a855"),
    ],
)
def test_frames_byte_identical_to_the_recorded_generator(n_users, n_items, seed, kw, digest):
    """The frames hashed before generate_synthetic was cut into named steps: any change to
    the order of the draws or to a formula changes the digest."""
    assert _frames_digest(generate_synthetic(n_users, n_items, seed=seed, **kw)) == digest


def test_different_seeds_differ():
    a = generate_synthetic(400, 300, seed=1)
    b = generate_synthetic(400, 300, seed=2)
    assert not a.interactions.equals(b.interactions)
    assert not a.items["title"].equals(b.items["title"])
    assert not np.array_equal(a.niche_user_ids, b.niche_user_ids)


def test_columns_and_dtypes(data):
    it, users, items = data.interactions, data.users, data.items
    assert list(it.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert [str(t) for t in it.dtypes] == ["int64", "int64", "float32", "int64"]
    assert list(users.columns) == ["user_id", "age_band", "gender", "country"]
    assert list(items.columns) == ["item_id", "title", "genres"]
    assert users["user_id"].dtype == np.int64 and items["item_id"].dtype == np.int64
    for col in ("age_band", "gender", "country"):
        assert pd.api.types.is_string_dtype(users[col])
    for col in ("title", "genres"):
        assert pd.api.types.is_string_dtype(items[col])
    np.testing.assert_array_equal(users["user_id"], np.arange(1, 2001))
    np.testing.assert_array_equal(items["item_id"], np.arange(1, 1001))
    assert set(users["age_band"]) <= set(AGE_BANDS) and set(users["country"]) <= set(COUNTRIES)
    shares = users["gender"].value_counts(normalize=True)
    assert set(shares.index) == {"F", "M", "X"} and shares["X"] < 0.1
    assert "is_niche" not in users.columns
    assert it["user_id"].between(1, 2000).all() and it["item_id"].between(1, 1000).all()


def test_no_duplicate_pairs_and_min_activity(data):
    it = data.interactions
    assert not it.duplicated(["user_id", "item_id"]).any()
    per_user = it.groupby("user_id").size()
    assert len(per_user) == 2000 and per_user.min() >= 3


def test_no_duplicates_when_items_are_scarce():
    d = generate_synthetic(200, 12, seed=3, mean_interactions=6.0)
    assert not d.interactions.duplicated(["user_id", "item_id"]).any()
    per_user = d.interactions.groupby("user_id").size()
    assert per_user.max() <= 12 and per_user.min() >= 3  # floor kept via uniform top-ups
    steep = generate_synthetic(300, 10, seed=4, zipf_exponent=3.0, mean_interactions=3.0)
    np.testing.assert_array_equal(steep.interactions.groupby("user_id").size(), 3)


def test_zipf_popularity(data):
    counts = data.interactions["item_id"].value_counts()
    top = counts.iloc[: len(data.items) // 100].sum() / counts.sum()
    assert top > 0.08  # top 1% of items hold > 8x their uniform share
    flatter = generate_synthetic(2000, 1000, seed=0, zipf_exponent=0.3)
    c2 = flatter.interactions["item_id"].value_counts()
    assert c2.iloc[:10].sum() / c2.sum() < top


def test_heavy_tailed_activity(data):
    per_user = data.interactions.groupby("user_id").size()
    assert per_user.max() / per_user.median() > 8
    assert (per_user <= per_user.mean()).mean() > 0.6  # most users are below the mean
    assert 15 <= per_user.mean() <= 21  # target mean 20, minus unresolvable duplicates


def test_niche_users_prefer_long_tail(data):
    it = data.interactions
    pop = it["item_id"].map(it["item_id"].value_counts())
    niche = it["user_id"].isin(data.niche_user_ids)
    assert pop[niche].mean() < 0.7 * pop[~niche].mean()
    assert len(data.niche_user_ids) == 200  # 10% of 2000
    assert np.all(np.diff(data.niche_user_ids) > 0)


def test_niche_skews_on_country_and_age_but_not_perfectly(data):
    u = data.users.assign(niche=data.users["user_id"].isin(data.niche_user_ids))
    br = u.groupby("country")["niche"].mean()
    assert br["BR"] > 2 * br.drop("BR").max()
    assert 0 < u.loc[u["niche"], "country"].eq("BR").mean() < 0.7
    young = u.groupby("age_band")["niche"].mean()
    assert young["18-24"] > young.drop("18-24").max()


def test_ratings_and_timestamps(data):
    it = data.interactions
    r = it["rating"].to_numpy()
    assert set(np.unique(r)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 0.45 <= (r >= 4).mean() <= 0.65
    ts = it["timestamp"]
    assert ts.min() >= 1_640_995_200 and ts.max() <= 1_640_995_200 + 730 * 86_400
    assert (ts.max() - ts.min()) > 600 * 86_400
    # sorted by user then timestamp
    assert it["user_id"].is_monotonic_increasing
    assert (it.groupby("user_id")["timestamp"].diff().dropna() >= 0).all()


def test_titles_unique_and_genres_valid(data):
    items = data.items
    assert items["title"].is_unique
    parts = items["genres"].str.split("|")
    assert parts.map(len).between(1, 3).all()
    assert {g for p in parts for g in p} <= set(GENRES[:16])
    assert parts.map(lambda p: len(set(p)) == len(p)).all()
    assert items["title"].str.match(r"^(The )?[A-Z][A-Za-z-]*( [A-Z][A-Za-z-]*)+( \d+)?$").all()


def test_params_recorded(data):
    p = data.params
    assert p["n_users"] == 2000 and p["seed"] == 0 and p["zipf_exponent"] == 1.0
    assert p["realised"]["n_interactions"] == len(data.interactions)
    json.dumps(p)


@pytest.mark.parametrize(
    "kw",
    [{"n_users": 0}, {"n_items": 5}, {"niche_share": 1.0}, {"niche_share": -0.1},
     {"zipf_exponent": -1}, {"mean_interactions": 2.0}, {"n_genres": 19}, {"n_genres": 1}],
)
def test_bad_params(kw):
    args = {"n_users": 50, "n_items": 20} | kw
    with pytest.raises(AnalysisError, match="Synthetic data: .* must be"):
        generate_synthetic(args.pop("n_users"), args.pop("n_items"), **args)


def test_write_round_trip(tmp_path, data):
    out = tmp_path / "demo"
    paths = write_synthetic(data, out)
    assert set(paths) == {"interactions", "users", "items", "planted", "params"}
    pd.testing.assert_frame_equal(pd.read_parquet(paths["interactions"]), data.interactions)
    users = pd.read_parquet(paths["users"])
    assert users["user_id"].tolist() == data.users["user_id"].tolist()
    assert users["country"].tolist() == data.users["country"].tolist()
    items = pd.read_parquet(paths["items"])
    assert items["title"].tolist() == data.items["title"].tolist()
    planted = pd.read_parquet(paths["planted"])
    assert planted["user_id"].dtype == np.int64 and planted["is_niche"].dtype == bool
    np.testing.assert_array_equal(planted.loc[planted["is_niche"], "user_id"],
                                  data.niche_user_ids)
    meta = json.loads(paths["params"].read_text())
    assert meta["params"] == data.params and "planted" in meta["readme"]
    write_synthetic(data, out)  # existing folder: files are overwritten


def test_write_to_existing_file_fails(tmp_path, data):
    f = tmp_path / "taken"
    f.write_text("x")
    with pytest.raises(AnalysisError) as err:
        write_synthetic(data, f)
    assert str(err.value) == "Synthetic data: the output folder 'taken' is an existing file."
    assert err.value.render("cli") == (
        "Synthetic data: the output folder 'taken' is an existing file. Give a folder path to "
        "--out (it is created if missing)."
    )
    assert str(tmp_path) not in err.value.render("cli")


def test_synthetic_frames_ingest_as_a_dataset(data):
    ds = dataset_from_frames(data.interactions, data.users, data.items)
    assert ds.n_users == 2000 and ds.n_items == 1000
    assert ds.n_interactions == len(data.interactions)
    it = data.interactions.sort_values(["user_id", "item_id"])  # load order: (user, item)
    np.testing.assert_array_equal(ds.user_ids[ds.user_idx], it["user_id"])
    np.testing.assert_array_equal(ds.item_ids[ds.item_idx], it["item_id"])
    assert ds.gain.dtype == np.float32
    np.testing.assert_array_equal(ds.gain > 0, it["rating"].to_numpy() >= 4)
    assert ds.has_timestamps and ds.users is not None and ds.items is not None


def _ndcg_at_10_reference(recs: np.ndarray, test) -> np.ndarray:
    """Plain per-user loop: graded NDCG@10 with gains from the test matrix (NaN if none)."""
    out = np.full(recs.shape[0], np.nan)
    for u in range(recs.shape[0]):
        row = test.getrow(u)
        gains = dict(zip(row.indices.tolist(), row.data.tolist()))
        if not gains:
            continue
        dcg = sum(gains.get(int(i), 0.0) / np.log2(r + 2) for r, i in enumerate(recs[u]))
        ideal = sorted(gains.values(), reverse=True)[:10]
        idcg = sum(g / np.log2(r + 2) for r, g in enumerate(ideal))
        out[u] = dcg / idcg
    return out


def test_als_serves_niche_users_clearly_worse():
    implicit_als = pytest.importorskip("implicit.cpu.als")
    from threadpoolctl import threadpool_limits

    from analysis.split import split_random

    d = generate_synthetic(3000, 1000, seed=0)
    ds = dataset_from_frames(d.interactions, d.users, d.items)
    sp = split_random(ds, validation_fraction=0.0, test_fraction=0.2, seed=0)
    with threadpool_limits(1, "blas"):
        model = implicit_als.AlternatingLeastSquares(
            factors=32, iterations=10, regularization=0.05, num_threads=2, random_state=0
        )
        model.fit(sp.train, show_progress=False)
        users = np.arange(ds.n_users)
        recs, _ = model.recommend(users, sp.train, N=10, filter_already_liked_items=True)
    ndcg = _ndcg_at_10_reference(recs, sp.test)
    niche = np.isin(ds.user_ids, d.niche_user_ids)
    main_mean, niche_mean = np.nanmean(ndcg[~niche]), np.nanmean(ndcg[niche])
    assert main_mean > 0.08
    assert niche_mean <= 0.5 * main_mean
