"""Tests for analysis/ingest/ (the ingest package)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import ingest as cols
from analysis import ingest as fmts
from analysis import ingest as ing
from analysis import workspace as wsmod
from analysis.errors import AnalysisError
from analysis.ingest import ColumnMapping, dataset_from_frames, detect_columns, ingest, load_dataset
from analysis.workspace import Workspace
from tests.analysis._fixtures_ingest import pattern, snapshot, workspace_with_one_dataset, write


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return workspace_with_one_dataset(tmp_path)


# -- round trips ---------------------------------------------------------------------------

ROWS = [  # user, item, rating, ts
    ("bob", "i9", 5.0, 30),
    ("alice", "i10", 3.0, 10),
    ("alice", "i2", 4.0, 20),
    ("carol", "i9", 1.0, 40),
]


def expected_arrays(rows):
    users = sorted({r[0] for r in rows})
    items = sorted({r[1] for r in rows})
    recs = sorted((users.index(r[0]), items.index(r[1]), r[2], r[3]) for r in rows)
    return users, items, np.array(recs)


def check_dataset(ds, rows, threshold=4.0):
    users, items, rec = expected_arrays(rows)
    assert ds.user_ids.tolist() == users
    assert ds.item_ids.tolist() == items
    assert ds.user_idx.dtype == np.int32 and ds.item_idx.dtype == np.int32
    np.testing.assert_array_equal(ds.user_idx, rec[:, 0].astype(int))
    np.testing.assert_array_equal(ds.item_idx, rec[:, 1].astype(int))
    assert ds.value.dtype == np.float32
    np.testing.assert_array_equal(ds.value, rec[:, 2].astype(np.float32))
    assert ds.timestamp.dtype == np.int64
    np.testing.assert_array_equal(ds.timestamp, rec[:, 3].astype(np.int64))
    np.testing.assert_array_equal(ds.gain, np.where(rec[:, 2] >= threshold, rec[:, 2], 0))


@pytest.mark.parametrize("kind", ["csv", "tsv", "parquet", "txt-semicolon", "csv.gz"])
def test_round_trip_string_ids(tmp_path, kind):
    df = pd.DataFrame(ROWS, columns=["UserID", "item_id", "Rating", "timestamp"])
    if kind == "parquet":
        path = tmp_path / "r.parquet"
        df.to_parquet(path)
    elif kind == "csv.gz":
        path = tmp_path / "r.csv.gz"
        df.to_csv(path, index=False, compression="gzip")
    else:
        sep = {"csv": ",", "tsv": "\t", "txt-semicolon": ";"}[kind]
        path = tmp_path / f"r.{kind.split('-')[0]}"
        df.to_csv(path, sep=sep, index=False)
    w = Workspace(":memory:")
    rep = ingest(w, "d", path)
    assert rep.mapping == ColumnMapping("UserID", "item_id", "Rating", "timestamp", "explicit")
    assert (rep.n_users, rep.n_items, rep.n_interactions, rep.n_relevant) == (3, 3, 4, 2)
    assert rep.user_id_type == "VARCHAR" and rep.kind == "explicit"
    check_dataset(load_dataset(w, "d"), ROWS)


INT_ROWS = [(10, 300, 4.0, 5), (2, 300, 2.0, 6), (10, 7, 5.0, 7), (2, 40, 3.5, 8)]


@pytest.mark.parametrize("kind", ["csv", "tsv", "parquet", "frame"])
def test_round_trip_int_ids(tmp_path, kind):
    df = pd.DataFrame(INT_ROWS, columns=["user", "movieId", "stars", "ts"])
    w = Workspace(":memory:")
    if kind == "frame":
        src = df
    elif kind == "parquet":
        src = tmp_path / "r.parquet"
        df.to_parquet(src)
    else:
        src = tmp_path / f"r.{kind}"
        df.to_csv(src, sep="," if kind == "csv" else "\t", index=False)
    rep = ingest(w, "d", src)
    assert (rep.user_id_type, rep.item_id_type) == ("BIGINT", "BIGINT")
    ds = load_dataset(w, "d")
    assert ds.user_ids.dtype == np.int64
    check_dataset(ds, INT_ROWS)  # int order: 2 < 10, 7 < 40 < 300


def test_csv_text_ids_with_leading_zeros_stay_text(tmp_path):
    path = write(tmp_path / "z.csv", "user,item\n007,1\n7,2\n")
    w = Workspace(":memory:")
    rep = ingest(w, "d", path)
    assert rep.user_id_type == "VARCHAR" and rep.item_id_type == "BIGINT"
    assert load_dataset(w, "d").user_ids.tolist() == ["007", "7"]


def test_frame_string_ids_stay_strings():
    df = pd.DataFrame({"user_id": ["1", "2"], "item_id": ["5", "5"]})
    ds = dataset_from_frames(df)
    assert ds.user_ids.tolist() == ["1", "2"]
    assert ds.kind == "implicit" and ds.value is None and ds.timestamp is None
    np.testing.assert_array_equal(ds.gain, [1, 1])


def test_explicit_mapping_overrides_detection(tmp_path):
    path = write(
        tmp_path / "m.csv",
        "rating,a,b,stars2,when\n1,u1,x,5,100\n1,u1,y,2,200\n1,u2,x,4,300\n",
    )
    with pytest.raises(AnalysisError, match=pattern(cols.MISSING_COLUMN)):
        detect_columns(path)  # 'a' / 'b' are no known names
    w = Workspace(":memory:")
    rep = ingest(w, "d", path, mapping=ColumnMapping(user="A", item="b", rating="stars2",
                                                     timestamp="when"))  # fmt: skip
    assert rep.mapping == ColumnMapping("a", "b", "stars2", "when", "explicit")
    ds = load_dataset(w, "d")
    np.testing.assert_array_equal(ds.value, [5, 2, 4])
    np.testing.assert_array_equal(ds.timestamp, [100, 200, 300])


def test_detect_columns_synonyms_and_kinds():
    f = pd.DataFrame(columns=["reviewerID", "asin", "overall", "unixReviewTime", "summary"])
    assert detect_columns(f) == ColumnMapping(
        "reviewerID", "asin", "overall", "unixReviewTime", "explicit"
    )
    f = pd.DataFrame(columns=["Customer ID", "Product-ID", "Quantity"])
    expected = ColumnMapping("Customer ID", "Product-ID", "Quantity", None, "count")
    assert detect_columns(f) == expected
    f = pd.DataFrame(columns=["uid", "iid", "date"])
    assert detect_columns(f) == ColumnMapping("uid", "iid", None, "date", "implicit")


def test_value_kind_explicit_overrides_count_and_implicit_ignores_value():
    df = pd.DataFrame({"user": [1, 1], "item": [1, 1], "plays": [2.0, 3.0]})
    assert dataset_from_frames(df).value.tolist() == [5.0]  # count: summed
    d2 = dataset_from_frames(df, mapping=ColumnMapping(value_kind="explicit"),
                             relevance_threshold=2)
    assert d2.kind == "explicit" and d2.value.tolist() == [2.5]  # no ts: mean
    d3 = dataset_from_frames(df, mapping=ColumnMapping(value_kind="implicit"))
    assert d3.kind == "implicit" and d3.value is None


def test_duplicates_explicit_latest_rating():
    df = pd.DataFrame(
        {
            "user": [1, 1, 1, 2, 2, 3],
            "item": [9, 9, 9, 9, 9, 9],
            "rating": [3.0, 5.0, 2.0, 1.0, 4.0, 2.0],
            "ts": [10, 20, 15, 7, 7, 1],
        }
    )
    w = Workspace(":memory:")
    rep = ingest(w, "d", df)
    assert rep.n_rows_read == 6 and rep.n_duplicates_merged == 3 and rep.n_interactions == 3
    ds = load_dataset(w, "d")
    np.testing.assert_array_equal(ds.value, [5.0, 4.0, 2.0])  # user 2: tie -> higher rating
    np.testing.assert_array_equal(ds.timestamp, [20, 7, 1])


def test_duplicates_explicit_without_timestamp_is_mean_and_counts_sum():
    df = pd.DataFrame({"user": ["a", "a", "b"], "item": [1, 1, 1], "rating": [1.0, 4.0, 2.0]})
    assert dataset_from_frames(df, relevance_threshold=2).value.tolist() == [2.5, 2.0]
    df = pd.DataFrame(
        {"user": ["a", "a", "b"], "item": [1, 1, 1], "clicks": [1, 4, 0], "time": [5, 9, 3]}
    )
    ds = dataset_from_frames(df)
    assert ds.kind == "count" and ds.value.tolist() == [5.0, 0.0]
    assert ds.timestamp.tolist() == [9, 3]
    np.testing.assert_array_equal(ds.gain, [5.0, 0.0])


def test_timestamps_milliseconds_and_dates(tmp_path):
    df = pd.DataFrame({"user": [1, 2], "item": [1, 1], "timestamp": [1_700_000_000_123, 5_000]})
    w = Workspace(":memory:")
    rep = ingest(w, "ms", df)
    assert load_dataset(w, "ms").timestamp.tolist() == [1_700_000_000, 5]
    assert any("milliseconds" in x for x in rep.warnings)
    path = write(
        tmp_path / "d.csv",
        "user,item,date\n1,1,2024-01-31\n2,1,2024-01-31 13:45:00\n3,1,2024-01-31T00:00:01Z\n",
    )
    ingest(w, "dates", path)
    assert load_dataset(w, "dates").timestamp.tolist() == [1706659200, 1706708700, 1706659201]
    dt = pd.DataFrame(
        {"user": [1], "item": [1], "ts": pd.to_datetime(["2024-01-31 00:00:02"])}
    )
    assert dataset_from_frames(dt).timestamp.tolist() == [1706659202]


def kcore_reference(pairs, k):
    pairs = set(pairs)
    while True:
        uc = pd.Series([u for u, _ in pairs]).value_counts()
        ic = pd.Series([i for _, i in pairs]).value_counts()
        keep = {(u, i) for u, i in pairs if uc[u] >= k and ic[i] >= k}
        if keep == pairs:
            return pairs
        pairs = keep


def test_kcore_hand_example_cascades():
    pairs = [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 3), (4, 3)]
    df = pd.DataFrame(pairs, columns=["user", "item"])
    w = Workspace(":memory:")
    rep = ingest(w, "k", df, kcore=2)
    # u4 goes -> i3 has one left -> i3 goes -> u3 has one left -> u3 goes
    assert (rep.n_interactions, rep.n_removed_kcore, rep.n_users, rep.n_items) == (4, 3, 2, 2)
    ds = load_dataset(w, "k")
    assert ds.user_ids.tolist() == [1, 2] and ds.item_ids.tolist() == [1, 2]


def test_kcore_matches_reference():
    rng = np.random.default_rng(3)
    pairs = {(int(u), int(i)) for u, i in rng.integers(0, 30, size=(250, 2))}
    df = pd.DataFrame(sorted(pairs), columns=["user", "item"])
    for k in (3, 5, 8):
        ref = kcore_reference(pairs, k)
        if not ref:
            with pytest.raises(AnalysisError, match=pattern(ing.KCORE_EMPTY)):
                dataset_from_frames(df, kcore=k)
            continue
        ds = dataset_from_frames(df, kcore=k)
        got = set(zip(ds.user_ids[ds.user_idx].tolist(), ds.item_ids[ds.item_idx].tolist()))
        assert got == ref


def test_users_and_items_tables(tmp_path):
    inter = pd.DataFrame({"user": ["u1", "u2", "u3"], "item": [10, 20, 10]})
    users = write(tmp_path / "users.csv", "user_id,age,country\nu1,30,FR\nu3,41,DE\nu9,20,US\n")
    items = pd.DataFrame(
        {"item_id": [10, 20], "name": ["Tea", "Café"], "categories": ["a, b", "c"], "p": [1, 2]}
    )
    w = Workspace(":memory:")
    rep = ingest(w, "d", inter, users=users, items=items)
    assert rep.has_users and rep.has_items
    assert any("66.7% of its 3 rows" in x for x in rep.warnings)
    ds = load_dataset(w, "d")
    assert ds.users["user_id"].tolist() == ["u1", "u2", "u3"]
    assert ds.users["age"].tolist()[0] == 30 and pd.isna(ds.users["age"][1])
    assert ds.users["country"].tolist()[2] == "DE"
    assert ds.items.columns.tolist()[:3] == ["item_id", "title", "genres"]
    assert ds.items["title"].tolist() == ["Tea", "Café"]
    assert ds.items["genres"].tolist() == ["a|b", "c"]


# -- bad inputs: message + untouched workspace ---------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _bad_cases():
    ok = "user,item,rating\n1,1,4\n2,1,5\n"
    return {
        # id: (file name, content, kwargs, template, substrings)
        "missing": ("a.csv", "a,b\n1,2\n", {}, cols.MISSING_COLUMN, ["'a', 'b'", "User id"]),
        "misnamed": ("a.csv", ok, {"mapping": ColumnMapping(user="usr")},
                     cols.MAPPED_COLUMN_ABSENT, ["'usr'", "'user', 'item', 'rating'"]),
        "not-number": ("a.csv", "user,item,rating\n1,1,4\n2,2,5\n3,3,abc\n4,4,x\n", {},
                       ing.NOT_A_NUMBER, ["row 4", "'abc'", "'rating'"]),
        "empty-rating": ("a.csv", "user,item,rating\n1,1,4\n2,2,\n", {},
                         ing.NOT_A_NUMBER, ["row 3", "an empty value"]),
        "empty": ("a.csv", "", {}, fmts.EMPTY_FILE, []),
        "blank": ("a.csv", "\n\n  \n", {}, fmts.EMPTY_FILE, []),
        "header-only": ("a.csv", "user,item\n", {}, fmts.NO_DATA_ROWS, []),
        "png": ("a.csv", PNG, {}, fmts.BINARY_FILE, ["PNG"]),
        "random-bytes": ("a.csv", bytes(np.random.default_rng(0).integers(0, 256, 4000,
                                                                          dtype=np.uint8)),
                         {}, fmts.BINARY_FILE, []),
        "semicolon": ("a.csv", "user;item;rating\n1;2;3\n", {}, fmts.WRONG_DELIMITER,
                      ["';'", "semicolon"]),
        "bad-utf8": ("a.csv", b"user,item\n1,a\n2,caf\xe9\n3,b\n", {}, fmts.BAD_ENCODING,
                     ["row 3", "0xe9"]),
        "dup-header": ("a.csv", "user,item,User\n1,2,3\n", {}, fmts.DUPLICATE_HEADER,
                       ["'user'"]),
        "no-such-file": (None, None, {}, fmts.NOT_FOUND, ["nope.csv"]),
        "xlsx-by-content": ("a.xlsx", b"PK\x03\x04" + bytes(60), {}, fmts.BINARY_FILE,
                            [".xlsx workbook"]),
        "null-user": ("a.csv", "user,item\n1,a\n,b\n", {}, ing.NULL_ID,
                      ["row 3", "user id", "'user'"]),
        "null-item": ("a.tsv", "user\titem\n1\ta\n2\t\n", {}, ing.NULL_ID, ["row 3", "item id"]),
        "negative-count": ("a.csv", "user,item,plays\n1,a,3\n2,b,-1\n", {}, ing.NEGATIVE_COUNT,
                           ["row 3", "-1"]),
        "bad-timestamp": ("a.csv", "user,item,ts\n1,a,5\n2,b,yesterday\n", {},
                          ing.BAD_TIMESTAMP, ["row 3", "'yesterday'"]),
        "ragged": ("a.csv", "user,item\n1,a\n2,b,3\n", {}, fmts.RAGGED_ROW,
                   ["row 3", "3 field(s)"]),
        "kcore-empty": ("a.csv", ok, {"kcore": 3}, ing.KCORE_EMPTY, ["3-core"]),
        "users-no-match": ("a.csv", ok, {"users": "USERS"}, ing.SIDE_NO_MATCH,
                           ["users.csv", "'user_id'", "(e.g. '77' vs '1')"]),
        "name-taken": ("a.csv", ok, {"name": "existing"}, wsmod.NAME_TAKEN, ["'existing'"]),
        "bad-name": ("a.csv", ok, {"name": "no/slash"}, wsmod.BAD_NAME, []),
        "kcore-negative": ("a.csv", ok, {"kcore": -1}, ing.BAD_KCORE, []),
        "same-column": ("a.csv", ok, {"mapping": ColumnMapping(user="user", item="user")},
                        cols.SAME_COLUMN, []),
        "explicit-no-value": ("a.csv", "user,item\n1,1\n", {
            "mapping": ColumnMapping(value_kind="explicit")}, cols.NO_VALUE_COLUMN, []),
        "ml-folder-empty": ("DIR", None, {}, fmts.NOT_MOVIELENS, []),
    }  # fmt: skip


BAD = _bad_cases()


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_message_and_workspace_unchanged(ws, tmp_path, case):
    fname, content, kwargs, template, needles = BAD[case]
    kwargs = dict(kwargs)
    if fname is None:
        path = tmp_path / "nope.csv"
    elif fname == "DIR":
        path = tmp_path / "folder"
        path.mkdir()
    else:
        path = write(tmp_path / fname, content)
    if kwargs.get("users") == "USERS":
        kwargs["users"] = write(tmp_path / "users.csv", "user_id,age\n77,3\n78,4\n")
    name = kwargs.pop("name", "new")
    before = snapshot(ws)
    with pytest.raises(AnalysisError, match=pattern(template)) as err:
        ingest(ws, name, path, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, msg
    assert snapshot(ws) == before


def test_failure_late_in_transaction_rolls_back(ws, tmp_path):
    """Interactions are written before the items table fails: nothing must remain."""
    good = write(tmp_path / "g.csv", "user,item\n1,1\n2,1\n")
    items = write(tmp_path / "items.csv", "item_id,title\n555,x\n")
    before = snapshot(ws)
    with pytest.raises(AnalysisError, match=pattern(ing.SIDE_NO_MATCH)):
        ingest(ws, "existing", good, items=items, replace=True)  # replace: drop happens first
    assert snapshot(ws) == before
    assert load_dataset(ws, "existing").n_interactions == 3


def test_replace_overwrites(ws, tmp_path):
    good = write(tmp_path / "g.csv", "user,item\n1,1\n2,1\n3,3\n")
    ingest(ws, "existing", good, replace=True)
    listed = ws.list_datasets()
    assert listed["name"].tolist() == ["existing"]
    assert listed["n_interactions"].tolist() == [3]
    assert len([t for t in ws.table_names() if t.startswith("ds_")]) == 1


def test_bad_rows_in_parquet_and_frames(tmp_path):
    df = pd.DataFrame({"user": [1, 2, 3], "item": [1, 1, 1], "rating": ["4", "5", "five"]})
    path = tmp_path / "p.parquet"
    df.to_parquet(path)
    with pytest.raises(AnalysisError, match=pattern(ing.NOT_A_NUMBER)) as err:
        ingest(Workspace(":memory:"), "p", path)
    assert "row 3," in str(err.value) and "'five'" in str(err.value)
    frame = pd.DataFrame({"user": [1.0, np.nan, 3.0], "item": [1, 1, 1]})
    with pytest.raises(AnalysisError, match=pattern(ing.NULL_ID)) as err:
        dataset_from_frames(frame)
    assert "row 1 (0-based position)" in str(err.value)
    dup = pd.DataFrame([[1, 2, 3]], columns=["user", "item", "USER"])
    with pytest.raises(AnalysisError, match=pattern(fmts.DUPLICATE_HEADER)):
        dataset_from_frames(dup)


def test_float_ids_from_frames_become_ints():
    ds = dataset_from_frames(pd.DataFrame({"user": [1.0, 2.0], "item": [3.5, 4.0]}))
    assert ds.user_ids.dtype == np.int64
    assert ds.item_ids.tolist() == ["3.5", "4.0"]


def test_corrupt_parquet(tmp_path):
    path = write(tmp_path / "x.parquet", b"PAR1 this is not really parquet")
    with pytest.raises(AnalysisError, match=pattern(fmts.UNREADABLE)):
        ingest(Workspace(":memory:"), "x", path)


# -- MovieLens -----------------------------------------------------------------------------


def check_ml100k(w: Workspace, name: str):
    rep = w.dataset_info(name)
    assert (rep["n_interactions"], rep["n_users"], rep["n_items"]) == (100_000, 943, 1682)
    ds = load_dataset(w, name)
    assert ds.n_interactions == 100_000 and ds.n_users == 943 and ds.n_items == 1682
    vals, counts = np.unique(ds.value, return_counts=True)
    assert dict(zip(vals.tolist(), counts.tolist())) == {
        1.0: 6110, 2.0: 11370, 3.0: 27145, 4.0: 34174, 5.0: 21201
    }  # fmt: skip
    assert np.bincount(ds.user_idx).min() >= 20
    assert int((ds.gain > 0).sum()) == 55_375
    assert ds.items is not None and len(ds.items) == 1682
    assert ds.items["title"].notna().all()
    assert ds.items["title"][0] == "Toy Story (1995)"
    assert ds.items["genres"][0] == "Animation|Children's|Comedy"
    assert ds.users["gender"].value_counts().to_dict() == {"M": 670, "F": 273}
    assert ds.users["occupation"][0] == "technician"
    assert ds.timestamp.min() > 8e8


def test_movielens_100k_folder(ml100k_dir):
    w = Workspace(":memory:")
    rep = ingest(w, "ml-100k", ml100k_dir)
    assert rep.mapping.value_kind == "explicit" and rep.n_relevant == 55_375
    check_ml100k(w, "ml-100k")


def test_movielens_100k_zip(ml100k_dir, tmp_path):
    zpath = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in ("u.data", "u.item", "u.user", "README"):
            zf.write(ml100k_dir / n, f"ml-100k/{n}")
    w = Workspace(":memory:")
    ingest(w, "zip", zpath)
    check_ml100k(w, "zip")
    assert detect_columns(zpath) == ColumnMapping(
        "user_id", "item_id", "rating", "timestamp", "explicit"
    )


def make_ml1m_zip(path: Path) -> Path:
    ratings = "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n2::10::2::978301999\n"
    movies = "10::Amélie (2001)::Comedy|Romance\n20::Toy Story (1995)::Animation\n"
    users = "1::F::1::10::48067\n2::M::56::16::70072\n"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ml-1m/ratings.dat", ratings.encode("latin-1"))
        zf.writestr("ml-1m/movies.dat", movies.encode("latin-1"))
        zf.writestr("ml-1m/users.dat", users.encode("latin-1"))
    return path


def test_movielens_1m_layout_zip(tmp_path):
    zpath = make_ml1m_zip(tmp_path / "ml-1m.zip")
    w = Workspace(":memory:")
    rep = ingest(w, "m1", zpath)
    assert (rep.n_rows_read, rep.n_interactions, rep.n_duplicates_merged) == (4, 3, 1)
    ds = load_dataset(w, "m1")
    assert ds.user_ids.tolist() == [1, 2] and ds.item_ids.tolist() == [10, 20]
    np.testing.assert_array_equal(ds.value, [5, 3, 2])  # user 2 item 10: latest rating
    np.testing.assert_array_equal(ds.timestamp, [978300760, 978302109, 978301999])
    assert ds.items["title"].tolist() == ["Amélie (2001)", "Toy Story (1995)"]
    assert ds.items["genres"].tolist() == ["Comedy|Romance", "Animation"]
    assert ds.users["gender"].tolist() == ["F", "M"]
    assert ds.users["age"].tolist() == [1, 56]


def test_movielens_1m_folder_with_bad_row(tmp_path):
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    write(folder / "ratings.dat", "1::10::5::978300760\n1::11::oops::978300761\n")
    with pytest.raises(AnalysisError, match=pattern(ing.NOT_A_NUMBER)) as err:
        ingest(Workspace(":memory:"), "m", tmp_path, fmt="movielens")
    assert "ratings.dat: row 2" in str(err.value)


@pytest.mark.skipif(os.environ.get("WEAKSPOT_DATASETS") is None, reason="no datasets")
def test_env_var_is_the_only_way_to_the_data(ml100k_dir):
    assert Path(os.environ["WEAKSPOT_DATASETS"]).resolve() in ml100k_dir.parents
