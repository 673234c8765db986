"""Tests of analysis/subgroups/sampling.py: allocation, the draw, the stratified estimators
(hand-computed), their coverage in a seeded simulation, and a sampled pipeline run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.ingest import dataset_from_frames
from analysis.ingest.synthetic import generate_synthetic
from analysis.pipeline import EvaluateConfig, run_pipeline, settings_text
from analysis.subgroups.sampling import (
    UNSAMPLED,
    SampleConfig,
    UserSample,
    allocate,
    domain_means,
    estimate_total,
    project_llm_cost,
    project_weak_users,
    sample_users,
)


def _tiny():
    """Stratum A: 4 users, 2 sampled; B: 6 users, 3 sampled (weights 2 and 2)."""
    table = pd.DataFrame({"s": pd.Categorical(list("AAAABBBBBB"))})
    sample = sample_users(table, np.ones(10, bool), SampleConfig(size=5, by=("s",), seed=7))
    y = np.full(10, np.nan)
    y[np.flatnonzero(sample.sampled)] = [1.0, 3.0, 2.0, 2.0, 5.0]  # A: 1, 3; B: 2, 2, 5
    return sample, y


def test_allocation_is_proportional_with_a_minimum_and_sums_to_the_size():
    assert allocate(np.array([50, 30, 20]), 10).tolist() == [5, 3, 2]
    assert allocate(np.array([97, 2, 1]), 10, 2).tolist() == [7, 2, 1]
    assert allocate(np.array([90, 5, 5]), 12, 3).tolist() == [6, 3, 3]
    assert allocate(np.array([3, 3]), 6).tolist() == [3, 3]  # census
    with pytest.raises(AnalysisError, match="at least 6 needed"):
        allocate(np.array([10, 10, 10]), 5, 2)


def test_the_draw_is_seeded_stratified_and_weighted():
    sample, _ = _tiny()
    assert sample.strata["population"].tolist() == [4, 6]
    assert sample.strata["sampled"].tolist() == [2, 3]
    assert sample.weight[sample.sampled].tolist() == [2.0] * 5
    assert (sample.weight[~sample.sampled] == 0).all()
    again, _ = _tiny()
    assert (again.sampled == sample.sampled).all()
    other = sample_users(
        pd.DataFrame({"s": list("AAAABBBBBB")}),
        np.ones(10, bool),
        SampleConfig(size=5, by=("s",), seed=8),
    )
    assert (other.sampled != sample.sampled).any()
    pair = pd.DataFrame({"a": list("xxyy"), "b": pd.Categorical(list("pqqq"), ["q", "p"])})
    two = sample_users(pair, np.ones(4, bool), SampleConfig(size=4, by=("a", "b")))
    assert two.strata["stratum"].tolist() == ["x × q", "x × p", "y × q"]
    assert two.strata["population"].tolist() == [1, 1, 2]


def test_total_and_mean_match_hand_computed_values_with_the_fpc():
    sample, y = _tiny()
    # T = 4 * 2 + 6 * 3 = 26; V = 4^2 (1 - 1/2) 2 / 2 + 6^2 (1 - 1/2) 3 / 3 = 8 + 18
    total = estimate_total(sample, np.nan_to_num(y))
    assert total.value == pytest.approx(26.0)
    assert total.se == pytest.approx(np.sqrt(26.0))
    assert total.high - total.value == pytest.approx(1.959964 * np.sqrt(26.0), rel=1e-6)
    whole = domain_means(sample, y, np.zeros(10, np.int64), 1)
    assert whole.mean[0] == pytest.approx(2.6) and whole.se[0] == pytest.approx(np.sqrt(0.26))
    # domain 1 = first sampled user of A and the first two of B: ybar = (2*1 + 2*4) / 6 = 5/3;
    # z = d (y - 5/3) / 6: s2_A = 1/162, s2_B = 1/972 -> V = 4/162 + 6/972 = 5/162
    groups = np.zeros(10, np.int64)
    groups[np.flatnonzero(sample.sampled)[[0, 2, 3]]] = 1
    dom = domain_means(sample, y, groups, 2)
    assert dom.mean[1] == pytest.approx(5 / 3) and dom.population[1] == pytest.approx(6.0)
    assert dom.se[1] == pytest.approx(np.sqrt(5 / 162)) and dom.n.tolist() == [2, 3]


def test_a_census_has_no_sampling_error():
    table = pd.DataFrame({"s": list("AAAABBBBBB")})
    census = sample_users(table, np.ones(10, bool), SampleConfig(fraction=1.0, by=("s",)))
    y = np.arange(10, dtype=float)
    assert estimate_total(census, y).se == 0.0 and estimate_total(census, y).value == 45.0
    assert domain_means(census, y, np.zeros(10, np.int64), 1).se[0] == 0.0


def test_weak_users_and_llm_cost_are_projected_with_intervals():
    sample, _ = _tiny()
    weak = np.zeros(10, bool)
    weak[np.flatnonzero(sample.sampled)[[0, 2]]] = True  # one weak in A, one in B
    w = project_weak_users(sample, weak)
    assert w.value == pytest.approx(4.0)  # 4 * 1/2 + 6 * 1/3
    # V = 16 * 0.5 * 0.5 / 2 + 36 * 0.5 * (1/3) / 3 = 2 + 2
    assert w.se == pytest.approx(2.0) and w.low == 2.0  # clipped at the 2 weak users seen
    usd = np.where(sample.sampled, 0.5, 0.0)
    cost = project_llm_cost(sample, weak, usd)
    assert cost.value == pytest.approx(2.0) and cost.se == pytest.approx(1.0)
    scalar = project_llm_cost(sample, weak, 0.5, usd_se=0.1)
    assert scalar.value == pytest.approx(2.0)
    assert scalar.se == pytest.approx(np.sqrt(0.25 * 4 + 16 * 0.01 + 4 * 0.01))


def test_bad_settings_are_one_line_errors():
    table = pd.DataFrame({"s": list("AB")})
    with pytest.raises(AnalysisError, match="exactly one of a size or a fraction"):
        sample_users(table, np.ones(2, bool), SampleConfig(by=("s",)))
    with pytest.raises(AnalysisError, match="fraction must lie in"):
        sample_users(table, np.ones(2, bool), SampleConfig(fraction=1.5, by=("s",)))
    with pytest.raises(AnalysisError, match="'nope' is not in the per-user table"):
        sample_users(table, np.ones(2, bool), SampleConfig(size=1, by=("nope",)))


def test_the_95_interval_covers_the_population_value_at_the_nominal_rate():
    """400 seeded samples of 1,000 from 20,000 users in 4 strata of unequal sizes: the domain
    means (3 groups cutting across strata, 10% not evaluated) and the weak-user total."""
    rng = np.random.default_rng(2026)
    n = 20_000
    stratum = rng.choice(4, size=n, p=[0.5, 0.3, 0.15, 0.05])
    group = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    y = np.where(rng.random(n) < 0.5 + 0.1 * stratum, 0.0, rng.beta(2, 2 + group, n))
    y[rng.random(n) < 0.1] = np.nan
    weak = np.nan_to_num(y, nan=1.0) < 0.15
    truth = np.array([np.nanmean(y[group == g]) for g in range(3)])
    table = pd.DataFrame({"h": stratum})
    frame = np.ones(n, bool)
    hits, weak_hits = np.zeros(3), 0
    for rep in range(400):
        s = sample_users(table, frame, SampleConfig(size=1000, by=("h",), seed=rep))
        m = domain_means(s, y, group, 3)
        hits += (m.low <= truth) & (truth <= m.high)
        t = estimate_total(s, weak.astype(float))
        weak_hits += t.low <= weak.sum() <= t.high
    coverage = hits.sum() / 1200
    assert 0.93 <= coverage <= 0.97, coverage
    assert 0.93 <= weak_hits / 400 <= 0.97, weak_hits / 400


@pytest.fixture(scope="module")
def runs():
    synth = generate_synthetic(2000, 600, seed=5, mean_interactions=20.0)
    ds = dataset_from_frames(synth.interactions, synth.users, synth.items, name="synth")
    base = EvaluateConfig(model="pop", k=10, split="random", seed=0)
    sampled = EvaluateConfig(
        model="pop",
        k=10,
        split="random",
        seed=0,
        sample=SampleConfig(fraction=0.3, by=("activity", "mainstream")),
    )
    return run_pipeline(ds, base), run_pipeline(ds, sampled)


def test_a_sampled_run_evaluates_only_its_sample_and_projects_the_full_run(runs):
    full, part = runs
    s = part.sample
    assert s is not None and full.sample is None
    assert s.sample.n_sampled == round(0.3 * s.sample.n_frame)
    evaluated = part.per_user["evaluated"].to_numpy(bool)
    assert not (evaluated & ~part.per_user["sampled"].to_numpy(bool)).any()
    assert (part.split.fold == UNSAMPLED).any()
    # the same model scores a sampled user the same in both runs
    both = evaluated & full.per_user["evaluated"].to_numpy(bool)
    np.testing.assert_allclose(
        part.per_user.loc[both, "ndcg@10"], full.per_user.loc[both, "ndcg@10"]
    )
    w = s.weak_users
    assert w.low <= full.weak.n_weak <= w.high, (full.weak.n_weak, w)
    assert s.overall.low <= full.evaluation.overall()["ndcg@10"] <= s.overall.high
    report = part.subgroups[0]
    assert {"population", "ci_half_width"} <= set(report.by_group.columns)
    assert s.group_half_width_max >= s.group_half_width_median > 0
    back = UserSample.from_columns(
        part.per_user["sample_stratum"], part.per_user["sampled"], s.sample.config
    )
    pd.testing.assert_frame_equal(back.strata, s.sample.strata)
    np.testing.assert_array_equal(back.weight, s.sample.weight)
    assert settings_text(part.config).endswith(" sample=0.3 by=activity,mainstream seed=0")
    j = json.loads(json.dumps(s.to_json()))  # plain JSON values only
    assert j["strata"][0]["population"] >= j["strata"][0]["sampled"] >= 2
    assert j["n_sampled"] == s.sample.n_sampled and j["weak_users_projected"]["low"] == w.low


def test_evaluate_sample_flags_print_the_sample_and_record_weights(tmp_path, capsys):
    from analysis.cli import main

    data, ws, out = tmp_path / "data", tmp_path / "ws.duckdb", tmp_path / "run"
    assert main(["--quiet", "synth", "--users", "400", "--items", "150", "--out", str(data)]) == 0
    args = [
        "--quiet",
        "evaluate",
        "--interactions",
        str(data / "interactions.parquet"),
        "--model",
        "pop",
        "--split",
        "random",
        "--workspace",
        str(ws),
        "--out",
        str(out),
        "--sample-fraction",
        "0.5",
        "--sample-by",
        "activity,inactive",
        "--sample-seed",
        "3",
    ]
    assert main(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "sample: " in printed and "weak users projected to all users" in printed
    per_user = pd.read_parquet(out / "per_user.parquet")
    weights = per_user.loc[per_user["sampled"], "sample_weight"]
    assert len(weights) and (weights >= 1.0).all()
    assert not per_user.loc[~per_user["sampled"], "evaluated"].any()
    # read back from its folder, the run keeps its sample and projects its weak users
    from analysis.runs.baseline import load_run

    run = load_run(out)
    table = run.per_user
    back = UserSample.from_columns(table["sample_stratum"], table["sampled"], SampleConfig())
    assert back.n_sampled == int(per_user["sampled"].sum())
    assert (run.split.fold == UNSAMPLED).any()
    weak = project_weak_users(back, table["weak"].to_numpy(bool))
    assert weak.low <= weak.value <= weak.high and weak.value >= table["weak"].sum()
    recorded = run.summary.sample  # summary.json carries the sample and its projections
    assert recorded is not None and recorded["n_sampled"] == back.n_sampled
    # the rerank's dry run projects the weak users and their bill to every user
    assert main(["--quiet", "rerank", "--run", str(out), "--backend", "anthropic", "--model",
                 "claude-haiku-4-5", "--dry-run"]) == 0, capsys.readouterr().err
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("sampled run"))
    assert line.startswith(f"sampled run ({back.n_sampled:,} of {back.n_frame:,} users): every "
                           f"user's weak users ~{weak.value:,.0f} (95% CI {weak.low:,.0f} to ")


def test_a_page_report_of_a_sampled_table_is_the_pipelines_design_report(runs):
    """report_of_table (what the Subgroups page shows) equals the sampled run's own reports."""
    from analysis.subgroups.sampling import report_of_table, sample_of_table

    full, sampled = runs
    table = sampled.per_user
    assert sample_of_table(full.per_user) is None
    stored = sampled.subgroups[0]
    again = report_of_table(table, stored.metric, stored.dimension, weak=sampled.weak.mask,
                            min_group_size=sampled.config.min_group_size,
                            seed=sampled.config.seed)
    pd.testing.assert_frame_equal(again.by_group, stored.by_group)
