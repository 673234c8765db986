"""The whole data flow in one call: dataset -> split -> baseline -> per-user metrics ->
subgroups -> weak users -> weak cohorts, with stage timings; and the run's output files.

This is what ``python -m analysis evaluate`` runs and what the app calls for a baseline run.
Each step lives in its own module; this one only wires them in order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.dataset import Dataset
from analysis.metrics.evaluate import Evaluation, evaluate_recommender
from analysis.runs.baseline import MODEL_FILE, SPLIT_FILE, save_split
from analysis.runs.files import atomic_folder, jsonable
from analysis.runs.provenance import DATASET_HASH_OF, dataset_sha256, package_versions
from analysis.split import Split, make_split
from analysis.subgroups import (
    MIN_GROUP_SIZE,
    SubgroupReport,
    UserFeatures,
    compute_user_features,
    kruskal_family,
    subgroup_report,
)
from analysis.subgroups.cohorts import CohortReport, discover_weak_cohorts
from analysis.weak_users import WeakRule, WeakUsers, select_weak_users
from models.base import Recommender
from models.baselines import BaselineRecommender, make_recommender, save_model

__all__ = [
    "MODEL_FILE",
    "EvaluateConfig",
    "PipelineResult",
    "StageProgress",
    "provenance",
    "run_pipeline",
    "settings_text",
    "write_run_outputs",
]

#: stage progress callback: (stage name, fraction of the stage done in [0, 1], message)
StageProgress = Callable[[str, float, str], None]

#: a dimension with more groups than this (a zip code, a free-text field) gets no report:
#: its groups are too small for a CI, and the weak-cohort tree lumps rare levels instead
MAX_REPORT_GROUPS = 50


@dataclass(frozen=True)
class EvaluateConfig:
    """Everything that defines a baseline run (all JSON-able).

    Attributes:
        model: ``als``, ``bpr``, ``lmf``, ``itemknn`` or ``pop``.
        model_params: hyperparameters overriding the model's defaults.
        k: list length of the metrics.
        n_candidates: length of the stored test ranking (the LLM's candidate list).
        split: ``temporal``, ``random`` or ``global``.
        split_params: parameters of the split strategy.
        seed: one seed for the split, the model and the bootstrap.
        weak_rule: rule that marks weak users (selected on validation).
        intersections: pairs of subgroup dimensions reported jointly (e.g. inactive users
            with niche taste).
        cohort_max_depth: depth of the weak-cohort tree.
        min_group_size: smallest subgroup (evaluated users) that enters a headline disparity
            figure (worst group, gap, ratio, Kruskal-Wallis); smaller groups are listed,
            marked unreliable.
    """

    model: str = "als"
    model_params: dict = field(default_factory=dict)
    k: int = 10
    n_candidates: int = 20
    split: str = "temporal"
    split_params: dict = field(default_factory=dict)
    seed: int = 0
    weak_rule: WeakRule = field(default_factory=lambda: WeakRule(metric="auc", percentile=20.0))
    intersections: tuple[tuple[str, str], ...] = (("inactive", "mainstream"),)
    cohort_max_depth: int = 3
    min_group_size: int = MIN_GROUP_SIZE

    def to_dict(self) -> dict:
        d = asdict(self)
        d["weak_rule"] = asdict(self.weak_rule)
        return d


@dataclass(frozen=True)
class PipelineResult:
    """A finished baseline run.

    Attributes:
        config: what was run.
        dataset: the input dataset.
        split: the fold assignment.
        model: the fitted recommender.
        evaluation: per-user metrics and the test rankings.
        features: per-user subgroup features.
        per_user: ``evaluation.per_user`` joined with the features (one row per user).
        subgroups: one report per subgroup dimension on ``ndcg@k``.
        skipped_dimensions: dimensions with more than ``MAX_REPORT_GROUPS`` groups.
        weak: the weak users under ``config.weak_rule``.
        cohorts: the weak-cohort tree's leaves (fitted on validation, judged on test).
        timings: seconds per stage.
        p_tests: the Kruskal-Wallis test of every reported dimension and every pair of them,
            with Holm- and BH-adjusted p-values over that family
            (:func:`~analysis.subgroups.kruskal_family`); ``subgroup_tests.csv``.
    """

    config: EvaluateConfig
    dataset: Dataset
    split: Split
    model: Recommender
    evaluation: Evaluation
    features: UserFeatures
    per_user: pd.DataFrame
    subgroups: list[SubgroupReport]
    skipped_dimensions: list[str]
    weak: WeakUsers
    cohorts: CohortReport
    timings: dict
    p_tests: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def metric(self) -> str:
        return f"ndcg@{self.config.k}"

    def summary(self) -> dict:
        """Run summary as JSON-able values (what ``summary.json`` holds)."""
        ds_stats = self.dataset.stats()
        ds_stats["n_train"] = int((self.split.fold == 0).sum())
        ds_stats["n_validation"] = int((self.split.fold == 1).sum())
        ds_stats["n_test"] = int((self.split.fold == 2).sum())
        weak = self.weak
        return {
            "dataset": ds_stats,
            "model": {"name": self.config.model, "params": jsonable(self.model.params)},
            "split": {"strategy": self.split.strategy, "params": jsonable(self.split.params)},
            "seed": self.config.seed,
            "k": self.config.k,
            "n_candidates": self.config.n_candidates,
            "config": jsonable(self.config.to_dict()),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "overall": jsonable(self.evaluation.overall()),
            "weak_users": {
                "rule": jsonable(asdict(weak.rule)),
                "threshold_value": jsonable(weak.threshold_value),
                "n_weak": int(weak.n_weak),
                "share": jsonable(weak.share),
                "n_unselectable": int(weak.n_unselectable),
                "test_mean_weak": jsonable(weak.test_mean_weak),
                "test_mean_rest": jsonable(weak.test_mean_rest),
            },
            "skipped_dimensions": list(self.skipped_dimensions),
            "disparity": [
                {
                    "dimension": _dim_name(r.dimension),
                    "metric": r.metric,
                    "worst_group": r.worst_group,
                    "group_min": jsonable(r.group_min),
                    "group_max": jsonable(r.group_max),
                    "difference": jsonable(r.difference),
                    "ratio": jsonable(r.ratio),
                    "gini": jsonable(r.gini),
                    "kruskal_h": jsonable(r.kruskal_h),
                    "kruskal_p": jsonable(r.kruskal_p),
                    **_adjusted_p(self.p_tests, r.dimension),
                    "min_group_size": int(r.min_group_size),
                    "n_small_groups": int(r.n_small_groups),
                }
                for r in self.subgroups
            ],
        }


def _adjusted_p(p_tests: pd.DataFrame, dim: str | tuple[str, str]) -> dict:
    """Holm and BH p-values of one report's test, adjusted over the run's family."""
    labels = {dim} if isinstance(dim, str) else {" × ".join(dim), " × ".join(dim[::-1])}
    row = p_tests[p_tests["dimension"].isin(labels)] if len(p_tests) else p_tests
    if not len(row):
        return {"kruskal_p_holm": None, "kruskal_p_bh": None, "p_family_size": None}
    r = row.iloc[0]
    return {
        "kruskal_p_holm": jsonable(r["p_holm"]),
        "kruskal_p_bh": jsonable(r["p_bh"]),
        "p_family_size": int(r["family_size"]),
    }


def _dim_name(dim: str | tuple[str, str]) -> str:
    return dim if isinstance(dim, str) else " x ".join(dim)


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0


def run_pipeline(
    dataset: Dataset,
    config: EvaluateConfig = EvaluateConfig(),
    *,
    progress: StageProgress | None = None,
) -> PipelineResult:
    """Split, fit, evaluate and analyse one dataset.

    Args:
        dataset: from :func:`analysis.ingest.load_dataset` or the synthetic generator.
        config: the run's settings.
        progress: optional ``progress(stage, fraction, message)`` callback.

    Returns:
        A :class:`PipelineResult`.

    Raises:
        AnalysisError: for any setting or data problem the user can fix.
    """
    timer = _Timer()

    def stage_cb(stage: str):
        if progress is None:
            return None
        return lambda frac, msg: progress(stage, frac, msg)

    with timer.stage("split"):
        split = make_split(dataset, config.split, seed=config.seed, **config.split_params)
    with timer.stage("fit"):
        model = make_recommender(config.model, seed=config.seed, **config.model_params)
        model.fit(split.train, progress=stage_cb("fit"))
    with timer.stage("evaluate"):
        evaluation = evaluate_recommender(
            model,
            split,
            k=config.k,
            n_candidates=config.n_candidates,
            progress=stage_cb("evaluate"),
        )
    with timer.stage("features"):
        features = compute_user_features(split)
        per_user = evaluation.per_user.join(
            features.table.drop(columns=["n_train"], errors="ignore")
        )
    metric = f"ndcg@{config.k}"
    with timer.stage("weak_users"):
        weak = select_weak_users(per_user, config.weak_rule, dimensions=list(features.dimensions))
    with timer.stage("subgroups"):
        dims = list(features.dimensions)
        skipped = [d for d in dims if per_user[d].nunique() > MAX_REPORT_GROUPS]
        wanted: list[str | tuple[str, str]] = [d for d in dims if d not in skipped]
        wanted += [tuple(pair) for pair in config.intersections]
        reports = [
            subgroup_report(
                per_user,
                metric,
                dim,
                weak=weak.mask,
                seed=config.seed,
                min_group_size=config.min_group_size,
            )
            for dim in wanted
        ]
        p_tests = kruskal_family(
            per_user,
            metric,
            [d for d in dims if d not in skipped],
            extra=[tuple(pair) for pair in config.intersections],
            min_group_size=config.min_group_size,
        )
    with timer.stage("cohorts"):  # fitted on validation NDCG, each leaf judged on test
        cohorts = discover_weak_cohorts(
            per_user, metric=metric, max_depth=config.cohort_max_depth, seed=config.seed
        )
    if progress is not None:
        progress("done", 1.0, "done")
    return PipelineResult(
        config=config,
        dataset=dataset,
        split=split,
        model=model,
        evaluation=evaluation,
        features=features,
        per_user=per_user,
        subgroups=reports,
        skipped_dimensions=skipped,
        weak=weak,
        cohorts=cohorts,
        timings=dict(timer.timings),
        p_tests=p_tests,
    )


def per_user_frame(result: PipelineResult) -> pd.DataFrame:
    """The ``per_user.parquet`` table: raw ids, every metric, counts and subgroup columns."""
    t = result.per_user.copy()
    t.insert(t.columns.get_loc("evaluated") + 1, "weak", result.weak.mask)
    return t.drop(columns=["user_idx"])


def ranking_frame(result: PipelineResult, depth: int) -> pd.DataFrame:
    """The test ranking of every evaluated user, first ``depth`` items (raw ids, rank from 1)."""
    ev = result.evaluation
    users = np.flatnonzero(ev.per_user["evaluated"].to_numpy())
    items = ev.recommendations[users, :depth]
    scores = ev.scores[users, :depth]
    valid = items >= 0
    rows = np.repeat(users, items.shape[1]).reshape(items.shape)
    ranks = np.broadcast_to(np.arange(1, items.shape[1] + 1), items.shape)
    ds = result.dataset
    return pd.DataFrame(
        {
            "user_id": ds.user_ids[rows[valid]],
            "rank": ranks[valid].astype(np.int32),
            "item_id": ds.item_ids[items[valid]],
            "score": scores[valid].astype(np.float32),
        }
    )


def recommendations_frame(result: PipelineResult) -> pd.DataFrame:
    """``recommendations.parquet``: the top k for every evaluated user on the test split."""
    return ranking_frame(result, result.evaluation.k)


def test_frame(result: PipelineResult) -> pd.DataFrame:
    """``test.parquet``: the held-out relevant test interactions (user_id, item_id, gain)."""
    test = result.split.test.tocoo()
    ds = result.dataset
    order = np.lexsort((test.col, test.row))
    return pd.DataFrame(
        {
            "user_id": ds.user_ids[test.row[order]],
            "item_id": ds.item_ids[test.col[order]],
            "gain": test.data[order].astype(np.float32),
        }
    )


def subgroups_frame(result: PipelineResult) -> pd.DataFrame:
    """``subgroups.csv``: one row per (dimension, group) with size, mean, CI and weak share."""
    frames = []
    for r in result.subgroups:
        g = r.by_group.copy()
        g.insert(0, "dimension", _dim_name(r.dimension))
        g.insert(1, "metric", r.metric)
        frames.append(g)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def settings_text(config: EvaluateConfig) -> str:
    """The run's settings in one line (the app's stand-in for a command line)."""
    params = ", ".join(f"{k}={v}" for k, v in sorted(config.model_params.items()))
    split_params = ", ".join(f"{k}={v}" for k, v in sorted(config.split_params.items()))
    rule = config.weak_rule
    cut = f"<= {rule.threshold:g}" if rule.threshold is not None else f"<= p{rule.percentile:g}"
    return (
        f"evaluate model={config.model}({params}) split={config.split}({split_params}) "
        f"k={config.k} candidates={config.n_candidates} seed={config.seed} "
        f"weak=val_{rule.metric} {cut}{' and inactive' if rule.require_inactive else ''}"
    )


def provenance(result: PipelineResult, command: Sequence[str] | None = None) -> dict:
    """``summary.json``'s ``provenance`` block: what is needed to trace and repeat the run.

    Keys: ``command`` (the argv list of the CLI, None from the app), ``settings`` (the run's
    settings in one line, :func:`settings_text`), ``seed``, ``dataset_sha256`` and
    ``dataset_hash_of`` (:func:`analysis.runs.provenance.dataset_sha256`), ``packages``
    (:func:`analysis.runs.provenance.package_versions`) and ``model_file`` (the stored model).
    """
    return {
        "command": None if command is None else [str(a) for a in command],
        "settings": settings_text(result.config),
        "seed": int(result.config.seed),
        "dataset_sha256": dataset_sha256(result.dataset),
        "dataset_hash_of": DATASET_HASH_OF,
        "packages": package_versions(),
        "model_file": MODEL_FILE,
    }


def write_run_outputs(
    result: PipelineResult,
    out: str | Path,
    *,
    workspace: str | None = None,
    command: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Write the run's files into ``out`` atomically.

    Besides the analyst's files, ``candidates.parquet`` (the top C of every evaluated user:
    what an LLM may rerank), ``model.npz`` (the fitted baseline,
    :func:`models.baselines.save_model`), ``split.npz`` (the folds,
    :func:`analysis.runs.baseline.save_split`) and ``item_factors.npy`` (factor models) let
    ``rerank`` resume from the folder without refitting; ``summary.json`` names the
    workspace and dataset the run came from and holds its ``provenance`` (package versions,
    the dataset's SHA-256, the seed, ``command``: the CLI's argv, None from the app).

    The Parquet files hold no wall-clock time (timings are in ``summary.json`` only), so the
    same dataset, settings and seed give byte-identical ``per_user.parquet``,
    ``recommendations.parquet`` and ``candidates.parquet``.

    Files are written to a temporary sibling folder first and moved into place only when all
    of them are complete, so an interrupted write never leaves a half-written run and an
    earlier run in ``out`` is replaced only by a complete new one.

    Returns:
        Mapping file name -> final path.
    """
    with atomic_folder(out) as tmp:
        per_user_frame(result).to_parquet(tmp / "per_user.parquet", index=False)
        recommendations_frame(result).to_parquet(tmp / "recommendations.parquet", index=False)
        ranking_frame(result, result.evaluation.n_candidates).to_parquet(
            tmp / "candidates.parquet", index=False
        )
        if isinstance(result.model, BaselineRecommender):
            save_model(result.model, tmp / MODEL_FILE)
        save_split(result.split, tmp / SPLIT_FILE)
        if result.model.item_factors is not None:
            np.save(tmp / "item_factors.npy", np.asarray(result.model.item_factors, np.float32))
        test_frame(result).to_parquet(tmp / "test.parquet", index=False)
        subgroups_frame(result).to_csv(tmp / "subgroups.csv", index=False)
        result.p_tests.to_csv(tmp / "subgroup_tests.csv", index=False)
        result.cohorts.leaves.to_csv(tmp / "weak_cohorts.csv", index=False)
        summary = result.summary()
        summary["source"] = {
            "dataset": result.dataset.name,
            "workspace": None if workspace is None else str(workspace),
        }
        summary["provenance"] = provenance(result, command)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
    return {p.name: p for p in sorted(Path(out).iterdir())}
