"""Tests of analysis/report.py: the self-contained HTML report and the per-user exports."""

from __future__ import annotations

import io
import json
import re
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
from tests.analysis._fixtures_report import MODEL, build_runs

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


# --- issue 9, point 16: a verdict first, then evidence, cost and the model as used ---------


def _text(html: str) -> str:
    """The report's visible text: no scripts (plotly's data), no styles, no tags."""
    html = re.sub(r"<script.*?</script>|<style.*?</style>", "", html, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_report_opens_with_the_verdict_on_the_net_gain_and_cost(runs, full):
    from analysis.formatting import fmt_int, fmt_signed, fmt_usd
    from analysis.report import QUESTION

    rr = json.loads((runs.rerank.path / "rerank_summary.json").read_text())
    net, users = rr["net_gain"], rr["users"]
    html = full.html
    # the verdict comes before any evidence, the question then the one-sentence answer
    assert html.index('id="verdict"') < html.index('id="evidence"') < html.index('id="cost"')
    assert QUESTION in html
    answer = full.headline["verdict"]
    assert html.index(QUESTION) < html.index(answer.replace("'", "&#39;"))
    lo, hi = net["ci95"]
    assert f"by {fmt_signed(net['mean'])} net of the best free reordering ({net['control']})" \
        in answer
    assert f"95% interval {fmt_signed(lo)} to {fmt_signed(hi)}" in answer
    assert net["cost_per_0.01_net_ndcg_usd"] is None  # the fake LLM loses: nothing to buy
    assert "there is no net gain to buy" in answer
    assert (f"all {fmt_int(users['weak_all'])} weak users of its rule would cost about "
            f"{fmt_usd(users['deployment_usd_expected'])}") in answer
    assert "not measured yet" not in answer
    rule = rr["config"]["rule"]  # the rerank's own rule is named beside its count
    assert f"weak users of the rerank's rule (validation {rule['metric']} ≤" in answer


def test_baseline_only_verdict_is_not_measured_yet_with_the_free_bracket(runs):
    from analysis.formatting import fmt_metric
    from analysis.report import dry_run_bracket
    from analysis.runs.baseline import load_run

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


def test_report_has_a_cost_section_with_the_prices_used(runs, full):
    from analysis.formatting import fmt_usd

    rr = json.loads((runs.rerank.path / "rerank_summary.json").read_text())
    cost = full.html[full.html.index('id="cost"'):full.html.index('id="model"')]
    text = _text(cost)
    assert f"paid by this job {fmt_usd(rr['usd_spent_this_job'])}" in text
    assert (f"per weak user sent {fmt_usd(rr['gains']['cost_per_selected_user_usd'])}"
            in text)
    assert (f"deployment: all {rr['users']['weak_all']} weak users "
            f"{fmt_usd(rr['users']['deployment_usd_expected'])}") in text
    price = rr["prices"]["prices"][MODEL]
    assert f"{MODEL}: ${price['input']:g} per million input tokens" in text
    assert f"prices of {rr['prices']['taken_on']}" in text
    assert "claude-opus-4-1" not in cost  # only the price of the model used
    base_only = build_report(runs.baseline).html
    assert "Nothing spent yet" in base_only


def test_report_shows_the_model_parameters_as_used(runs, full):
    summary = json.loads((runs.baseline.path / "summary.json").read_text())
    assert summary["config"]["model_params"] == {}  # the user overrode nothing...
    params = summary["model"]["params"]
    assert params["factors"] == 32  # ...and the model ran with its defaults
    html = full.html
    assert "&quot;model_params&quot;: {}" not in html
    assert "&quot;factors&quot;: 32" in html
    model = _text(html[html.index('id="model"'):html.index('id="settings"')])
    for name, value in params.items():
        assert f"{name} {value:g}" in model


def test_report_numbers_are_for_people_and_source_has_no_server_path(runs, full):
    for r in (full, build_report(runs.baseline)):
        text = _text(r.html)
        assert not re.findall(r"\d\.\d{7,}", text), re.findall(r"\d\.\d{7,}", text)[:5]
        assert runs.workspace.path not in r.html  # a server path tells a reader nothing
        assert str(Path(runs.workspace.path).parent) not in r.html
    summary = json.loads((runs.baseline.path / "summary.json").read_text())
    assert summary["dataset"]["sparsity"] == pytest.approx(0.98305, abs=1e-5)
    assert "sparsity 0.9831" in _text(full.html)
    assert "interactions 76,270" in _text(full.html)
    source = full.html[full.html.index("<h3>Source</h3>"):]
    assert "&quot;workspace&quot;: &quot;ws.duckdb&quot;" in source


def test_report_subgroup_chart_has_one_sorted_panel_per_dimension(runs, full):
    from analysis.report import SMALL_GROUP_MARK, subgroup_figure

    sg = pd.DataFrame({"dimension": ["a", "a", "a", "b", "b"], "group": ["x", "y", "z", "u", "v"],
                       "size": [50, 5, 30, 40, 41], "mean": [0.2, 0.9, 0.1, 0.3, 0.4],
                       "ci_low": [0.1, 0.5, 0.0, 0.2, 0.3], "ci_high": [0.3, 1.0, 0.2, 0.4, 0.5]})
    fig = subgroup_figure(sg, "t", min_size=20)
    assert len(fig.data) == 2  # one trace per dimension, never one mixed bar chart
    a, b = fig.data
    assert a.yaxis != b.yaxis
    # sorted by mean (plotly draws the first y at the bottom: best first, worst on top)
    assert list(a.y) == [f"y (n=5){SMALL_GROUP_MARK}", "x (n=50)", "z (n=30)"]
    assert list(a.marker.color) == ["#DDDDDD", "#332288", "#332288"]  # small group pale
    assert list(b.y) == ["v (n=41)", "u (n=40)"]
    # in the report: the subgroups chart's labels carry their sizes
    groups = pd.read_csv(runs.baseline.path / "subgroups.csv")
    first = groups.iloc[0]
    assert f"{first['group']} (n={first['size']:,})" in full.html


def test_report_template_autoescapes():
    from analysis.report import _ENV

    assert (Path(__file__).parents[2] / "analysis" / "templates" / "report.html.j2").is_file()
    assert _ENV.autoescape is True
    out = _ENV.from_string("{{ x }}").render(x="<b>gold</b>")
    assert out == "&lt;b&gt;gold&lt;/b&gt;"
