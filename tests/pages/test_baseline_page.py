"""The Baseline page driven through AppTest: model and split forms, a pop baseline trained
in the background and listed, setting errors as one line, cancel, delete with confirmation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.ingest import ingest
from analysis.ingest.uploads import ingest_synthetic
from analysis.jobs.manager import get_job_manager
from analysis.runs.compare import BAD_INT
from analysis.runs.store import RunStore
from analysis.split import NO_TIMESTAMPS
from analysis.workspace import Workspace
from tests.pages._app import JOB_WAIT_S, wait_adopted

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/2_baseline.py"


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A workspace with a small synthetic dataset and one without timestamps (built once)."""
    path = tmp_path_factory.mktemp("baseline") / "ws.duckdb"
    ws = Workspace(path)
    ingest_synthetic(ws, "syn", n_users=150, n_items=80, mean_interactions=12.0, seed=1)
    csv = path.parent / "nots.csv"
    rows = [f"{u},{i},{1 + (u + i) % 5}" for u in range(30) for i in range(u % 7, u % 7 + 12)]
    csv.write_text("user_id,item_id,rating\n" + "\n".join(rows) + "\n")
    ingest(ws, "nots", csv)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WEAKSPOT_WORKSPACE", str(path))
        yield ws


def _page(dataset: str = "syn") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["run_id"] = "none"  # no demo run needed on this page
    at.session_state["dataset"] = dataset
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _click(at, key):
    next(b for b in at.button if b.key == key).click()
    at.run()
    assert not at.exception, at.exception




def _train_and_wait(at, ws):
    """Click Train and wait for the job to end, however long the machine takes.

    The page adopts a job that has ended (it drops ``baseline_job`` from the session and
    shows the outcome) on whichever run first sees it ended, possibly the click's own run, so
    the job is found in the job manager (the newest baseline job), never by a fixed sleep.
    The page is re-run only while it has not yet adopted the job.
    """
    manager = get_job_manager(ws)
    before = {j.job_id for j in manager.jobs(kind="baseline")}
    _click(at, "baseline_train")
    job_id = at.session_state["baseline_job"] if "baseline_job" in at.session_state else next(
        j.job_id for j in manager.jobs(kind="baseline") if j.job_id not in before)
    return wait_adopted(at, manager, job_id)


def test_hyperparameter_form_follows_the_model(ws):
    at = _page()
    assert at.selectbox(key="baseline_dataset").value == "syn"
    assert at.number_input(key="baseline_param_als_factors").value == 32
    assert at.number_input(key="baseline_param_als_factors").help.startswith("latent factors")
    at.selectbox(key="baseline_model").set_value("itemknn").run()
    sim = at.selectbox(key="baseline_param_itemknn_similarity")
    assert sim.options == ["cosine", "bm25"] and sim.value == "cosine"
    at.selectbox(key="baseline_split").set_value("random").run()
    assert at.number_input(key="baseline_split_test_fraction").value == pytest.approx(0.1)
    at.selectbox(key="baseline_model").set_value("pop").run()
    assert any("no hyperparameters" in c.value for c in at.caption)


def test_train_pop_baseline_then_listed_and_active(ws):
    at = _page()
    at.selectbox(key="baseline_model").set_value("pop")
    at.number_input(key="baseline_k").set_value(5)
    at.number_input(key="baseline_candidates").set_value(10)
    status = _train_and_wait(at, ws)
    assert status.state == "done", status.error
    assert at.session_state["run_id"] == status.run_id
    assert any(status.run_id in s.value for s in at.success)
    table = at.dataframe[-1].value
    row = table[table["run_id"] == status.run_id].iloc[0]
    info = RunStore(ws).get(status.run_id)
    assert row["model"] == "pop" and row["k"] == 5 and row["params"] == "(none)"
    assert row["split"] == "temporal (n_validation=5, n_test=5)"
    assert row["ndcg"] == pytest.approx(info.headline["overall"]["ndcg@5"])
    assert row["auc"] == pytest.approx(info.headline["overall"]["auc"])
    assert info.params["n_candidates"] == 10

    # a reload (new session) still lists it
    again = _page()
    assert status.run_id in again.dataframe[-1].value["run_id"].tolist()

    # delete with confirmation
    again.selectbox(key="baseline_delete_run").set_value(status.run_id)
    _click(again, "baseline_delete")
    assert any("Delete run" in w.value for w in again.warning)
    _click(again, "baseline_delete_confirm")
    assert status.run_id not in RunStore(ws).list_runs()["run_id"].tolist()
    assert any("No run of this dataset yet" in i.value for i in again.info)


