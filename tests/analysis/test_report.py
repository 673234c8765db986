"""Tests of analysis/report.py: the self-contained HTML report and the per-user exports."""

from __future__ import annotations

import io
import json
import re
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.report import (
    MISSING_FILE,
    NOT_A_BASELINE,
    WRONG_PARENT,
    build_report,
    per_user_results,
    to_csv_bytes,
    to_parquet_bytes,
)

sys.path.insert(0, str(Path(__file__).parent))
from _fixtures_report import MODEL, build_runs  # noqa: E402

WHEN = datetime(2026, 1, 2, 3, 4, 5)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return build_runs(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def full(runs):
    return build_report(runs.baseline, runs.rerank, generated_at=WHEN)


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


def test_report_is_self_contained_with_plotly_inline_once(full):
    html = full.html
    # histogram, subgroups, before/after by group, LLM against controls, cost curve
    assert full.n_charts == 5
    divs = re.findall(r'<div id="weakspot-chart-\d+" class="plotly-graph-div"', html)
    assert len(divs) == 5
    assert len(re.findall(r"<script[^>]*\bsrc=", html)) == 0
    assert len(re.findall(r"<link[^>]*\bhref=", html)) == 0
    assert html.count("* plotly.js v") == 1  # the library's banner: embedded exactly once


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


def test_report_shows_the_net_gain_and_both_user_counts(runs, full):
    rr = json.loads((runs.rerank.path / "rerank_summary.json").read_text())
    net, users = rr["net_gain"], rr["users"]
    assert "gain net of the best control" in full.html
    assert f"{users['weak_all']:,} / {users['sent']:,}" in full.html
    assert f"({net['control']})" in full.html


def test_baseline_only_report(runs):
    r = build_report(runs.baseline)
    assert r.rerank_run_id is None and r.n_charts == 2
    assert "LLM rerank" not in r.html and "gain_all" not in r.headline
    assert r.filename() == f"weakspot-report-{runs.baseline.run_id}.html"


def test_per_user_results_join_and_round_trip(runs):
    df = per_user_results(runs.baseline, runs.rerank)
    base = pd.read_parquet(runs.baseline.path / "per_user.parquet")
    rr = pd.read_parquet(runs.rerank.path / "rerank_per_user.parquet")
    assert len(df) == len(base) and df["user_id"].tolist() == base["user_id"].tolist()
    assert int(df["sent_to_llm"].sum()) == len(rr)
    sent = df[df["sent_to_llm"]].set_index("user_id")
    assert sent.loc[rr["user_id"], "llm_gain_ndcg@10"].tolist() == rr["gain_ndcg@10"].tolist()
    assert df.loc[~df["sent_to_llm"], "llm_gain_ndcg@10"].isna().all()
    back = pd.read_parquet(io.BytesIO(to_parquet_bytes(df)))
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    csv = pd.read_csv(io.BytesIO(to_csv_bytes(df)))
    assert list(csv.columns) == list(df.columns) and len(csv) == len(df)
    assert csv["ndcg@10"].tolist() == pytest.approx(df["ndcg@10"].tolist(), nan_ok=True)
    assert per_user_results(runs.baseline).shape == base.shape


def test_bad_inputs(runs, tmp_path):
    with pytest.raises(AnalysisError) as err:
        build_report(runs.rerank)
    assert str(err.value) == NOT_A_BASELINE.format(run_id=runs.rerank.run_id, kind="rerank")
    other = replace(runs.rerank, parent_run_id="someone-else")
    with pytest.raises(AnalysisError) as err:
        per_user_results(runs.baseline, other)
    assert str(err.value) == WRONG_PARENT.format(rerank=other.run_id, parent="someone-else",
                                                 baseline=runs.baseline.run_id)
    gone = replace(runs.baseline, path=tmp_path)
    with pytest.raises(AnalysisError) as err:
        build_report(gone)
    assert str(err.value) == MISSING_FILE.format(run_id=gone.run_id, name="summary.json",
                                                 path=tmp_path)


def test_report_shows_adjusted_p_values_reliability_and_validated_cohorts(runs, full):
    """The subgroup and cohort sections carry what the run decided: Holm and BH p-values
    beside the raw ones, which groups are too small, and each cohort's test figure."""
    html = full.html
    summary = json.loads((runs.baseline.path / "summary.json").read_text())
    d = summary["disparity"][0]
    assert "kruskal_p_holm" in html and "kruskal_p_bh" in html
    assert f"<td>{d['kruskal_p_holm']:.3g}</td>" in html
    assert f"Holm- and BH-adjusted over {d['p_family_size']} tests" in html
    assert f"groups of at least {d['min_group_size']} users" in html
    assert "<th>reliable</th>" in html
    cohorts = pd.read_csv(runs.baseline.path / "weak_cohorts.csv")
    assert "<th>test_mean</th>" in html and "<th>val_mean</th>" in html
    assert f"<td>{cohorts['test_mean'].iloc[0]:,.4f}</td>" in html
