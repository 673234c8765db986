"""A run's headline figures as typed objects, and the only code that turns them into JSON and
back (``summary.json`` of a baseline run, ``rerank_summary.json`` of a rerank run).

Every other step, the CLI, the report and the pages read a run's settings and figures through
these fields, never through nested dictionaries. Field names are the JSON keys, so a reader of
the file and a reader of the code see the same names. Blocks whose keys are data (metric names
in ``overall``, one entry per control in ``controls``) stay mappings.

A summary written by an older version still reads: a key it lacks reads as ``None``; unknown
keys are kept in :attr:`BaselineSummary.json` (written back as they were).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import pandas as pd

from analysis.runs.files import jsonable
from analysis.weak_users import WeakRule

if TYPE_CHECKING:
    from analysis.gains.merge import MergedRerank
    from analysis.pipeline import PipelineResult
    from analysis.rerank.answers import JobAnswers
    from analysis.rerank.config import RerankConfig
    from analysis.rerank.plan import RerankPlan

__all__ = [
    "BaselineSummary",
    "ModelInfo",
    "RerankSummary",
    "RunSource",
    "SplitInfo",
    "WeakSummary",
    "adjusted_p",
    "baseline_summary_json",
    "dimension_name",
    "rerank_summary_json",
]


@dataclass(frozen=True)
class ModelInfo:
    """The baseline: its name and every parameter it was fitted with (defaults included)."""

    name: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SplitInfo:
    """The split strategy and its parameters."""

    strategy: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunSource:
    """Where the run's data lives: the workspace file (None: made in memory) and dataset name."""

    dataset: str
    workspace: str | None = None


@dataclass(frozen=True)
class WeakSummary:
    """The weak users of the run's rule (selected on validation, judged on test)."""

    rule: WeakRule
    threshold_value: float | None
    n_weak: int
    share: float | None
    n_unselectable: int
    test_mean_weak: float | None
    test_mean_rest: float | None


def _known(cls, d: Mapping[str, Any]) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


@dataclass(frozen=True)
class BaselineSummary:
    """``summary.json`` of a baseline run.

    Attributes:
        k: the metrics' list length; ``n_candidates``: the stored ranking's length.
        seed: the one seed of split, model and bootstrap.
        model, split: what was fitted and how the data was split.
        config: the run's settings (:meth:`analysis.pipeline.EvaluateConfig.to_dict`).
        dataset: headline counts (users, items, interactions, fold sizes, sparsity...).
        overall: mean of every metric over evaluated users (``ndcg@10``...) and
            ``n_evaluated``.
        weak_users: the weak users of the run's rule.
        disparity: one row per reported subgroup dimension (worst group, gap, ratio, Gini,
            Kruskal-Wallis p raw and adjusted).
        skipped_dimensions: dimensions with too many groups to report.
        timings_s: seconds per stage.
        source: the workspace and dataset (None before the run was written).
        provenance: versions, the dataset's SHA-256, command (None before written).
        imported: for a run of an external recommender's rankings (:mod:`analysis.external`):
            its files, the ids they name that the dataset lacks, the metrics it cannot have
            (``unavailable_metrics``) and how weak users were selected; None for a trained
            baseline.
        sample: for a run over a stratified sample of users (:mod:`analysis.subgroups.
            sampling`): its size, strata, weights and the projected figures; None otherwise.
        json: the summary as read or written (what :meth:`to_json` returns).
    """

    k: int
    n_candidates: int
    seed: int
    model: ModelInfo
    split: SplitInfo
    config: dict
    dataset: dict
    overall: dict
    weak_users: WeakSummary
    disparity: list = field(default_factory=list)
    skipped_dimensions: list = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)
    source: RunSource | None = None
    provenance: dict | None = None
    imported: dict | None = None
    sample: dict | None = None
    json: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_imported(self) -> bool:
        """Whether the run holds an external recommender's rankings (no model to score with)."""
        return self.imported is not None

    @property
    def min_group_size(self) -> int:
        """Smallest group that enters a headline disparity figure (0: recorded before)."""
        return int(self.config.get("min_group_size") or 0)

    @property
    def model_overrides(self) -> dict:
        """The parameters the user set (``model.params`` holds every one used)."""
        return dict(self.config.get("model_params") or {})

    @property
    def dataset_sha256(self) -> str | None:
        return (self.provenance or {}).get("dataset_sha256")

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BaselineSummary:
        wk = dict(d["weak_users"])
        source = d.get("source")
        return cls(
            k=int(d["k"]),
            n_candidates=int(d.get("n_candidates") or 20),
            seed=int(d.get("seed") or 0),
            model=ModelInfo(**_known(ModelInfo, d["model"])),
            split=SplitInfo(**_known(SplitInfo, d["split"])),
            config=dict(d.get("config") or {}),
            dataset=dict(d["dataset"]),
            overall=dict(d["overall"]),
            weak_users=WeakSummary(**{**_known(WeakSummary, wk), "rule": WeakRule(**wk["rule"])}),
            disparity=list(d.get("disparity") or []),
            skipped_dimensions=list(d.get("skipped_dimensions") or []),
            timings_s=dict(d.get("timings_s") or {}),
            source=None if not source else RunSource(**_known(RunSource, source)),
            provenance=d.get("provenance"),
            imported=d.get("imported"),
            sample=d.get("sample"),
            json=dict(d),
        )

    def to_json(self) -> dict:
        return dict(self.json)


