"""Tests of the command line (analysis/cli.py): the real commands, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    assert (
        main(
            [
                "--quiet",
                "synth",
                "--users",
                "800",
                "--items",
                "400",
                "--seed",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return out


def test_synth_writes_parquet(synth_dir):
    for name in ["interactions", "users", "items"]:
        assert (synth_dir / f"{name}.parquet").exists()
    inter = pd.read_parquet(synth_dir / "interactions.parquet")
    assert {"user_id", "item_id", "rating", "timestamp"} <= set(inter.columns)
    assert inter["user_id"].nunique() == 800


def test_evaluate_end_to_end(synth_dir, tmp_path, capsys):
    ws, out = tmp_path / "ws.duckdb", tmp_path / "run"
    code = main(
        [
            "--quiet",
            "evaluate",
            "--interactions",
            str(synth_dir / "interactions.parquet"),
            "--users",
            str(synth_dir / "users.parquet"),
            "--items",
            str(synth_dir / "items.parquet"),
            "--model",
            "pop",
            "--k",
            "5",
            "--split",
            "random",
            "--seed",
            "0",
            "--workspace",
            str(ws),
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["name"] == "pop" and summary["k"] == 5
    assert summary["split"]["strategy"] == "random"
    per_user = pd.read_parquet(out / "per_user.parquet")
    assert "ndcg@5" in per_user.columns and "age_band" in per_user.columns
    # the dataset is now in the workspace: a second run reuses it by name
    out2 = tmp_path / "run2"
    assert (
        main(
            [
                "--quiet",
                "evaluate",
                "--dataset",
                "interactions",
                "--model",
                "itemknn",
                "--workspace",
                str(ws),
                "--out",
                str(out2),
            ]
        )
        == 0
    )
    assert main(["datasets", "--workspace", str(ws)]) == 0
    assert "interactions" in capsys.readouterr().out


def _run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_missing_file_is_one_line_exit_2(tmp_path):
    proc = _run_cli(
        "evaluate",
        "--interactions",
        str(tmp_path / "nope.csv"),
        "--workspace",
        str(tmp_path / "ws.duckdb"),
        "--out",
        str(tmp_path / "o"),
        cwd=tmp_path,
    )
    _assert_one_line_error(proc, "nope.csv")


def test_bad_rating_is_one_line_exit_2_and_workspace_unchanged(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,10,5\n2,11,four\n")
    ws = tmp_path / "ws.duckdb"
    proc = _run_cli(
        "ingest", "--interactions", str(bad), "--name", "bad", "--workspace", str(ws), cwd=tmp_path
    )
    _assert_one_line_error(proc, "bad.csv", "rating")
    listing = _run_cli("datasets", "--workspace", str(ws), cwd=tmp_path)
    assert listing.returncode == 0 and "bad" not in listing.stdout


def test_bad_model_param_is_one_line(synth_dir, tmp_path):
    proc = _run_cli(
        "evaluate",
        "--interactions",
        str(synth_dir / "interactions.parquet"),
        "--param",
        "no_such_param=3",
        "--workspace",
        str(tmp_path / "ws.duckdb"),
        "--out",
        str(tmp_path / "o"),
        cwd=tmp_path,
    )
    _assert_one_line_error(proc, "no_such_param")
    assert not (tmp_path / "o").exists()


def test_unknown_flag_is_one_line(tmp_path):
    proc = _run_cli(
        "evaluate", "--dataset", "x", "--out", str(tmp_path / "o"), "--bogus", cwd=tmp_path
    )
    _assert_one_line_error(proc, "--bogus")


def test_movielens_100k_evaluate(ml100k_dir, tmp_path):
    out = tmp_path / "run"
    proc = _run_cli(
        "--quiet",
        "evaluate",
        "--interactions",
        str(ml100k_dir),
        "--model",
        "als",
        "--workspace",
        str(tmp_path / "ws.duckdb"),
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"]["n_users"] == 943
    assert summary["dataset"]["n_items"] == 1682
    assert summary["dataset"]["n_interactions"] == 100_000
    assert summary["dataset"]["n_relevant"] == 55_375
    assert 0.05 < summary["overall"]["ndcg@10"] < 0.6
    per_user = pd.read_parquet(out / "per_user.parquet")
    assert len(per_user) == 943 and {"gender", "occupation"} <= set(per_user.columns)
