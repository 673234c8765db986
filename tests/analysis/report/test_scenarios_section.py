"""The report's Scenarios section: shown for a run whose dataset has scenarios (ingested with
a scenario column), naming the planted hard scenario; absent otherwise."""

from __future__ import annotations

from analysis.ingest import load_dataset
from analysis.ingest.uploads import ingest_synthetic
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.report import build_report
from analysis.runs.store import RunStore
from analysis.workspace import Workspace
from tests.analysis.report._fixtures import WHEN


def test_section_names_the_planted_hard_scenario(tmp_path, runs):
    ws = Workspace(tmp_path / "ws.duckdb")
    ingest_synthetic(ws, "scen", n_users=300, n_items=120, mean_interactions=15, seed=2,
                     n_scenarios=3)
    ds = load_dataset(ws, "scen")
    assert ds.scenario_names == ("email", "home", "search")
    config = EvaluateConfig(model="als", model_params={"factors": 16, "iterations": 8},
                            split="random", min_group_size=10)
    info = RunStore(ws).save_baseline(run_pipeline(ds, config))
    html = build_report(info, generated_at=WHEN).html
    section = html[html.index('<section id="scenarios">'):]
    section = section[:section.index("</section>")]
    # the generator's scenarios are home, search, email; the last is planted hard
    assert "Worst scenario: email, ndcg@10 " in section
    assert "Cross-scenario against single-scenario users" in section
    assert "weak (user, scenario) pairs of" in section
    assert "Scenario by activity: mean ndcg@10 per cell" in section and "Worst cell: email x " \
        in section
    assert '<a href="#scenarios">Scenarios</a>' in html
    # a run without scenarios: no section, no link
    plain = build_report(runs.baseline, generated_at=WHEN).html
    assert 'id="scenarios"' not in plain and "#scenarios" not in plain
