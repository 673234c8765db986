"""The Remedies page offers the scenario-aware re-scorer only for a run whose dataset has
scenarios; run as a job from the page, it and its id control join the comparison."""

from __future__ import annotations

import time

import pytest

from analysis.ingest import load_dataset
from analysis.ingest.uploads import ingest_synthetic
from analysis.jobs.manager import get_job_manager
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.runs.store import RunStore
from analysis.workspace import Workspace
from tests.pages._app import open_page

PAGE = "pages/6_remedies.py"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("msr_page") / "ws.duckdb")
    ingest_synthetic(ws, "scen", n_users=150, n_items=80, mean_interactions=15.0, seed=4,
                     n_scenarios=3)
    info = RunStore(ws).save_baseline(run_pipeline(load_dataset(ws, "scen"),
                                                   EvaluateConfig(model="pop", seed=1)))
    return ws, info.run_id


def test_the_rescorer_runs_from_the_page_and_joins_the_comparison(workspace, monkeypatch):
    workspace, run_id = workspace
    at = open_page(workspace.path, PAGE, monkeypatch)
    label = "Scenario-aware re-scorer (LLM4MSR)"
    assert label not in at.selectbox(key="rm_kind").options  # the demo run: no scenarios
    at.selectbox(key="sidebar_run").set_value(run_id).run()
    assert label in at.selectbox(key="rm_kind").options
    at.selectbox(key="rm_kind").set_value("msr_rescorer").run()
    at.number_input(key="rm_dim").set_value(8).run()
    # the dry run first: one prompt per scenario and per user, nothing encoded yet
    dry = next(c.value for c in at.caption if c.value.startswith("Dry run of the knowledge"))
    n_users = workspace.dataset_info(RunStore(workspace).get(run_id).dataset)["n_users"]
    assert f"scenario prompts + {n_users} user prompts" in dry and "0 cached" in dry
    at.button(key="rm_run").click().run()
    assert not at.exception, at.exception
    status = get_job_manager(workspace).wait(at.session_state["remedy_job"], timeout=600)
    assert status.state == "done", status
    time.sleep(0.05)
    at = at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert "MSR re-scorer (tfidf knowledge, weak users)" in table.columns
    assert "MSR re-scorer (id embeddings, weak users)" in table.columns