def test_temporal_split_without_timestamps_is_one_line_error(ws):
    at = _page("nots")
    assert at.selectbox(key="baseline_dataset").value == "nots"
    at.selectbox(key="baseline_model").set_value("pop")
    _click(at, "baseline_train")
    assert [e.value for e in at.error] == [
        NO_TIMESTAMPS.format(name="nots", strategy="temporal") + " Choose the random Split on "
        "the Baseline page, or ingest the data again on the Data page with its Timestamp "
        "column picked."
    ]
    assert "baseline_job" not in at.session_state


def test_bad_k_and_bad_param_are_one_line_errors(ws):
    at = _page()
    at.number_input(key="baseline_k").set_value(0)
    _click(at, "baseline_train")
    assert [e.value for e in at.error] == [BAD_INT.format(name="k", minimum=1, value=0)]
    at.number_input(key="baseline_k").set_value(10)
    at.number_input(key="baseline_param_als_factors").set_value(0)
    _click(at, "baseline_train")
    assert len(at.error) == 1 and "'factors'" in at.error[0].value
    assert "baseline_job" not in at.session_state


def test_failed_job_shows_its_one_line_error(ws):
    at = _page()
    at.selectbox(key="baseline_model").set_value("pop")
    at.selectbox(key="baseline_split").set_value("random").run()
    at.number_input(key="baseline_split_test_fraction").set_value(0.95)  # checked in the job
    status = _train_and_wait(at, ws)
    assert status.state == "failed"
    assert [e.value for e in at.error] == [status.error]
    assert "Split fractions" in status.error or "must be in" in status.error


def _until_cancelled(fraction: float, message: str):
    """A job that reports ``fraction`` and ``message`` then runs until cancelled."""

    def job(ctx):
        ctx.progress(fraction, message)
        deadline = time.monotonic() + JOB_WAIT_S  # ends on cancel; the bound only stops a leak
        while not ctx.cancelled and time.monotonic() < deadline:
            time.sleep(0.02)

    return job


def test_progress_and_cancel(ws):
    manager = get_job_manager(ws)
    slow = _until_cancelled(0.4, "fit: epoch 2/5")

    at = _page()
    at.session_state["baseline_job"] = job = manager.submit("baseline", "syn: slow", slow)
    deadline = time.monotonic() + JOB_WAIT_S
    while manager.get(job).progress < 0.4 and time.monotonic() < deadline:
        time.sleep(0.01)  # the job thread reports asynchronously
    at.run()
    bars = at.get("progress")
    assert any("fit: epoch 2/5 (40%)" in b.proto.text for b in bars)
    # the sidebar and the page show the same stage, in the same words
    side = [p.text for p in at.sidebar.get("progress")]
    main = [p.text for p in at.main.get("progress")]
    assert side == main == ["syn: slow: fit: epoch 2/5 (40%)"]
    assert next(b for b in at.button if b.key == "baseline_train").disabled
    _click(at, "baseline_cancel")
    status = manager.wait(job, timeout=JOB_WAIT_S)
    assert status.state == "cancelled"
    at.run()
    assert any("cancelled" in i.value for i in at.info)
    assert not next(b for b in at.button if b.key == "baseline_train").disabled


def _frame(at, column):
    """The page's table holding ``column`` (AppTest does not expose a dataframe's key)."""
    return next(d for d in at.dataframe if column in d.value.columns)


