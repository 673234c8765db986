"""Tests of `python -m analysis msr`: the dry run counts the prompts and encodes nothing, the
run prints the per-scenario table and saves the head and its id control for `remedies`, and
a run without scenarios gets the one-line error."""

from __future__ import annotations

from analysis.cli import main
from analysis.embeddings import EmbeddingStore
from analysis.runs.store import RunStore
from analysis.workspace import Workspace


def _run(root, scenarios: int):
    data, run = root / "data", root / "run"
    args = ["--scenarios", str(scenarios)] if scenarios else []
    assert main(["-q", "synth", "--users", "150", "--items", "80", "--seed", "4", *args,
                 "--out", str(data)]) == 0
    assert main(["-q", "evaluate", "--interactions", str(data / "interactions.parquet"),
                 "--items", str(data / "items.parquet"), "--model", "pop",
                 "--workspace", str(root / "ws.duckdb"), "--out", str(run)]) == 0
    return run


def test_dry_run_then_save_then_remedies(tmp_path, capsys):
    run = _run(tmp_path, 3)
    capsys.readouterr()
    flags = ["--run", str(run), "--encoder", "tfidf", "--dim", "8"]
    assert main(["-q", "msr", *flags, "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("nothing encoded")
    assert lines[2].startswith("3 scenario prompts + 150 user prompts: ")
    ws = Workspace(tmp_path / "ws.duckdb")
    assert EmbeddingStore(ws).count() == 0
    assert main(["-q", "msr", *flags, "--epochs", "4", "--save"]) == 0
    out = capsys.readouterr().out
    assert "per scenario, test ndcg@10" in out and "random check" in out
    saved = RunStore(ws).list_runs(kind="remedy")
    assert sorted(saved["label"].str.split(" ").str[0]) == ["MSR", "MSR"]
    assert main(["-q", "remedies", "--run", str(run)]) == 0
    table = capsys.readouterr().out
    assert "MSR re-scorer (tfidf knowledge, weak users)" in table
    assert "MSR re-scorer (id embeddings, weak users)" in table


def test_a_run_without_scenarios_is_refused(tmp_path, capsys):
    run = _run(tmp_path, 0)
    capsys.readouterr()
    assert main(["-q", "msr", "--run", str(run), "--encoder", "tfidf", "--dry-run"]) == 2
    assert "has no scenario column" in capsys.readouterr().err
