"""The whole data flow in one call: dataset -> split -> baseline -> per-user metrics ->
subgroups -> weak users -> weak cohorts, with stage timings; and the run's output files.

This is what ``python -m analysis evaluate`` runs and what the app calls for a baseline run.
Each step lives in its own module; this one only wires them in order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from analysis.dataset import Dataset
from analysis.metrics.evaluate import Evaluation, evaluate_recommender
from analysis.runs.baseline import BaselineRun, user_table
from analysis.runs.files import jsonable
from analysis.runs.summary import BaselineSummary, baseline_summary_json
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
from analysis.subgroups.sampling import (
    SampleConfig,
    SampleSummary,
    UserSample,
    design_report,
    evaluation_frame,
    sample_users,
    sampled_split,
    summarise_sample,
)
from analysis.weak_users import WeakRule, WeakUsers, select_weak_users
from models.base import Recommender
from models.baselines import make_recommender

__all__ = [
    "EvaluateConfig",
    "PipelineResult",
    "StageProgress",
    "per_user_frame",
    "run_pipeline",
    "settings_text",
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
        model: ``als``, ``bpr``, ``lmf``, ``itemknn``, ``pop`` or ``sasrec``.
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
        sample: None evaluates every user; else a stratified user sample
            (:mod:`analysis.subgroups.sampling`): only sampled users are evaluated and every
            subgroup mean, interval and the weak-user count are design-based estimates of the
            whole population.
    """

    model: str = "als"
    model_params: dict = field(default_factory=dict)
    k: int = 10
    n_candidates: int = 20
    split: str = "temporal"
    split_params: dict = field(default_factory=dict)
    seed: int = 0
    weak_rule: WeakRule = field(default_factory=WeakRule.default)
    intersections: tuple[tuple[str, str], ...] = (("inactive", "mainstream"),)
    cohort_max_depth: int = 3
    min_group_size: int = MIN_GROUP_SIZE
    sample: SampleConfig | None = None

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
        sample: a sampled run's sample, estimates and interval widths (None: every user).
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
    sample: SampleSummary | None = None

    @property
    def metric(self) -> str:
        return f"ndcg@{self.config.k}"

    def summary(self) -> dict:
        """Run summary as JSON-able values (what ``summary.json`` holds, less its ``source``
        and ``provenance``, which :func:`analysis.runs.baseline_folder.write_baseline_run`
        adds)."""
        return baseline_summary_json(self)

    @cached_property
    def run(self) -> BaselineRun:
        """The :class:`~analysis.runs.baseline.BaselineRun` every later step takes: the same
        object :func:`analysis.runs.baseline.load_run` reads back from the run's folder, with
        the fitted model in memory."""
        evaluated = self.evaluation.per_user["evaluated"].to_numpy(bool)
        rankings = np.full((self.dataset.n_users, self.config.n_candidates), -1, np.int32)
        top = self.evaluation.recommendations[:, : self.config.n_candidates]
        rankings[evaluated, : top.shape[1]] = top[evaluated]
        factors = self.model.item_factors
        return BaselineRun(
            summary=BaselineSummary.from_json(jsonable(self.summary())),
            dataset=self.dataset,
            split=self.split,
            per_user=user_table(per_user_frame(self), self.dataset),
            rankings=rankings,
            item_factors=None if factors is None else np.asarray(factors, np.float32),
            fitted=self.model,
        )


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
    should_stop: Callable[[], bool] | None = None,
) -> PipelineResult:
    """Split, fit, evaluate and analyse one dataset.

    Args:
        dataset: from :func:`analysis.ingest.load_dataset` or the synthetic generator.
        config: the run's settings.
        progress: optional ``progress(stage, fraction, message)`` callback.
        should_stop: optional cancel hook passed to the model's fit: ALS, BPR and LMF ask it
            after every iteration, SASRec before every batch, and end with their
            ``AnalysisError`` once it returns True; item-kNN and most-popular ignore it.

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
    sample: UserSample | None = None
    if config.sample is not None:  # users sampled, the rest dropped from evaluation
        with timer.stage("sample"):
            table = compute_user_features(split).table
            sample = sample_users(table, evaluation_frame(split), config.sample)
            split = sampled_split(split, sample)
    with timer.stage("fit"):
        model = make_recommender(config.model, seed=config.seed, **config.model_params)
        sequences = split.train_sequences if model.uses_sequences else None  # SASRec's input
        model.fit(split.train, progress=stage_cb("fit"), sequences=sequences,
                  should_stop=should_stop)
    with timer.stage("evaluate"):
        evaluation = evaluate_recommender(
            model,
            split,
            k=config.k,
            n_candidates=config.n_candidates,
            progress=stage_cb("evaluate"),
        )
    analysis = analyse_evaluation(split, evaluation, config, sample=sample, timer=timer)
    if progress is not None:
        progress("done", 1.0, "done")
    return PipelineResult(
        config=config,
        dataset=dataset,
        split=split,
        model=model,
        evaluation=evaluation,
        features=analysis.features,
        per_user=analysis.per_user,
        subgroups=analysis.subgroups,
        skipped_dimensions=analysis.skipped_dimensions,
        weak=analysis.weak,
        cohorts=analysis.cohorts,
        timings=dict(timer.timings),
        p_tests=analysis.p_tests,
        sample=analysis.sample,
    )


@dataclass(frozen=True)
class Analysis:
    """Steps 5-6 on an evaluation: what :func:`analyse_evaluation` returns (the fields of a
    :class:`PipelineResult` of the same names)."""

    features: UserFeatures
    per_user: pd.DataFrame
    weak: WeakUsers
    subgroups: list[SubgroupReport]
    skipped_dimensions: list[str]
    p_tests: pd.DataFrame
    cohorts: CohortReport
    sample: SampleSummary | None = None


def analyse_evaluation(split: Split, evaluation: Evaluation, config: EvaluateConfig, *,
                       sample: UserSample | None = None,
                       timer: _Timer | None = None) -> Analysis:
    """Subgroups, weak users and weak cohorts of an evaluation: the steps every baseline run
    (:func:`run_pipeline`) and every imported run (:mod:`analysis.external`) share.

    The per-user table is the evaluation's joined with the users' features (and, for a
    sampled run, the sample's weights); the weak users follow ``config.weak_rule`` (selected
    on validation); every subgroup dimension with at most ``MAX_REPORT_GROUPS`` groups, and
    each pair of ``config.intersections``, is reported; a sampled run's reports carry the
    design-based means and intervals.
    """
    timer = timer or _Timer()
    with timer.stage("features"):
        features = compute_user_features(split)
        per_user = evaluation.per_user.join(
            features.table.drop(columns=["n_train"], errors="ignore")
        )
        if sample is not None:  # the weights recorded in the per-user table
            per_user = per_user.assign(
                sampled=sample.sampled,
                sample_weight=sample.weight,
                sample_stratum=sample.stratum_labels,
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
        sampled = None
        if sample is not None:  # design-based means and intervals replace the bootstrap's
            reports = [design_report(r, per_user, sample, weak=weak.mask) for r in reports]
            sampled = summarise_sample(sample, per_user, metric, weak.mask, reports)
    with timer.stage("cohorts"):  # fitted on validation NDCG, each leaf judged on test
        cohorts = discover_weak_cohorts(
            per_user, metric=metric, max_depth=config.cohort_max_depth, seed=config.seed
        )
    return Analysis(features=features, per_user=per_user, weak=weak, subgroups=reports,
                    skipped_dimensions=skipped, p_tests=p_tests, cohorts=cohorts,
                    sample=sampled)


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
        + _sample_text(config.sample)
    )


def _sample_text(sample: SampleConfig | None) -> str:
    """`` sample=N|F by=DIM,DIM seed=S`` for a sampled run, else ``""``."""
    if sample is None:
        return ""
    size = sample.size if sample.size is not None else f"{sample.fraction:g}"
    return f" sample={size} by={','.join(sample.by)} seed={sample.seed}"


def per_user_frame(result: PipelineResult) -> pd.DataFrame:
    """The run's per-user table as ``per_user.parquet`` holds it: raw ids, every metric,
    counts, subgroup columns and ``weak``."""
    t = result.per_user.copy()
    t.insert(t.columns.get_loc("evaluated") + 1, "weak", result.weak.mask)
    return t.drop(columns=["user_idx"])
