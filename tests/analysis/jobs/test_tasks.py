"""Tests of analysis/jobs/tasks.py: the app's long jobs as plain functions (train and save a
baseline, import an external run, rerank a run's weak users and save the rerank, the demo run
made once), their progress bar (monotone, 100% only when the job has ended), cancels and
one-line failures, called directly and through the job manager."""

from __future__ import annotations

import pytest

from analysis.ingest.demo import DEMO_NAME
from analysis.jobs.manager import JobManager
from analysis.jobs.tasks import (
    SAVE_AT,
    STAGE_WEIGHTS,
    baseline_task,
    ensure_demo_run,
    remedy_task,
    rerank_task,
)
from analysis.pipeline import EvaluateConfig
from analysis.rerank.config import RerankConfig
from analysis.runs.store import RunStore
from analysis.weak_users import WeakRule
from models.llm.fake import FakeBackend


class Recorder:
    """A job context that records every progress call and is never cancelled."""

    cancelled = False

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def progress(self, fraction: float, message: str = "", **detail) -> None:
        self.calls.append((fraction, message))


def test_stage_weights_fill_the_bar_and_saving_starts_at_95_percent():
    assert sum(STAGE_WEIGHTS.values()) == pytest.approx(1.0)
    assert SAVE_AT == pytest.approx(0.95)


def test_a_baseline_task_reports_weighted_stages_and_saves_its_run(ws):
    ensure_demo_run(ws)
    ctx = Recorder()
    run_id = baseline_task(ws, DEMO_NAME, EvaluateConfig(model="pop", k=5))(ctx)
    info = RunStore(ws).get(run_id)
    assert (info.kind, info.dataset, info.params["model"]) == ("baseline", DEMO_NAME, "pop")
    fractions = [f for f, _ in ctx.calls]
    assert fractions == sorted(fractions) and 0.0 <= min(fractions)
    assert ctx.calls[0] == (0.0, "loading the dataset")
    assert ctx.calls[-1] == (SAVE_AT, "saving the run")
    by_text = {m: f for f, m in ctx.calls}
    # split 5% + fit 55% + evaluate 30%, then the pipeline's last stage ends at 95%
    assert by_text["subgroups and cohorts"] == pytest.approx(0.95)
    assert min(f for f, m in ctx.calls if m.startswith("evaluate")) >= 0.6 - 1e-12


def test_a_rerank_task_sends_the_weak_users_and_saves_a_child_run(ws):
    base = ensure_demo_run(ws)
    ctx = Recorder()
    cfg = RerankConfig(backend="fake", model="claude-haiku-4-5",
                       rule=WeakRule(metric="auc", percentile=2.0))
    run_id = rerank_task(ws, base.run_id, cfg, lambda: FakeBackend("claude-haiku-4-5"))(ctx)
    info = RunStore(ws).get(run_id)
    assert (info.kind, info.parent_run_id, info.dataset) == ("rerank", base.run_id, DEMO_NAME)
    assert ctx.calls[0] == (0.0, "building prompts")
    assert ctx.calls[-1] == (SAVE_AT, "saving the run")
    sent = info.headline["n_requests"]
    assert sent > 0 and (SAVE_AT, f"{sent}/{sent} users, 0 fell back") in ctx.calls
    fractions = [f for f, _ in ctx.calls]
    assert fractions == sorted(fractions) and max(fractions) == SAVE_AT


def test_demo_run_is_made_once_and_then_read(ws):
    first = ensure_demo_run(ws)
    again = ensure_demo_run(ws)
    assert first.run_id == again.run_id and first.dataset == DEMO_NAME
    assert (first.path / "per_user.parquet").exists()
    runs = RunStore(ws).list_runs()
    assert len(runs) == 1 and runs.iloc[0]["headline"]["overall"]["ndcg@10"] > 0



def _record_updates(monkeypatch) -> list[tuple[str, float, str]]:
    """Every state a job takes, as (state, progress, stage), in order."""
    seen: list[tuple[str, float, str]] = []
    original = JobManager._update

    def update(self, job_id, *args, **kwargs):
        original(self, job_id, *args, **kwargs)
        st = self._jobs[job_id]
        seen.append((st.state, st.progress, st.stage))

    monkeypatch.setattr(JobManager, "_update", update)
    return seen



