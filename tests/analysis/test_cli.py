"""Tests of the command line (analysis/cli/): the real commands, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main
from analysis.cli.data import NAME_TAKEN_CLI

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


# -- issue 7: derived names never replace data; one-line errors; signals ----------------------


def _write_ratings(path: Path, n_users: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{u},{i},{1 + (u + i) % 5}" for u in range(n_users) for i in range(4)]
    path.write_text("user,item,rating\n" + "\n".join(rows) + "\n")
    return path


def _catalog(ws_path: Path):
    from analysis.workspace import Workspace

    ws = Workspace(ws_path)
    table = ws.list_datasets()
    with ws.connect(read_only=True) as con:
        prefix = con.execute("SELECT table_prefix FROM datasets WHERE name = 'good'").fetchall()
        rows = con.execute(f"SELECT * FROM {prefix[0][0]}_interactions ORDER BY ALL").fetchall()
    return table.to_dict("records"), rows


def test_evaluate_never_replaces_a_dataset_without_replace(tmp_path, capsys):
    ws = tmp_path / "ws.duckdb"
    good = _write_ratings(tmp_path / "good.csv", 30)
    assert (
        main(["ingest", "--interactions", str(good), "--name", "good", "--workspace", str(ws)]) == 0
    )
    before = _catalog(ws)
    assert before[0][0]["n_users"] == 30
    other = _write_ratings(tmp_path / "other" / "good.csv", 1)
    capsys.readouterr()
    code = main(
        ["--quiet", "evaluate", "--interactions", str(other), "--model", "pop",
         "--workspace", str(ws), "--out", str(tmp_path / "run")]
    )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err == "error: " + NAME_TAKEN_CLI.format(
        name="good", path=str(ws), reuse=", or --dataset good to use it"
    )
    assert _catalog(ws) == before and not (tmp_path / "run").exists()
    code = main(["ingest", "--interactions", str(other), "--name", "good", "--workspace", str(ws)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "error: " + NAME_TAKEN_CLI.format(
        name="good", path=str(ws), reuse=""
    )
    assert _catalog(ws) == before


def test_evaluate_replace_replaces(synth_dir, tmp_path, capsys):
    ws = tmp_path / "ws.duckdb"
    args = ["--quiet", "evaluate", "--interactions", str(synth_dir / "interactions.parquet"),
            "--model", "pop", "--workspace", str(ws), "--out"]  # fmt: skip
    assert main([*args, str(tmp_path / "r1")]) == 0
    assert main([*args, str(tmp_path / "r2")]) == 2
    assert "--replace" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "r2"), "--replace"]) == 0
    assert (tmp_path / "r2" / "summary.json").exists()


def test_a_headerless_file_keeps_every_row_and_says_how_it_was_read(tmp_path, capsys):
    ws = tmp_path / "ws.duckdb"
    (tmp_path / "y.csv").write_text("1,1,5\n1,2,3\n")
    assert main(["ingest", "--interactions", str(tmp_path / "y.csv"), "--name", "y",
                 "--workspace", str(ws)]) == 0
    captured = capsys.readouterr()
    assert "2 interactions" in captured.out  # the first row is data, not a header
    assert "no header line" in captured.err


def test_ingest_reads_a_path_with_glob_characters_exactly(tmp_path, capsys):
    ws = tmp_path / "ws.duckdb"
    target = _write_ratings(tmp_path / "r[1].csv", 3)
    _write_ratings(tmp_path / "r1.csv", 7)  # what the glob would read
    assert (
        main(["ingest", "--interactions", str(target), "--name", "g", "--workspace", str(ws)]) == 0
    )
    assert "3 users" in capsys.readouterr().out


def test_header_and_quoting_flags_reach_the_ingest(tmp_path, capsys):
    """A headerless comma file: --no-header keeps its first line as a row (3 users, not 2);
    with quotes processed ``"1"`` and ``1`` are one user, with --no-quoting two."""
    from analysis.ingest import load_dataset
    from analysis.workspace import Workspace

    ws = tmp_path / "ws.duckdb"
    (tmp_path / "r.csv").write_text("1,10,5,1700000000\n2,11,4,1700000001\n3,12,3,1700000002\n")
    args = ["ingest", "--interactions", str(tmp_path / "r.csv"), "--workspace", str(ws)]
    assert main([*args, "--name", "a", "--no-header"]) == 0
    assert load_dataset(Workspace(ws), "a").n_users == 3
    (tmp_path / "q.csv").write_text('user,item,rating,ts\n"1",10,5,1700000000\n'
                                    '1,11,4,1700000001\n')
    args = ["ingest", "--interactions", str(tmp_path / "q.csv"), "--workspace", str(ws)]
    assert main([*args, "--name", "quoted"]) == 0
    assert main([*args, "--name", "literal", "--no-quoting"]) == 0
    assert load_dataset(Workspace(ws), "quoted").n_users == 1
    assert sorted(load_dataset(Workspace(ws), "literal").user_ids) == ['"1"', "1"]
    capsys.readouterr()


@pytest.mark.parametrize(
    ("data", "needles"),
    [
        (b"user,item,ts\n1,1,1700000000\n1,2,1e300\n", ("x.csv", "row 3", "'ts'", "1e300")),
        ("user,item\n1,2\n".encode("utf-16"), ("x.csv", "UTF-16", "UTF-8")),
        (b"user,item,rating\n1,1,5\n1,2,-3\n", ("x.csv", "row 3", "'rating'", "negative")),
    ],
)
def test_bad_inputs_are_one_line_in_a_real_process(tmp_path, data, needles):
    (tmp_path / "x.csv").write_bytes(data)
    ws = tmp_path / "ws.duckdb"
    proc = _run_cli(
        "ingest", "--interactions", "x.csv", "--name", "x", "--workspace", str(ws), cwd=tmp_path
    )
    _assert_one_line_error(proc, *needles)


def test_sigterm_during_ingest_unwinds_and_removes_the_zip_extraction(
    tmp_path, monkeypatch, capsys
):
    import signal
    import tempfile
    import zipfile

    from analysis.ingest import _open

    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    zpath = tmp_path / "ml.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t10\t5\t881250949\n2\t10\t3\t881250950\n")
    seen = []

    def killed(folder, variant, prefix):
        seen.append(sorted(p.name for p in private.iterdir()))
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt")

    monkeypatch.setattr(_open, "movielens_sources", killed)
    handler = signal.getsignal(signal.SIGTERM)
    ws = tmp_path / "ws.duckdb"
    code = main(["ingest", "--interactions", str(zpath), "--name", "m", "--workspace", str(ws)])
    assert code == 130 and capsys.readouterr().err.strip() == "interrupted"
    assert len(seen) == 1 and any(n.startswith("weakspot_ml_") for n in seen[0])
    assert list(private.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is handler


def test_blend_reports_the_weight_chosen_on_validation_its_test_gain_and_its_cost(
        tmp_path, capsys):
    from tests.analysis._fixtures_rerank import build_run

    run = build_run(tmp_path, users=300, items=150, seed=2, with_users=False)
    capsys.readouterr()
    assert main(["--quiet", "blend", "--run", str(run), "--encoder", "tfidf", "--dim", "16"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("content blend for the weak users of ")
    assert "chosen on validation" in out[1] and "for the baseline (weight 0)" in out[1]
    assert out[2].startswith("on test, ") and "95% CI" in out[2]
    assert out[3] == ("cost: $0.0000 one-off for the catalogue with this encoder, nothing per "
                      "user or per request")
    # a second run reuses every cached vector and says the same
    assert main(["--quiet", "blend", "--run", str(run), "--encoder", "tfidf", "--dim", "16"]) == 0
    assert capsys.readouterr().out.splitlines() == out
    assert main(["--quiet", "blend", "--run", str(run), "--encoder", "transformers"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: The transformers encoder needs --model (a local model folder).")
