"""Tests for analysis/ingest/_sql.py: a path is read as exactly that path (glob characters are literal).

Every refusal leaves the workspace as it was (the ``ws`` fixture already holds a dataset).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import (
    _sql,
    _stage,
    ingest,
    load_dataset,
)
from analysis.workspace import Workspace
from tests.analysis._fixtures_ingest import write


@pytest.mark.parametrize("name", ["a[1].csv", "b*.csv", "c?.csv", "d[!x].csv", "e]f.csv"])
def test_glob_characters_in_a_file_name_read_exactly_that_file(tmp_path, name):
    target = write(tmp_path / name, "user,item\nu1,i1\nu1,i2\n")
    for decoy in ("a1.csv", "bx.csv", "b.csv", "cx.csv", "dy.csv", "d!.csv"):  # glob matches
        write(tmp_path / decoy, "user,item\nzz,zz\n")
    w = Workspace(":memory:")
    rep = ingest(w, "g", target)
    ds = load_dataset(w, "g")
    assert rep.n_rows_read == 2
    assert ds.user_ids.tolist() == ["u1"] and ds.item_ids.tolist() == ["i1", "i2"]


def test_glob_characters_in_folders_parquet_and_error_rows(tmp_path):
    folder, decoy = tmp_path / "runs[1]*", tmp_path / "runs1x"
    folder.mkdir()
    decoy.mkdir()
    pd.DataFrame({"user": [1, 2], "item": [3, 4]}).to_parquet(folder / "d?.parquet")
    pd.DataFrame({"user": [9], "item": [9]}).to_parquet(decoy / "dx.parquet")
    w = Workspace(":memory:")
    ingest(w, "p", folder / "d?.parquet")
    assert load_dataset(w, "p").user_ids.tolist() == [1, 2]
    # the error path re-reads the file to find the row: it must read the same file
    bad = folder / "bad[2].parquet"
    pd.DataFrame({"user": [1, 2, 3], "item": [1, 1, 1], "rating": [5.0, np.nan, 4.0]}).to_parquet(
        bad
    )
    with pytest.raises(AnalysisError) as err:
        ingest(w, "b", bad)
    assert err.value.message == _stage.NOT_A_NUMBER.format(
        file=bad, row=2, column="rating", value="an empty value"
    )


def test_glob_characters_in_a_movielens_folder(tmp_path):
    folder = tmp_path / "ml[100k]"
    write(folder / "u.data", "1\t10\t5\t881250949\n2\t10\t3\t881250950\n")
    write(tmp_path / "ml1" / "u.data", "7\t7\t1\t1\n")  # what the glob would match
    w = Workspace(":memory:")
    ingest(w, "ml", folder)
    assert load_dataset(w, "ml").user_ids.tolist() == [1, 2]


def test_duckdb_path_escapes_globs_and_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _sql.duckdb_path("a[1]*?.csv") == f"{tmp_path}/a[[]1][*][?].csv"
    assert _sql.duckdb_path("~x.csv") == f"{tmp_path}/~x.csv"  # never the home folder