def test_a_baseline_job_saves_before_it_is_done_and_never_goes_backwards(ws, monkeypatch):
    ensure_demo_run(ws)
    seen = _record_updates(monkeypatch)
    jm = JobManager(ws)
    job = jm.submit("baseline", "pop", baseline_task(ws, DEMO_NAME, EvaluateConfig(model="pop")))
    assert jm.wait(job, timeout=120).state == "done"
    progress = [p for _, p, _ in seen]
    assert progress == sorted(progress)  # monotone
    stages = [s for _, _, s in seen]
    save = stages.index("saving the run")
    assert progress[save] < 1.0
    assert all(state == "running" and p < 1.0 for state, p, _ in seen[:save + 1])
    assert seen[-1] == ("done", 1.0, "done")
    assert "done" not in stages[:-1]  # "done" only once the job has ended
    assert "subgroups and cohorts" in stages[:save]



def test_a_rerank_job_reaches_100_only_when_done(ws, monkeypatch):
    info = ensure_demo_run(ws)
    seen = _record_updates(monkeypatch)
    jm = JobManager(ws)
    cfg = RerankConfig(backend="fake", model="claude-haiku-4-5",
                       rule=WeakRule(metric="auc", percentile=2.0))
    job = jm.submit("rerank", "fake", rerank_task(ws, info.run_id, cfg,
                                                  lambda: FakeBackend("claude-haiku-4-5")))
    assert jm.wait(job, timeout=120).state == "done"
    progress = [p for _, p, _ in seen]
    assert progress == sorted(progress)
    stages = [s for _, _, s in seen]
    assert stages[0] == "building prompts" and stages[-2:] == ["saving the run", "done"]
    assert progress[-2] < 1.0 == progress[-1]


def _cancelled_at_epoch_1(jm, task, messages: list[str], marker: str = "epoch 1/3"):
    """``task`` as a job function that records every progress message and asks the manager
    to cancel the job once the fit reports ``marker`` (its first epoch of 3)."""

    def fn(ctx):
        report = ctx.progress

        def progress(fraction, message="", **detail):
            messages.append(message)
            report(fraction, message, **detail)
            if marker in message:
                jm.cancel(ctx.job_id)

        ctx.progress = progress
        return task(ctx)

    return fn


def test_a_sasrec_remedy_job_cancelled_mid_fit_stops_within_a_batch_and_saves_nothing(ws):
    """The Cancel of the Remedies page: the manager's flag, set once the first epoch is
    reported, stops the SASRec fit before its next batch; the job ends cancelled."""
    info = ensure_demo_run(ws)
    jm = JobManager(ws)
    task = remedy_task(ws, info.run_id, "sasrec_text", "tfidf", {"dim": 8},
                       sasrec_params={"epochs": 3, "factors": 8, "max_len": 8})
    messages: list[str] = []
    status = jm.wait(jm.submit("remedy", "sasrec_text", _cancelled_at_epoch_1(jm, task, messages)),
                     timeout=300)
    assert (status.state, status.run_id, status.error) == ("cancelled", None, None)
    epochs = [m for m in messages if "epoch" in m]
    assert len(epochs) == 1 and epochs[0].startswith("sasrec: epoch 1/3")  # 2 of 3 never ran
    assert "saving the remedies" not in messages
    assert RunStore(ws).list_runs(kind="remedy").empty


def test_a_sasrec_baseline_job_cancelled_mid_fit_saves_nothing(ws):
    """The Baseline page's Cancel stops a SASRec fit before its next batch."""
    ensure_demo_run(ws)
    jm = JobManager(ws)
    before = len(RunStore(ws).list_runs(kind="baseline"))
    config = EvaluateConfig(model="sasrec", model_params={"epochs": 3, "factors": 8,
                                                          "max_len": 8})
    task = baseline_task(ws, DEMO_NAME, config)
    messages: list[str] = []
    status = jm.wait(jm.submit("baseline", "sasrec", _cancelled_at_epoch_1(jm, task, messages)),
                     timeout=300)
    assert (status.state, status.run_id, status.error) == ("cancelled", None, None)
    assert [m for m in messages if "epoch" in m] == [
        next(m for m in messages if "epoch 1/3" in m)]
    assert "saving the run" not in messages
    assert len(RunStore(ws).list_runs(kind="baseline")) == before


def test_an_als_baseline_job_cancelled_mid_fit_saves_nothing(ws):
    """ALS asks the cancel flag after every iteration: set after the first of 5, the fit
    stops at its end and nothing is saved."""
    ensure_demo_run(ws)
    jm = JobManager(ws)
    before = len(RunStore(ws).list_runs(kind="baseline"))
    task = baseline_task(ws, DEMO_NAME, EvaluateConfig(model="als",
                                                       model_params={"iterations": 5}))
    messages: list[str] = []
    status = jm.wait(jm.submit("baseline", "als", _cancelled_at_epoch_1(
        jm, task, messages, marker="iteration 1/5")), timeout=300)
    assert (status.state, status.run_id, status.error) == ("cancelled", None, None)
    assert [m for m in messages if "iteration" in m] == ["fit: als: iteration 1/5"]
    assert "saving the run" not in messages
    assert len(RunStore(ws).list_runs(kind="baseline")) == before


