"""The Baseline page's plain logic: a checked run configuration, the table comparing a
dataset's baseline runs, and renaming/deleting a dataset together with its runs.

A run names its dataset (``summary.json`` and the workspace's ``runs`` table) and reloads it
by that name, so a dataset with runs is not renamed, and deleting a dataset deletes its runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd

from analysis import split as split_module
from analysis.errors import AnalysisError
from analysis.pipeline import EvaluateConfig
from analysis.runs.store import RunStore
from analysis.split import NO_TIMESTAMPS, UNKNOWN_STRATEGY, SplitStrategy
from analysis.subgroups.sampling import SampleConfig
from analysis.weak_users import WeakRule, select_weak_users
from analysis.workspace import Workspace
from models.baselines import resolve_params

__all__ = [
    "BAD_INT",
    "HAS_RUNS",
    "NOT_A_BASELINE_OF",
    "NO_VALIDATION",
    "RUN_COLUMNS",
    "SPLIT_PARAMS",
    "WeakComparison",
    "baseline_config",
    "compare_baseline_runs",
    "compare_weak_users",
    "delete_dataset",
    "rename_dataset",
]

#: parameters of a split strategy the page does not offer (the seed is the run's own)
_NOT_OFFERED = ("seed", "min_train")


def _offered_params(strategy: str) -> dict[str, float | int]:
    """A strategy's numeric parameters and defaults, read from its function's signature."""
    fn = getattr(split_module, f"split_{strategy}")
    return {name: p.default for name, p in inspect.signature(fn).parameters.items()
            if p.kind is p.KEYWORD_ONLY and name not in _NOT_OFFERED
            and isinstance(p.default, int | float) and not isinstance(p.default, bool)}


#: each split strategy's main parameters and their defaults (what the page offers), taken
#: from :mod:`analysis.split` so they are written once
SPLIT_PARAMS: dict[str, dict[str, float | int]] = {
    strategy: _offered_params(strategy) for strategy in get_args(SplitStrategy)
}

BAD_INT = "{name} must be a whole number >= {minimum}, got {value!r}."
HAS_RUNS = (
    "Dataset {name!r} has {n} saved run(s), which find it by name; delete them on the "
    "Baseline page first, or ingest the data again under the new name."
)

NOT_A_BASELINE_OF = (
    "Run {run_id!r} is not a baseline run of dataset {dataset!r}: pick a reference run from "
    "the table above."
)
NO_VALIDATION = (
    "Reference run {run_id!r} has no {column!r} column to compare runs by: train it again with "
    "a split that has a validation fold."
)

#: columns of :func:`compare_baseline_runs`: the figures to compare first, settings after
RUN_COLUMNS = [
    "run_id", "model", "ndcg", "recall", "auc", "weak_share", "k", "split", "params",
    "fit_s", "created_at",
]  # fmt: skip


def _whole(name: str, value: object, minimum: int) -> int:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AnalysisError(BAD_INT.format(name=name, minimum=minimum, value=value)) from None
    if isinstance(value, bool) or number != int(number) or number < minimum:
        raise AnalysisError(BAD_INT.format(name=name, minimum=minimum, value=value))
    return int(number)


def baseline_config(
    workspace: Workspace,
    dataset: str,
    *,
    model: str,
    model_params: dict,
    split: str,
    split_params: dict,
    k: int,
    n_candidates: int,
    seed: int,
    sample: SampleConfig | None = None,
) -> EvaluateConfig:
    """A baseline run's settings, checked before a job starts (cheap checks only).

    Checks the model name and hyperparameters (:func:`models.baselines.resolve_params`), the
    split strategy, that a temporal or global split has timestamps to use, ``k >= 1``,
    ``n_candidates >= k`` and ``seed >= 0``. The split's own parameter ranges are checked
    when the job runs (same one-line messages).

    Args:
        workspace: the workspace holding ``dataset``.
        dataset: dataset name.
        model: ``als``, ``bpr``, ``lmf``, ``itemknn`` or ``pop``.
        model_params: hyperparameters (only those that differ from the defaults are kept).
        split: ``temporal``, ``random`` or ``global``.
        split_params: the strategy's parameters.
        k: list length of the metrics.
        n_candidates: candidate list length C (>= k).
        seed: the run's seed.
        sample: evaluate a stratified sample of the users (None: every user).

    Returns:
        The :class:`~analysis.pipeline.EvaluateConfig`.

    Raises:
        AnalysisError: unknown dataset, model, parameter or split; a value out of range; a
            time-based split on a dataset without timestamps.
    """
    info = workspace.dataset_info(dataset)
    resolved = resolve_params(model, dict(model_params))
    defaults = resolve_params(model, {})
    overrides = {p: v for p, v in resolved.items() if v != defaults[p]}
    if split not in SPLIT_PARAMS:
        raise AnalysisError(UNKNOWN_STRATEGY.format(strategy=split))
    if split in ("temporal", "global") and not (info.get("stats") or {}).get("has_timestamps"):
        raise AnalysisError(NO_TIMESTAMPS.format(name=dataset, strategy=split))
    k = _whole("k", k, 1)
    c = _whole("Candidates C", n_candidates, k)
    return EvaluateConfig(
        model=model.strip().lower(),
        model_params=overrides,
        k=k,
        n_candidates=c,
        split=split,
        split_params=dict(split_params),
        seed=_whole("Seed", seed, 0),
        sample=sample,
    )


def compare_baseline_runs(store: RunStore, dataset: str) -> pd.DataFrame:
    """One row per baseline run of ``dataset``, newest first, for a comparison table.

    Returns:
        DataFrame with columns :data:`RUN_COLUMNS`, the figures to compare first:
        ``run_id``; ``model``; ``ndcg``, ``recall`` (at the run's k), ``auc`` (test, over
        evaluated users); ``weak_share`` (share of users marked weak: 20% by construction
        under a percentile rule, see :func:`compare_weak_users`); ``k``; ``split`` (strategy
        and parameters as text); ``params`` (the full hyperparameters as ``name=value``
        text, defaults included); ``fit_s`` (seconds to fit the model); ``created_at``.
        Missing figures are NaN.
    """
    runs = store.list_runs(dataset=dataset, kind="baseline")
    rows = []
    for r in runs.itertuples(index=False):  # one row per run: a handful, not per user
        p, h = r.params, r.headline
        k = int(p.get("k", 10))
        overall = h.get("overall", {})
        try:
            full = resolve_params(p.get("model", ""), p.get("model_params", {}))
        except AnalysisError:
            full = p.get("model_params", {})
        sp = p.get("split_params") or {}
        rows.append({
            "run_id": r.run_id,
            "model": p.get("model", ""),
            "params": ", ".join(f"{n}={v}" for n, v in full.items()) or "(none)",
            "split": p.get("split", "") + (
                " (" + ", ".join(f"{n}={v}" for n, v in sp.items()) + ")" if sp else ""),
            "k": k,
            "ndcg": overall.get(f"ndcg@{k}"),
            "recall": overall.get(f"recall@{k}"),
            "auc": overall.get("auc"),
            "weak_share": h.get("weak_users", {}).get("share"),
            "fit_s": h.get("timings_s", {}).get("fit"),
            "created_at": r.created_at,
        })
    out = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for col in ("ndcg", "recall", "auc", "weak_share", "fit_s"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    return out


@dataclass(frozen=True)
class WeakComparison:
    """Baseline runs of one dataset judged by one absolute weak-user threshold.

    A percentile rule makes every run's weakest 20% weak by construction, so its weak shares
    cannot tell models apart; one fixed threshold can. The threshold is the reference run's
    own (the value its rule resolved to on validation) and applies to every run's validation
    column of the same metric.

    Attributes:
        reference_run_id: the run the threshold was chosen on.
        metric: the rule's metric (``"auc"``, ``"ndcg@10"``); runs are compared on
            ``val_<metric>``.
        threshold: the absolute threshold: weak when ``val_<metric> <= threshold`` (and
            ``inactive`` when the reference rule requires it).
        require_inactive: whether the reference rule also requires ``inactive``.
        counts: one row per run compared (the reference first, then the table's order):
            ``run_id``, ``model``, ``n_users`` (users with a validation value), ``n_weak``,
            ``share`` (``n_weak / n_users``).
        pairs: one row per ordered pair of runs ``(a, b)``: ``weak_under`` (run a),
            ``not_weak_under`` (run b), ``n_users`` (users weak under a and not under b,
            among users with a validation value in both) and ``user_ids`` (their raw ids,
            sorted, as a tuple).
        skipped: runs left out because their per-user table has no ``val_<metric>``.
    """

    reference_run_id: str
    metric: str
    threshold: float
    require_inactive: bool
    counts: pd.DataFrame
    pairs: pd.DataFrame
    skipped: tuple[str, ...] = ()


def compare_weak_users(
    store: RunStore,
    dataset: str,
    reference_run_id: str,
    *,
    load: Callable[[str], pd.DataFrame] | None = None,
) -> WeakComparison:
    """Compare the baseline runs of ``dataset`` at the reference run's absolute threshold.

    ``t`` is the reference run's resolved threshold (``threshold_value`` of its rule, e.g.
    the 20th percentile of its validation AUC); every run's users are then weak when
    ``val_<metric> <= t`` (see :class:`~analysis.weak_users.WeakRule`). For runs ``a`` and
    ``b`` the users weak under ``a`` but not under ``b`` are found by joining the two weak
    masks on ``user_id`` (users without a validation value in either are left out). Runs with
    a different split have different validation items, so their users' values differ too.

    Args:
        store: the run store.
        dataset: the dataset whose baseline runs are compared.
        reference_run_id: a baseline run of ``dataset``.
        load: per-user table of a run id (default: the run's ``per_user.parquet``; a page
            may pass its cached loader).

    Returns:
        A :class:`WeakComparison`.

    Raises:
        AnalysisError: the reference is not a baseline run of ``dataset``
            (:data:`NOT_A_BASELINE_OF`), or has no validation column of its rule's metric
            (:data:`NO_VALIDATION`).
    """
    runs = store.list_runs(dataset=dataset, kind="baseline")
    if reference_run_id not in set(runs["run_id"]):
        raise AnalysisError(NOT_A_BASELINE_OF.format(run_id=reference_run_id, dataset=dataset))
    paths = dict(zip(runs["run_id"], runs["path"], strict=True))
    load = load or (lambda r: pd.read_parquet(Path(paths[r]) / "per_user.parquet"))
    runs = pd.concat([runs[runs["run_id"] == reference_run_id],
                      runs[runs["run_id"] != reference_run_id]])
    ref = runs.iloc[0]["headline"].get("weak_users", {})
    rule = ref.get("rule", {})
    metric = rule.get("metric", "ndcg@10")
    threshold = float(ref.get("threshold_value", np.nan))
    require_inactive = bool(rule.get("require_inactive", False))
    fixed = WeakRule(metric=metric, threshold=threshold, require_inactive=require_inactive)
    column = f"val_{metric}"

    counts, weak, skipped = [], {}, []
    for r in runs.itertuples(index=False):  # a handful of runs, each selection vectorised
        table = load(r.run_id)
        if column not in table.columns:
            if r.run_id == reference_run_id:
                raise AnalysisError(NO_VALIDATION.format(run_id=r.run_id, column=column))
            skipped.append(r.run_id)
            continue
        sel = select_weak_users(table, fixed)
        has = table[column].notna().to_numpy()
        weak[r.run_id] = pd.Series(
            sel.mask[has], index=table["user_id"].to_numpy()[has], name=r.run_id)
        n_users = int(has.sum())
        counts.append({"run_id": r.run_id, "model": r.params.get("model", ""),
                       "n_users": n_users, "n_weak": int(sel.n_weak),
                       "share": sel.n_weak / n_users if n_users else float("nan")})
    pairs = []
    for a, wa in weak.items():  # ordered pairs of a handful of runs
        for b, wb in weak.items():
            if a == b:
                continue
            both = pd.concat([wa, wb], axis=1, join="inner")
            ids = both.index[both[a].to_numpy(bool) & ~both[b].to_numpy(bool)]
            pairs.append({"weak_under": a, "not_weak_under": b, "n_users": len(ids),
                          "user_ids": tuple(sorted(ids.tolist()))})
    return WeakComparison(
        reference_run_id=reference_run_id,
        metric=metric,
        threshold=threshold,
        require_inactive=require_inactive,
        counts=pd.DataFrame(counts, columns=["run_id", "model", "n_users", "n_weak", "share"]),
        pairs=pd.DataFrame(pairs, columns=["weak_under", "not_weak_under", "n_users",
                                           "user_ids"]),
        skipped=tuple(skipped),
    )


def rename_dataset(workspace: Workspace, store: RunStore, old: str, new: str) -> None:
    """Rename a dataset that has no saved runs.

    Raises:
        AnalysisError: ``old`` has runs (:data:`HAS_RUNS`), or the workspace refuses the
            name (unknown dataset, invalid or taken name).
    """
    n = len(store.list_runs(dataset=old))
    if n and old != new:
        raise AnalysisError(HAS_RUNS.format(name=old, n=n))
    workspace.rename_dataset(old, new)


def delete_dataset(workspace: Workspace, store: RunStore, name: str) -> int:
    """Delete a dataset and every run made from it.

    Returns:
        The number of runs deleted.

    Raises:
        AnalysisError: no such dataset.
    """
    workspace.dataset_info(name)  # raises for an unknown name before anything is deleted
    runs = store.list_runs(dataset=name)
    baselines = runs[runs["kind"] == "baseline"]["run_id"].tolist()
    for run_id in baselines:  # each deletes its reranks too
        store.delete(run_id)
    leftovers = store.list_runs(dataset=name)["run_id"].tolist()
    for run_id in leftovers:
        store.delete(run_id)
    workspace.delete_dataset(name)
    return len(runs)
