"""Tests of analysis/cli/sasrec_emb.py: ``sasrec-emb`` on a tiny run prints the subgroup
table, the weak users' figures, the long tail and the cost, and ``--save`` lists both remedy
runs under the baseline run."""

from __future__ import annotations

from analysis.cli import main
from analysis.runs.baseline import load_run
from analysis.runs.store import RunStore
from analysis.workspace import Workspace
from tests.analysis._fixtures_rerank import build_run


def test_sasrec_emb_prints_the_comparison_and_saves_both_runs(tmp_path, capsys):
    run = build_run(tmp_path, users=150, items=60, seed=4, with_users=False)
    capsys.readouterr()
    args = ["--quiet", "sasrec-emb", "--run", str(run), "--encoder", "tfidf", "--dim", "8",
            "--epochs", "1", "--text-table", "trainable"]
    assert main([*args, "--save"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("SASRec with its item table from tfidf (trainable) vs random, ")
    assert out[1].split() == ["dimension", "group", "users", "run", "ndcg@10", "SASRec",
                              "random", "ndcg@10", "SASRec", "text", "ndcg@10"]
    assert out[2].split()[:2] == ["all", "everyone"]
    weak = next(line for line in out if line.startswith("weak users with test items"))
    loaded = load_run(run)
    n_weak = int((loaded.per_user["weak"] & loaded.per_user["evaluated"]).sum())
    per = loaded.per_user
    mean = per.loc[per["weak"] & per["evaluated"], "ndcg@10"].mean()
    assert f"({n_weak:,})" in weak and f"ndcg@10 run {mean:.4f}; " in weak
    assert sum(line.startswith("long tail, ") for line in out) == 6
    assert out[-3] == ("cost: $0.0000 one-off for the catalogue with this encoder, nothing per "
                       "user or per request")
    saved = [line.split()[-1] for line in out[-2:]]
    assert [line.split()[1] for line in out[-2:]] == ["sasrec_text", "sasrec_random"]
    listed = RunStore(Workspace(loaded.summary.source.workspace)).list_runs(kind="remedy")
    assert set(saved) <= set(listed["run_id"])
    assert set(listed.loc[listed["run_id"].isin(saved), "parent_run_id"]) == {run.name}
    assert main(["--quiet", "sasrec-emb", "--run", str(run), "--encoder", "transformers"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: The transformers encoder needs --model (a local model folder).")
