"""Tests for analysis/workspace.py: paths, catalog, rename/delete/list, names."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from analysis import workspace as wsmod
from analysis.errors import AnalysisError
from analysis.ingest import ingest
from analysis.workspace import Workspace, validate_dataset_name


def pattern(template: str) -> str:
    """A regex matching any message built from ``template``."""
    parts = re.split(r"\{[^{}]*\}", template)
    return ".+?".join(re.escape(p) for p in parts)


def tiny(n_users: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {"user": [u for u in range(n_users) for _ in range(2)], "item": [1, 2] * n_users}
    )


def test_default_path_env_and_explicit(monkeypatch, tmp_path):
    monkeypatch.delenv(wsmod.WORKSPACE_ENV, raising=False)
    assert Workspace().path == str(wsmod.DEFAULT_WORKSPACE)
    assert wsmod.DEFAULT_WORKSPACE.parent.name == "data"
    monkeypatch.setenv(wsmod.WORKSPACE_ENV, str(tmp_path / "env.duckdb"))
    assert Workspace().path == str(tmp_path / "env.duckdb")
    assert Workspace(tmp_path / "x.duckdb").path == str(tmp_path / "x.duckdb")
    assert Workspace(":memory:").in_memory


def test_empty_workspace_lists_nothing(tmp_path):
    ws = Workspace(tmp_path / "sub" / "w.duckdb")
    df = ws.list_datasets()
    assert list(df.columns) == wsmod.LIST_COLUMNS
    assert len(df) == 0
    assert not ws.has_dataset("x")
    assert ws.table_names() == ["datasets", "schema_version"]
    with ws.connect() as con:
        assert con.execute("SELECT version FROM schema_version").fetchall() == [
            (wsmod.SCHEMA_VERSION,)
        ]


def test_two_datasets_rename_delete_persist(tmp_path):
    path = tmp_path / "w.duckdb"
    ws = Workspace(path)
    r1 = ingest(ws, "first", tiny(2))
    r2 = ingest(ws, "second one", tiny(3))
    assert (r1.n_users, r2.n_users) == (2, 3)
    listed = Workspace(path).list_datasets()  # a fresh object sees the same file
    assert listed["name"].tolist() == ["first", "second one"]
    assert listed["n_interactions"].tolist() == [4, 6]
    assert listed["kind"].tolist() == ["implicit", "implicit"]
    assert listed["source"].tolist() == ["DataFrame", "DataFrame"]
    tables_before = ws.table_names()
    ws.rename_dataset("first", "renamed.v2")
    assert ws.table_names() == tables_before  # rename touches only the catalog
    assert ws.has_dataset("renamed.v2") and not ws.has_dataset("first")
    assert ws.dataset_info("renamed.v2")["n_users"] == 2
    ws.delete_dataset("renamed.v2")
    assert Workspace(path).list_datasets()["name"].tolist() == ["second one"]
    assert [t for t in ws.table_names() if t.startswith("ds_")] == [
        "ds_000002_interactions"
    ]
    r3 = ingest(ws, "third", tiny(1))  # ids are never reused
    assert r3.n_users == 1
    assert "ds_000003_interactions" in ws.table_names()


def test_rename_and_delete_errors(tmp_path):
    ws = Workspace(tmp_path / "w.duckdb")
    ingest(ws, "a", tiny())
    ingest(ws, "b", tiny())
    with pytest.raises(AnalysisError, match=pattern(wsmod.NAME_TAKEN)):
        ws.rename_dataset("a", "b")
    with pytest.raises(AnalysisError, match=pattern(wsmod.NO_SUCH_DATASET)) as err:
        ws.rename_dataset("zz", "c")
    assert "'a', 'b'" in str(err.value)
    with pytest.raises(AnalysisError, match=pattern(wsmod.NO_SUCH_DATASET)):
        ws.delete_dataset("zz")
    with pytest.raises(AnalysisError, match=pattern(wsmod.BAD_NAME)):
        ws.rename_dataset("a", "bad/name")
    ws.rename_dataset("a", "a")  # no-op
    assert ws.list_datasets()["name"].tolist() == ["a", "b"]


@pytest.mark.parametrize(
    "name", ["a", "ML-100K", "my data_v1.2", "x" * 64, "9lives", "trailing."]
)
def test_valid_names(name):
    assert validate_dataset_name(name) == name


@pytest.mark.parametrize(
    "name", ["", " lead", "trail ", "x" * 65, "a/b", "é", "semi;colon", "tab\tname", None, 3]
)
def test_invalid_names(name):
    with pytest.raises(AnalysisError, match=pattern(wsmod.BAD_NAME)):
        validate_dataset_name(name)


def test_read_only_and_read_write_in_one_process(tmp_path):
    ws = Workspace(tmp_path / "w.duckdb")
    ingest(ws, "a", tiny())
    with ws.connect() as rw, ws.connect(read_only=True) as ro:  # falls back, no error
        assert rw.execute("SELECT count(*) FROM datasets").fetchone()[0] == 1
        assert ro.execute("SELECT count(*) FROM datasets").fetchone()[0] == 1
    fresh = Workspace(tmp_path / "w.duckdb")
    with fresh.connect(read_only=True) as ro:
        assert ro.execute("SELECT name FROM datasets").fetchall() == [("a",)]


def test_memory_workspaces_are_private():
    a, b = Workspace(":memory:"), Workspace(":memory:")
    ingest(a, "x", tiny())
    assert a.has_dataset("x") and not b.has_dataset("x")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "w.duckdb"
    ws = Workspace(path)
    ws.list_datasets()
    with ws.connect() as con:
        con.execute("UPDATE schema_version SET version = ?", [wsmod.SCHEMA_VERSION + 1])
    with pytest.raises(AnalysisError, match=pattern(wsmod.NEWER_SCHEMA)):
        Workspace(path).list_datasets()


def test_file_is_created_in_missing_folder(tmp_path):
    target = tmp_path / "deep" / "er" / "w.duckdb"
    ingest(Workspace(target), "a", tiny())
    assert Path(target).exists()