def adjusted_p(p_tests: pd.DataFrame, dim: str | tuple[str, str]) -> dict:
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


def dimension_name(dim: str | tuple[str, str]) -> str:
    return dim if isinstance(dim, str) else " x ".join(dim)



def baseline_summary_json(result: PipelineResult, *, source: RunSource | None = None,
                          provenance: dict | None = None) -> dict:
    """``summary.json`` of a finished pipeline (``source`` and ``provenance`` when written)."""
    ds_stats = result.dataset.stats()
    fold = result.split.fold
    ds_stats.update(n_train=int((fold == 0).sum()), n_validation=int((fold == 1).sum()),
                    n_test=int((fold == 2).sum()))
    weak = result.weak
    out = {
        "dataset": ds_stats,
        "model": {"name": result.config.model, "params": jsonable(result.model.params)},
        "split": {"strategy": result.split.strategy, "params": jsonable(result.split.params)},
        "seed": result.config.seed,
        "k": result.config.k,
        "n_candidates": result.config.n_candidates,
        "config": jsonable(result.config.to_dict()),
        "timings_s": {k: round(v, 4) for k, v in result.timings.items()},
        "overall": jsonable(result.evaluation.overall()),
        "weak_users": {
            "rule": jsonable(asdict(weak.rule)),
            "threshold_value": jsonable(weak.threshold_value),
            "n_weak": int(weak.n_weak),
            "share": jsonable(weak.share),
            "n_unselectable": int(weak.n_unselectable),
            "test_mean_weak": jsonable(weak.test_mean_weak),
            "test_mean_rest": jsonable(weak.test_mean_rest),
        },
        "skipped_dimensions": list(result.skipped_dimensions),
        "disparity": [
            {
                "dimension": dimension_name(r.dimension),
                "metric": r.metric,
                "worst_group": r.worst_group,
                "group_min": jsonable(r.group_min),
                "group_max": jsonable(r.group_max),
                "difference": jsonable(r.difference),
                "ratio": jsonable(r.ratio),
                "gini": jsonable(r.gini),
                "kruskal_h": jsonable(r.kruskal_h),
                "kruskal_p": jsonable(r.kruskal_p),
                **adjusted_p(result.p_tests, r.dimension),
                "min_group_size": int(r.min_group_size),
                "n_small_groups": int(r.n_small_groups),
            }
            for r in result.subgroups
        ],
    }
    imported = getattr(result, "imported", None)  # analysis.external's ImportedResult
    if imported is not None:
        out["imported"] = jsonable(imported)
    if getattr(result, "sample", None) is not None:  # a sampled run
        out["sample"] = result.sample.to_json()
    if source is not None:
        out["source"] = asdict(source)
    if provenance is not None:
        out["provenance"] = provenance
    return out


