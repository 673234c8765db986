"""Tests of analysis/report/_bracket.py: without a rerank, the verdict says "not measured
yet" and brackets the LLM's gain for free."""

from __future__ import annotations

import json

import pytest

from analysis.formatting import fmt_metric
from analysis.report import build_report, dry_run_bracket
from analysis.runs.baseline import load_run
from tests.analysis.report._fixtures import WHEN


def test_baseline_only_verdict_is_not_measured_yet_with_the_free_bracket(runs):
    r = build_report(runs.baseline)
    answer = r.headline["verdict"]
    assert "not measured yet" in answer
    run = load_run(runs.baseline.path)
    summary = json.loads((runs.baseline.path / "summary.json").read_text())
    b = dry_run_bracket(run)
    pu = run.per_user
    sent = pu["weak"].astype(bool) & pu["evaluated"].astype(bool)
    # the baseline order of its own top 20 keeps its top 10: the users' own NDCG@10
    assert b["baseline"] == pytest.approx(pu.loc[sent, "ndcg@10"].mean())
    assert b["n_users"] == int(sent.sum()) == summary["weak_users"]["n_weak"] - int(
        (pu["weak"].astype(bool) & ~pu["evaluated"].astype(bool)).sum())
    assert b["baseline"] <= b["best_value"] <= b["ceiling"] <= 1.0
    assert f"between the baseline's {fmt_metric(b['baseline'])}" in answer
    assert f"a perfect reordering's {fmt_metric(b['ceiling'])}" in answer
    assert "What an LLM could gain, measured for free" in r.html
    # the page's already-loaded run gives the same report
    assert build_report(runs.baseline, loaded=run, generated_at=WHEN).headline["verdict"] == \
        answer
