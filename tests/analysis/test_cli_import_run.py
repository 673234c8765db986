"""``python -m analysis import-run``: a TREC run to a baseline run folder, then the rerank's
dry run and a fake-backend rerank on it (realistic protocol); the paper protocol refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.cli import main
from analysis.external import NO_SCORER
from analysis.gains.cost import PriceTable
from analysis.rerank.cache import CallCache
from analysis.rerank.config import RerankConfig
from analysis.rerank.execute import execute_rerank
from analysis.rerank.plan import plan_rerank
from analysis.runs.baseline import load_run
from analysis.weak_users import WeakRule
from analysis.workspace import Workspace
from models.llm import make_backend
from tests.analysis.external._fixtures import C, build_external

MODEL = "claude-haiku-4-5"


@pytest.fixture(scope="module")
def ext(tmp_path_factory):
    return build_external(tmp_path_factory.mktemp("ext"))


@pytest.fixture(scope="module")
def out(ext, tmp_path_factory):
    folder = tmp_path_factory.mktemp("imp") / "run"
    code = main(["-q", "import-run", "--dataset", "syn", "--workspace", str(ext.ws_path),
                 "--test", str(ext.trec), "--validation", str(ext.val_trec),
                 "--name", "prod-ranker-v7", "--candidates", str(C), "--out", str(folder)])
    assert code == 0
    return folder


def test_import_run_writes_a_baseline_folder(out, capsys):
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["name"] == "prod-ranker-v7"
    assert summary["imported"]["files"]["test"]["file"] == "test.run"
    assert summary["weak_users"]["rule"]["metric"] == "ndcg@10"
    run = load_run(out)
    assert run.summary.is_imported and run.n_candidates == C
    assert (run.rankings >= 0).all(axis=1).sum() == int(run.per_user["evaluated"].sum())


def test_rerank_dry_run_and_fake_rerank_of_an_imported_run(out, ext, capsys):
    code = main(["rerank", "--run", str(out), "--backend", "anthropic", "--model", MODEL,
                 "--metric", "ndcg", "--percentile", "20", "--candidates", str(C),
                 "--dry-run", "--workspace", str(out.parent / "w.duckdb")])
    said, err = capsys.readouterr()
    assert code == 0, err
    assert "weak users:" in said and "estimated cost" in said
    run = load_run(out)
    cfg = RerankConfig(backend="fake", model=MODEL, n_candidates=C,
                       rule=WeakRule(metric="ndcg@10", percentile=20))
    backend = make_backend("fake", model=MODEL)
    cache = CallCache(Workspace(out.parent / "calls.duckdb"))
    plan = plan_rerank(run, cfg, backend, cache, PriceTable())
    # realistic protocol: every candidate list is the imported top C of that user
    np.testing.assert_array_equal(plan.candidates.items, run.rankings[plan.candidates.user_idx])
    result = execute_rerank(plan, run, backend, cache, PriceTable())
    assert result.summary.status == "complete" and result.summary.n_reranked == len(plan.users)


def test_paper_protocol_refused_in_one_line(out, capsys):
    code = main(["rerank", "--run", str(out), "--backend", "anthropic", "--model", MODEL,
                 "--protocol", "paper", "--dry-run", "--workspace",
                 str(out.parent / "w.duckdb")])  # the rule's metric: ndcg, an imported run's
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: " + NO_SCORER.format(
        name="prod-ranker-v7", what="the paper protocol (scoring sampled items)")), err