@dataclass(frozen=True)
class RerankSummary:
    """``rerank_summary.json`` of a rerank run (see :mod:`analysis.runs.rerank`).

    Attributes:
        config: the job's settings.
        status: ``complete`` or ``incomplete`` (some users without an answer).
        users: ``weak_all``, ``weak_with_test_items``, ``sent``, ``deployment_usd_expected``.
        gains: before/after means, paired test, ``weak_remaining``
            (:class:`analysis.gains.gain_report.GainReport`).
        controls, net_gain, pilot: the no-LLM controls, the gain net of the best one, and
            the pilot's extrapolation (None when not a pilot, or recorded before).
        spend: the budget's accounting (charged, reserved, attempts, stop kind).
        usd_spent_this_job: paid by this job; ``usd_total_including_cached``: including
            answers reused from the cache.
        json: the summary as written.
    """

    config: RerankConfig
    status: str
    gains: dict
    n_weak: int | None = None
    n_weak_without_test_items: int | None = None
    users: dict | None = None
    threshold_value: float | None = None
    n_requests: int | None = None
    n_cached: int | None = None
    n_reranked: int | None = None
    fallback: dict = field(default_factory=dict)
    parse: dict = field(default_factory=dict)
    candidate_recall_mean: float | None = None
    tokens_spent: dict = field(default_factory=dict)
    spend: dict = field(default_factory=dict)
    usd_spent_this_job: float = 0.0
    usd_total_including_cached: float = 0.0
    budget_usd: float | None = None
    estimate: dict | None = None
    history_tokens: list = field(default_factory=list)
    prices: dict | None = None
    wall_s: float | None = None
    controls: dict | None = None
    net_gain: dict | None = None
    pilot: dict | None = None
    backend_stats: dict | None = None
    job_id: str | None = None
    json: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def k(self) -> int:
        return int(self.gains["k"])

    @property
    def recorded_config(self) -> dict:
        """The settings as the file records them (for display: every key, as written)."""
        return dict(self.json.get("config") or {})

    @property
    def weak_remaining(self) -> dict:
        """Weak users before and after, on test (see :func:`evaluate_gains`)."""
        return self.gains["weak_remaining"]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RerankSummary:
        from analysis.rerank.config import RerankConfig

        d = jsonable(dict(d))
        kw = _known(cls, d)
        kw = {k: v for k, v in kw.items() if v is not None or k in ("prices", "budget_usd")}
        kw["config"] = RerankConfig.from_dict(d["config"])
        return cls(**kw, json=d)

    def to_json(self) -> dict:
        return dict(self.json)


def rerank_summary_json(plan: RerankPlan, answers: JobAnswers, merged: MergedRerank) -> dict:
    """``rerank_summary.json`` of a finished job (see :class:`RerankSummary`)."""
    import numpy as np

    from analysis.gains.pilot import net_summary, pilot_summary

    per, cfg = merged.per_user, plan.config
    totals = (
        per[["input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens"]]
        .where(~per["cached"], 0)
        .sum()
    )
    return {
        "job_id": answers.job_id,
        "config": cfg.to_dict(),
        "n_weak": int(plan.weak.n_weak),
        "n_weak_without_test_items": plan.n_weak_without_test,
        "users": {
            "weak_all": plan.n_weak_all,
            "weak_with_test_items": plan.n_population,
            "sent": len(plan.users),
            "deployment_usd_expected": plan.deployment_usd,
        },
        "threshold_value": float(plan.weak.threshold_value),
        "n_requests": len(plan.requests),
        "n_cached": int(per["cached"].sum()),
        "n_reranked": int(per["reranked"].sum()),
        "fallback": {
            str(reason): int(count)
            for reason, count in per["fallback_reason"].fillna("none").value_counts().items()
            if reason != "none"
        },
        "parse": {
            c: int(per[c].sum()) for c in ("n_valid", "n_hallucinated", "n_duplicate", "n_missing")
        },
        "candidate_recall_mean": float(np.nanmean(plan.candidates.candidate_recall)),
        "tokens_spent": {name: int(v) for name, v in totals.items()},
        "status": "incomplete" if answers.spend["n_without_answer"] else "complete",
        "spend": answers.spend,
        "usd_spent_this_job": float(per["cost_usd"].sum()),
        "usd_total_including_cached": float(per["paid_usd"].sum()),
        "budget_usd": cfg.budget_usd,
        "estimate": plan.estimate.to_dict(),
        "history_tokens": plan.history_tokens.to_dict(orient="records"),
        "prices": answers.prices.to_dict() if answers.prices is not None else None,
        "wall_s": float(answers.wall_s),
        "gains": merged.gains.headline,
        "controls": merged.controls.summary(),
        "net_gain": net_summary(merged.controls, merged.gains, per),
        "pilot": pilot_summary(plan, merged.controls, merged.gains, per),
        "backend_stats": answers.backend_stats,
    }
