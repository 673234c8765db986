"""Tests of analysis/report/_build.py: the report names what it measured, its headline
matches the run files, and it shows the model's parameters as used."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from analysis.report import build_report
from tests.analysis._fixtures_report import MODEL
from tests.analysis.report._fixtures import visible_text


def test_report_names_runs_dataset_settings_and_time(runs, full):
    html = full.html
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert runs.baseline.run_id in html and runs.rerank.run_id in html
    assert "Dataset <b>demo</b>" in html and "2026-01-02 03:04:05" in html
    assert full.baseline_run_id == runs.baseline.run_id
    assert full.rerank_run_id == runs.rerank.run_id
    assert full.filename() == f"weakspot-report-{runs.rerank.run_id}.html"
    # every setting of both runs, as JSON
    assert "&quot;n_candidates&quot;: 20" in html  # baseline config
    assert "&quot;percentile&quot;: 3.0" in html  # rerank rule
    assert f"&quot;model&quot;: &quot;{MODEL}&quot;" in html
    assert "&quot;taken_on&quot;" in html  # prices used


def test_report_headline_matches_the_run_files(runs, full):
    summary = json.loads((runs.baseline.path / "summary.json").read_text())
    rr = json.loads((runs.rerank.path / "rerank_summary.json").read_text())
    h = full.headline
    assert h["ndcg"] == summary["overall"]["ndcg@10"]
    assert h["n_weak"] == summary["weak_users"]["n_weak"]
    assert h["gain_all"] == rr["gains"]["mean_gain_all"]["ndcg@10"]
    assert h["usd_spent"] == rr["usd_total_including_cached"]
    per = pd.read_parquet(runs.rerank.path / "rerank_per_user.parquet")
    assert h["gain_selected"] == pytest.approx(per["gain_ndcg@10"].mean())
    assert h["usd_spent"] == pytest.approx(per["paid_usd"].sum())


def test_baseline_only_report(runs):
    r = build_report(runs.baseline)
    assert r.rerank_run_id is None and r.n_charts == 2
    assert "LLM rerank" not in r.html and "gain_all" not in r.headline
    assert r.filename() == f"weakspot-report-{runs.baseline.run_id}.html"


def test_report_shows_the_model_parameters_as_used(runs, full):
    summary = json.loads((runs.baseline.path / "summary.json").read_text())
    assert summary["config"]["model_params"] == {}  # the user overrode nothing...
    params = summary["model"]["params"]
    assert params["factors"] == 32  # ...and the model ran with its defaults
    html = full.html
    assert "&quot;model_params&quot;: {}" not in html
    assert "&quot;factors&quot;: 32" in html
    model = visible_text(html[html.index('id="model"'):html.index('id="settings"')])
    for name, value in params.items():
        assert f"{name} {value:g}" in model


def test_report_numbers_are_for_people_and_source_has_no_server_path(runs, full):
    for r in (full, build_report(runs.baseline)):
        text = visible_text(r.html)
        assert not re.findall(r"\d\.\d{7,}", text), re.findall(r"\d\.\d{7,}", text)[:5]
        assert runs.workspace.path not in r.html  # a server path tells a reader nothing
        assert str(Path(runs.workspace.path).parent) not in r.html
    summary = json.loads((runs.baseline.path / "summary.json").read_text())
    assert summary["dataset"]["sparsity"] == pytest.approx(0.98305, abs=1e-5)
    assert "sparsity 0.9831" in visible_text(full.html)
    assert "interactions 76,270" in visible_text(full.html)
    source = full.html[full.html.index("<h3>Source</h3>"):]
    assert "&quot;workspace&quot;: &quot;ws.duckdb&quot;" in source