class DetailRecorder(Recorder):
    """A recorder that also keeps the details and can be cancelled after ``stop_after`` calls."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.detail: dict = {}
        self.stop_after = stop_after

    def progress(self, fraction: float, message: str = "", **detail) -> None:
        super().progress(fraction, message)
        self.detail.update(detail)

    @property
    def cancelled(self) -> bool:
        return self.stop_after is not None and len(self.calls) >= self.stop_after


@pytest.fixture
def ext(tmp_path):
    """A small workspace dataset and a known recommender's TREC runs of it."""
    from tests.analysis.external._fixtures import build_external

    return build_external(tmp_path)


def _owned(tmp_path, ext):
    """A folder the job owns holding a copy of the test run (as an upload is kept)."""
    owned = tmp_path / "upload"
    (owned / "test").mkdir(parents=True)
    copy = owned / "test" / "test.run"
    copy.write_bytes(ext.trec.read_bytes())
    return owned, copy


def test_an_import_task_saves_the_run_in_three_stages_and_removes_its_folder(tmp_path, ext):
    from analysis.external import AUC_NOTE, ImportConfig
    from analysis.jobs.tasks import IMPORT_STAGES, import_task
    from analysis.workspace import Workspace
    from tests.analysis.external._fixtures import C

    ws = Workspace(ext.ws_path)
    owned, copy = _owned(tmp_path, ext)
    ctx = DetailRecorder()
    config = ImportConfig(name="prod-ranker", n_candidates=C)
    run_id = import_task(ws, "syn", copy, ext.val_trec, config, owned_dir=owned)(ctx)
    info = RunStore(ws).get(run_id)
    assert (info.kind, info.dataset) == ("baseline", "syn")
    assert info.label.startswith("prod-ranker")
    assert ctx.calls == [(0.0, "reading the dataset"), (0.1, "reading and judging the run files"),
                         (SAVE_AT, "saving the run")]
    assert ctx.calls == list(IMPORT_STAGES.values())
    assert AUC_NOTE in ctx.detail["notes"]
    assert not owned.exists()


def test_an_import_task_cancelled_between_stages_saves_nothing(tmp_path, ext):
    from analysis.external import ImportConfig
    from analysis.jobs.tasks import import_task
    from analysis.workspace import Workspace
    from tests.analysis.external._fixtures import C

    ws = Workspace(ext.ws_path)
    owned, copy = _owned(tmp_path, ext)
    ctx = DetailRecorder(stop_after=1)  # cancelled while the dataset is read
    config = ImportConfig(n_candidates=C)
    assert import_task(ws, "syn", copy, ext.val_trec, config, owned_dir=owned)(ctx) is None
    assert [m for _, m in ctx.calls] == ["reading the dataset"]
    assert RunStore(ws).list_runs("syn", kind="baseline").empty
    assert not owned.exists()


def test_an_import_job_fails_with_the_one_line_error_and_removes_its_folder(tmp_path, ext):
    """A file that is no TREC run and a test run alone (no random half) fail the job with the
    app's one line; the uploads' folder is removed either way."""
    from analysis.external import ONLY_TEST, ImportConfig
    from analysis.jobs.tasks import import_task
    from analysis.workspace import Workspace
    from tests.analysis.external._fixtures import C

    ws = Workspace(ext.ws_path)
    jm = JobManager(ws)
    owned = tmp_path / "upload"
    owned.mkdir()
    bad = owned / "bad.run"
    bad.write_text("not a run\n")
    half = ImportConfig(n_candidates=C, selection="random_half")
    job = jm.submit("import", "bad", import_task(ws, "syn", bad, None, half, owned_dir=owned))
    status = jm.wait(job, timeout=600)
    assert status.state == "failed"
    assert status.error == ("bad.run: 1 lines are not TREC run lines (user Q0 item rank score "
                            "tag), e.g. 'not a run'; give a TREC run or pick the csv/parquet "
                            "format.")
    assert not owned.exists()

    job = jm.submit("import", "only test",
                    import_task(ws, "syn", ext.trec, None, ImportConfig(n_candidates=C)))
    status = jm.wait(job, timeout=600)
    assert status.state == "failed" and status.run_id is None
    assert status.error == (f"{ONLY_TEST} Add a validation run, or tick 'Select on a random half "
                            "of the users'.")
    assert "\n" not in status.error
    assert RunStore(ws).list_runs("syn", kind="baseline").empty
