"""Tests for analysis/workspace/ (the package): paths, catalog, rename/delete/list, names, lock waits."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
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


# -- waiting for another process's lock (the two-process cases are in
#    test_workspace_concurrency.py) ----------------------------------------------------------


def lock_error(pid: int = 4242) -> duckdb.IOException:
    return duckdb.IOException(
        'IO Error: Could not set lock on file "w.duckdb": Conflicting lock is held in '
        f"/usr/bin/python3.11 (PID {pid}). See also https://duckdb.org/docs/connect/concurrency"
    )


def test_backoff_doubles_up_to_the_cap_with_jitter():
    delays = wsmod.backoff_delays(first_s=0.1, cap_s=0.8, rng=random.Random(7))
    got = [next(delays) for _ in range(7)]
    steps = [0.1, 0.2, 0.4, 0.8, 0.8, 0.8, 0.8]
    assert all(s / 2 <= d <= s for d, s in zip(got, steps, strict=True))
    again = wsmod.backoff_delays(first_s=0.1, cap_s=0.8, rng=random.Random(8))
    assert [next(again) for _ in range(7)] != got  # jitter: two waiters drift apart


def test_lock_wait_from_argument_env_and_default(monkeypatch, tmp_path):
    monkeypatch.delenv(wsmod.LOCK_WAIT_ENV, raising=False)
    assert Workspace(tmp_path / "w.duckdb").lock_wait_s == wsmod.DEFAULT_LOCK_WAIT_S == 30.0
    monkeypatch.setenv(wsmod.LOCK_WAIT_ENV, "2.5")
    assert Workspace(tmp_path / "w.duckdb").lock_wait_s == 2.5
    assert Workspace(tmp_path / "w.duckdb", lock_wait_s=0).lock_wait_s == 0.0
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv(wsmod.LOCK_WAIT_ENV, bad)
        with pytest.raises(AnalysisError, match=pattern(wsmod.BAD_LOCK_WAIT)):
            Workspace(tmp_path / "w.duckdb")


def test_connect_retries_until_the_lock_is_free(monkeypatch, tmp_path):
    real = duckdb.connect
    calls = []

    def busy_three_times(*args, **kwargs):
        calls.append(args)
        if len(calls) <= 3:
            raise lock_error()
        return real(*args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", busy_three_times)
    ws = Workspace(tmp_path / "w.duckdb", lock_wait_s=120)
    assert ws.list_datasets().empty
    assert len(calls) == 4


def test_connect_gives_up_after_the_bound_naming_the_holder(monkeypatch, tmp_path):
    def always_busy(*args, **kwargs):
        raise lock_error(pid=999_999_999)  # no such process: nothing to read about it

    monkeypatch.setattr(duckdb, "connect", always_busy)
    ws = Workspace(tmp_path / "w.duckdb", lock_wait_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(AnalysisError, match=pattern(wsmod.WORKSPACE_LOCKED)) as err:
        ws.list_datasets()
    assert time.monotonic() - t0 >= 0.3
    assert "in use by process 999999999 (DuckDB" in str(err.value)
    # the workspace by its file name: no server path in a message the app shows
    assert "The workspace w.duckdb is in use" in str(err.value)
    assert str(tmp_path) not in str(err.value) and "--workspace" not in str(err.value)
    assert "--workspace / WEAKSPOT_WORKSPACE" in err.value.render("cli")
    assert wsmod.is_lock_error(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(AnalysisError, match=pattern(wsmod.WORKSPACE_LOCKED)):
        with ws.connect(wait_s=0):  # one attempt
            pass
    assert not wsmod.is_lock_error(AnalysisError("the file has no rating column"))


def test_other_connect_errors_are_not_retried(monkeypatch, tmp_path):
    calls = []

    def broken(*args, **kwargs):
        calls.append(args)
        raise duckdb.IOException("IO Error: Cannot open file: Permission denied")

    monkeypatch.setattr(duckdb, "connect", broken)
    with pytest.raises(duckdb.IOException, match="Permission denied"):
        Workspace(tmp_path / "w.duckdb", lock_wait_s=60).list_datasets()
    assert len(calls) == 1


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_describe_process_shows_program_and_subcommand_only(tmp_path):
    script = tmp_path / "holdmod.py"
    script.write_text("import sys\nsys.stdin.read()\n")  # waits until stdin closes
    argvs = {
        "script": [sys.executable, str(script), "ingest", "--api-key", "sk-secret", "x.csv"],
        "module": [sys.executable, "-m", "holdmod", "rerank", "--key=sk-secret"],
        "option first": [sys.executable, "-m", "holdmod", "--token", "sk-secret", "ingest"],
    }
    expected = {
        "script": "(holdmod.py ingest)",
        "module": "(python -m holdmod rerank)",
        "option first": "(python -m holdmod)",
    }
    for what, argv in argvs.items():
        proc = subprocess.Popen(argv, cwd=tmp_path, stdin=subprocess.PIPE)
        try:
            shown = wsmod.describe_process(proc.pid)
            deadline = time.monotonic() + 60
            while "holdmod" not in shown and time.monotonic() < deadline:  # exec not done yet
                time.sleep(0.05)
                shown = wsmod.describe_process(proc.pid)
        finally:
            proc.communicate(b"")
        assert shown == f"process {proc.pid} {expected[what]}", what
        assert "secret" not in shown
    assert wsmod.describe_process(999_999_999) == "process 999999999"


def test_threads_opening_a_new_workspace_at_once_all_succeed(tmp_path):
    """Creating the schema of a new file is serialised: several threads (the app's page and
    its jobs) opening a brand-new workspace together never meet a catalog write conflict."""
    import threading

    path = tmp_path / "new.duckdb"
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_it():
        try:
            start.wait(60)
            with Workspace(path).connect() as con:
                con.execute("SELECT count(*) FROM datasets").fetchall()
        except BaseException as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