def test_run_table_leads_with_metrics_and_runs_compare_at_one_threshold(ws):
    """Issue #9, point 14: NDCG, recall and AUC come first in narrow columns; the weak-user
    comparison applies the reference run's threshold to every run."""
    import json

    from analysis.ingest import load_dataset
    from analysis.pipeline import EvaluateConfig, run_pipeline
    from analysis.runs.compare import compare_weak_users

    ingest_synthetic(ws, "two", n_users=120, n_items=60, mean_interactions=12.0, seed=3)
    store = RunStore(ws)
    data = load_dataset(ws, "two")
    split = {"n_validation": 2, "n_test": 2}
    ids = [store.save_baseline(run_pipeline(data, EvaluateConfig(
        model=m, k=5, n_candidates=10, split_params=split))).run_id for m in ("pop", "als")]
    at = _page("two")
    runs = _frame(at, "params")
    assert list(runs.proto.column_order)[:5] == ["model", "ndcg", "recall", "auc", "weak_share"]
    widths = {c: v.get("width") for c, v in json.loads(runs.proto.columns).items()}
    assert all(widths[c] == "small" for c in ("model", "ndcg", "recall", "auc", "weak_share"))

    newest = runs.value["run_id"].iloc[0]  # without an active run of it, the newest
    assert set(runs.value["run_id"]) == set(ids)
    assert at.selectbox(key="baseline_weak_reference").value == newest
    expected = compare_weak_users(store, "two", newest)
    counts = _frame(at, "n_weak").value
    assert counts["run_id"].tolist() == expected.counts["run_id"].tolist()
    assert counts["n_weak"].tolist() == expected.counts["n_weak"].tolist()
    pairs = _frame(at, "not_weak_under").value
    assert pairs["n_users"].tolist() == expected.pairs["n_users"].tolist()
    first = expected.pairs.iloc[0]["user_ids"]
    assert pairs.iloc[0]["user_ids"].startswith(", ".join(map(str, first[:3])))
    assert any(f"val_{expected.metric} ≤ {expected.threshold:.4f}" in c.value for c in at.caption)

    oldest = runs.value["run_id"].iloc[1]
    at.selectbox(key="baseline_weak_reference").set_value(oldest).run()
    assert not at.exception, at.exception
    other = compare_weak_users(store, "two", oldest)
    assert _frame(at, "n_weak").value["n_weak"].tolist() == other.counts["n_weak"].tolist()


def test_training_the_same_settings_twice_follows_the_running_job(ws):
    """A double submit (two tabs, a click queued before the button greyed out) never trains
    the same baseline twice: the page follows the job already running."""
    manager = get_job_manager(ws)
    slow = _until_cancelled(0.1, "fit")

    title = "syn: pop, temporal split, k=5"
    first = manager.submit("baseline", title, slow)
    try:
        at = _page()  # another session: it knows nothing of the first job
        at.selectbox(key="baseline_model").set_value("pop")
        at.number_input(key="baseline_k").set_value(5)
        _click(at, "baseline_train")
        assert at.session_state["baseline_job"] == first
        same = [j for j in manager.active() if j.title == title]
        assert [j.job_id for j in same] == [first]
        assert next(b for b in at.button if b.key == "baseline_train").disabled
    finally:
        manager.cancel(first)
        manager.wait(first, timeout=JOB_WAIT_S)


def test_a_sampled_run_trains_from_the_page(ws):
    """'Sample the users': the run evaluates a stratified sample, says so in its label and
    records the sample in its summary."""
    from analysis.runs.baseline import read_summary

    at = _page()
    at.selectbox(key="baseline_model").set_value("pop")
    at.toggle(key="baseline_sample").set_value(True).run()
    at.slider(key="baseline_sample_f").set_value(0.5)
    status = _train_and_wait(at, ws)
    assert status.state == "done", status.error
    info = RunStore(ws).get(status.run_id)
    assert info.label.endswith(" · 50% sample")
    sample = read_summary(info.path).sample
    assert sample is not None and 0 < sample["n_sampled"] < sample["n_frame"]
