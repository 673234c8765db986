"""The Baseline page's plain logic: a checked run configuration, the table comparing a
dataset's baseline runs, and renaming/deleting a dataset together with its runs.

A run names its dataset (``summary.json`` and the workspace's ``runs`` table) and reloads it
by that name, so a dataset with runs is not renamed, and deleting a dataset deletes its runs.
"""

from __future__ import annotations

import pandas as pd

from analysis.errors import AnalysisError
from analysis.pipeline import EvaluateConfig
from analysis.runs import RunStore
from analysis.split import NO_TIMESTAMPS, UNKNOWN_STRATEGY
from analysis.workspace import Workspace
from models.baselines._params import resolve_params

__all__ = [
    "BAD_INT",
    "HAS_RUNS",
    "RUN_COLUMNS",
    "SPLIT_PARAMS",
    "baseline_config",
    "compare_baseline_runs",
    "delete_dataset",
    "rename_dataset",
]

#: each split strategy's main parameters and their defaults (what the page offers)
SPLIT_PARAMS: dict[str, dict[str, float | int]] = {
    "temporal": {"n_validation": 5, "n_test": 5},
    "random": {"validation_fraction": 0.1, "test_fraction": 0.1},
    "global": {"validation_quantile": 0.8, "test_quantile": 0.9},
}

BAD_INT = "{name} must be a whole number >= {minimum}, got {value!r}."
HAS_RUNS = (
    "Dataset {name!r} has {n} saved run(s), which find it by name; delete them on the "
    "Baseline page first, or ingest the data again under the new name."
)

#: columns of :func:`compare_baseline_runs`
RUN_COLUMNS = [
    "run_id", "model", "params", "split", "k", "ndcg", "recall", "auc", "weak_share",
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
    )


def compare_baseline_runs(store: RunStore, dataset: str) -> pd.DataFrame:
    """One row per baseline run of ``dataset``, newest first, for a comparison table.

    Returns:
        DataFrame with columns :data:`RUN_COLUMNS`: ``run_id``; ``model``; ``params`` (the
        full hyperparameters as ``name=value`` text, defaults included); ``split``
        (strategy and parameters as text); ``k``; ``ndcg``, ``recall`` (at the run's k),
        ``auc`` (test, over evaluated users); ``weak_share`` (share of users marked weak);
        ``fit_s`` (seconds to fit the model); ``created_at``. Missing figures are NaN.
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
