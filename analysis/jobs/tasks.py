"""The app's long jobs as plain functions for :class:`~analysis.jobs.manager.JobManager`: train and
evaluate a baseline, import an external recommender's run, rerank a run's weak users, run
another remedy for them (a content blend, SASRec with a text item table). Each saves its run
and returns its id.

A job reads what it needs from the workspace at its start and writes its run at its end;
it holds no workspace connection while it trains or waits on a model. If another process
holds the workspace when the run is saved, the run is kept in its folder and the job says
it will be listed as soon as the workspace is free (:data:`analysis.runs.store.RUN_NOT_LISTED_YET`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from analysis.errors import AnalysisError
from analysis.external import ImportConfig, import_and_save
from analysis.gains.cost import PriceTable
from analysis.ingest import load_dataset
from analysis.ingest.demo import DEMO_NAME, ensure_demo_dataset
from analysis.jobs.manager import JobContext
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.rerank.cache import CallCache
from analysis.rerank.config import RerankConfig
from analysis.rerank.execute import execute_rerank
from analysis.rerank.plan import plan_rerank
from analysis.runs.store import RUN_NOT_LISTED_YET, RunInfo, RunStore
from analysis.workspace import Workspace
from models.llm.protocol import LLMBackend

__all__ = ["IMPORT_STAGES", "REMEDY_KINDS", "STAGE_WEIGHTS", "baseline_task", "ensure_demo_run",
           "import_task", "remedy_task", "rerank_task"]

#: the remedies :func:`remedy_task` runs
REMEDY_KINDS = ("content_blend", "sasrec_text")

UNKNOWN_REMEDY = "Unknown remedy {kind!r}: choose content_blend or sasrec_text."

#: share of a baseline job's time per stage, for one progress bar, in the order they run:
#: the pipeline's stages ("done" is its subgroups and cohorts ending), then saving the run;
#: the job reaches 100% only when it has ended
STAGE_WEIGHTS = {"split": 0.05, "fit": 0.55, "evaluate": 0.3, "done": 0.05, "save": 0.05}
#: the pipeline's stage names as the progress line says them
STAGE_NAMES = {"done": "subgroups and cohorts"}
#: where "saving the run" starts on the bar
SAVE_AT = 1.0 - STAGE_WEIGHTS["save"]


def _stage_progress(ctx: JobContext) -> Callable[[str, float, str], None]:
    order = list(STAGE_WEIGHTS)

    def cb(stage: str, fraction: float, message: str) -> None:
        done = sum(STAGE_WEIGHTS[s] for s in order[: order.index(stage)]) if stage in order else 0
        name = STAGE_NAMES.get(stage, stage)
        text = name if message == stage else f"{name}: {message}"
        # never past where saving starts (the weights' float sum may overshoot it by 1 ulp)
        ctx.progress(min(SAVE_AT, done + STAGE_WEIGHTS.get(stage, 0.0) * fraction), text)

    return cb


def _saved(ctx: JobContext, info: RunInfo) -> str:
    if not info.listed:
        note = RUN_NOT_LISTED_YET.format(run_id=info.run_id)
        ctx.progress(1.0, note, note=note)
    return info.run_id


def baseline_task(
    workspace: Workspace, dataset: str, config: EvaluateConfig
) -> Callable[[JobContext], str | None]:
    """Train, evaluate and save a baseline run of ``dataset``. A cancel stops an iterative
    model mid-fit (ALS, BPR, LMF after the current iteration, SASRec before its next batch)
    and nothing is saved; item-kNN and most-popular fit in one pass, so their cancel takes
    effect before the run is saved."""

    def fn(ctx: JobContext) -> str:
        ctx.progress(0.0, "loading the dataset")
        ds = load_dataset(workspace, dataset)
        try:
            result = run_pipeline(ds, config, progress=_stage_progress(ctx),
                                  should_stop=lambda: ctx.cancelled)
        except AnalysisError:
            if ctx.cancelled:  # a fit stopped mid-way: nothing to save
                return None
            raise
        if ctx.cancelled:  # a one-pass model finished before the cancel was seen
            return None
        ctx.progress(SAVE_AT, "saving the run")
        return _saved(ctx, RunStore(workspace).save_baseline(result))

    return fn


#: an import job's stages: where each starts on the bar, and its progress line
IMPORT_STAGES = {"read": (0.0, "reading the dataset"),
                 "judge": (0.1, "reading and judging the run files"),
                 "save": (SAVE_AT, "saving the run")}


def import_task(
    workspace: Workspace,
    dataset: str,
    test_path: str | Path,
    validation_path: str | Path | None,
    config: ImportConfig,
    *,
    owned_dir: str | Path | None = None,
) -> Callable[[JobContext], str | None]:
    """Import an external recommender's run of ``dataset`` (TREC, CSV or Parquet files: see
    :func:`analysis.external.import_run`) and save it as a baseline run.

    Stages (:data:`IMPORT_STAGES`): reading the dataset, reading and judging the run files,
    saving the run. A cancel is honoured between stages (reading and judging runs to its
    end) and nothing is saved. The import's one-line notes (unknown ids, the AUC and
    selection statements) are left in the job's ``detail["notes"]`` (a list of str).

    Args:
        owned_dir: a folder the job owns (uploaded files): removed when the job ends,
            whether it saved, failed or was cancelled.

    Raises:
        AnalysisError: as :func:`analysis.external.import_run` (the job's one-line error).
    """

    def fn(ctx: JobContext) -> str | None:
        def stage(name: str, notes: list[str]) -> bool:  # progress, or stop when cancelled
            if ctx.cancelled:
                return False
            ctx.progress(*IMPORT_STAGES[name], **({"notes": notes} if notes else {}))
            return True

        try:
            done = import_and_save(workspace, dataset, test_path, validation_path, config,
                                   stage=stage)
            return None if done is None else _saved(ctx, done[0])
        finally:
            if owned_dir is not None:
                shutil.rmtree(owned_dir, ignore_errors=True)

    return fn


def rerank_task(
    workspace: Workspace,
    run_id: str,
    config: RerankConfig,
    make_backend: Callable[[], LLMBackend],
    prices: PriceTable | None = None,
) -> Callable[[JobContext], str]:
    """Rerank the weak users of baseline run ``run_id`` and save the rerank run."""

    def fn(ctx: JobContext) -> str:
        store = RunStore(workspace)
        dataset = store.get(run_id).dataset
        run = store.load_baseline(run_id)
        backend = make_backend()
        cache = CallCache(workspace)
        ctx.progress(0.0, "building prompts")
        plan = plan_rerank(run, config, backend, cache, prices)

        def show(p) -> None:  # the calls, then saving the run, then done (100%)
            note = f", {p.batches_note}" if p.batches_note else ""  # batch mode: per batch
            ctx.progress(SAVE_AT * p.done / max(p.total, 1),
                         f"{p.done}/{p.total} users, {p.fallen_back} fell back{note}",
                         done=p.done, total=p.total, fallen_back=p.fallen_back,
                         input_tokens=p.input_tokens, output_tokens=p.output_tokens,
                         usd=p.usd, elapsed_s=p.elapsed_s, eta_s=p.eta_s,
                         batches_submitted=p.batches_submitted,
                         batches_ended=p.batches_ended)

        result = execute_rerank(plan, run, backend, cache, prices, progress=show,
                                should_stop=lambda: ctx.cancelled)
        ctx.progress(SAVE_AT, "saving the run")
        return _saved(ctx, store.save_rerank(result, run_id, dataset=dataset))

    return fn


def remedy_task(
    workspace: Workspace, run_id: str, kind: str, encoder: str, encoder_config: dict, *,
    target: str = "weak", text_table: str = "frozen", sasrec_params: dict | None = None,
) -> Callable[[JobContext], str | None]:
    """Embed the run's items with ``encoder`` (cached in the workspace), run the remedy
    ``kind`` (:data:`REMEDY_KINDS`) for the run's ``target`` users and save it; SASRec saves
    its random-table control too (listed first, so the text run is the newest). A cancel
    is honoured between stages (embedding, the remedy, saving) and, in a SASRec fit, before
    its next training batch: nothing is saved."""
    from analysis.embeddings import EmbeddingStore, embed_items
    from models.encoders import make_encoder

    def fn(ctx: JobContext) -> str:
        store = RunStore(workspace)
        run = store.load_baseline(run_id)
        ctx.progress(0.0, f"embedding the items ({encoder})")
        items = embed_items(run.dataset, make_encoder(encoder, **encoder_config),
                            EmbeddingStore(workspace))
        if ctx.cancelled:  # checked between stages: a stage itself runs to its end
            return None
        cost = {"uses_llm": items.uses_llm, "one_off_usd": items.catalogue_cost_usd}
        started = time.perf_counter()
        if kind == "content_blend":
            from analysis.remedies.content_blend import blend_content

            ctx.progress(0.1, "choosing the blend weight on validation")
            blend = blend_content(run, items.vectors, target=target)
            if ctx.cancelled:
                return None
            ctx.progress(SAVE_AT, "saving the remedy")
            remedy = blend.remedy_run(encoder=items.encoder_id, seed=run.summary.seed,
                                      wall_s=time.perf_counter() - started, **cost)
            return _saved(ctx, store.save_remedy(remedy, run_id, run.dataset))
        from analysis.remedies.text_init import sasrec_text_remedy

        try:
            done = sasrec_text_remedy(
                run, items.vectors, encoder_id=items.encoder_id, params=sasrec_params,
                text_table=text_table, target=target,
                progress=lambda f, m: ctx.progress(0.1 + (SAVE_AT - 0.1) * f, m),
                should_stop=lambda: ctx.cancelled, **cost)
        except AnalysisError:
            if ctx.cancelled:  # the fit stopped on the cancel (FIT_CANCELLED): not a failure
                return None
            raise
        if ctx.cancelled:
            return None
        ctx.progress(SAVE_AT, "saving the remedies")
        _saved(ctx, store.save_remedy(done.random, run_id, run.dataset))
        return _saved(ctx, store.save_remedy(done.text, run_id, run.dataset))

    if kind not in REMEDY_KINDS:
        raise AnalysisError(UNKNOWN_REMEDY.format(kind=kind))
    return fn


def ensure_demo_run(workspace: Workspace) -> RunInfo:
    """The demo dataset's baseline run: computed on first start, then read from the workspace."""
    store = RunStore(workspace)
    ensure_demo_dataset(workspace)
    runs = store.list_runs(dataset=DEMO_NAME, kind="baseline")
    if len(runs):
        return store.get(runs.iloc[-1]["run_id"])  # the first one made
    result = run_pipeline(load_dataset(workspace, DEMO_NAME), EvaluateConfig())
    return store.save_baseline(result)
