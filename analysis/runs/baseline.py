"""Read a finished ``evaluate`` run back from its folder, so later steps (LLM reranking)
can start from what an analyst already has on disk.

The dataset is reloaded from the workspace named in ``summary.json``; the split is read
from the run's ``split.npz`` (the fold of every interaction, in the workspace's row order),
or, in folders written before it was stored or when the rows no longer line up, recomputed
with the recorded strategy, parameters and seed (splits are deterministic);
the dataset's SHA-256 (when the run recorded one) and the fold sizes are checked against the
summary so a dataset replaced under the same name is caught instead of silently mixing runs.

The fitted baseline is read from the run's ``model.npz``, never refitted: the rerank, the
per-user explanation and everything else that scores items use the very model that
produced the run's rankings. A folder written before models were stored (no ``model.npz``)
still loads: its model is refitted from the recorded parameters and seed, and a warning
(:data:`REFITTED`) says so, since a refit may differ from the original (BPR and LMF with
several threads).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.dataset import Dataset
from analysis.errors import AnalysisError, surface_hints
from analysis.ingest import load_dataset
from analysis.runs.provenance import dataset_sha256
from analysis.runs.summary import BaselineSummary
from analysis.split import Split, make_split
from analysis.workspace import Workspace

if TYPE_CHECKING:
    from models.base import Recommender

__all__ = ["MODEL_FILE", "REFITTED", "SPLIT_FILE", "BaselineRun", "load_run", "save_split",
           "user_table"]

#: the fitted baseline in a run folder (written by ``analysis.pipeline.write_run_outputs``)
MODEL_FILE = "model.npz"
#: the fold of every interaction of the run's dataset (:func:`save_split`)
SPLIT_FILE = "split.npz"

# Messages name folders and workspaces by their file names only (no server path).
NOT_A_RUN = surface_hints(
    "The folder {folder!r} is not a baseline run folder (no {missing}).",
    app="Train the baseline on the Baseline page.",
    cli="Run `python -m analysis evaluate ... --out DIR` first and give that folder.",
)
NO_WORKSPACE = surface_hints(
    "The run {folder!r} names no workspace file (it was made in memory).",
    app="Train the baseline again on the Baseline page.",
    cli="Run evaluate again with --workspace PATH.",
)
REFITTED = (
    "The run {folder!r} has no stored model (model.npz: it predates stored models); its "
    "{name!r} baseline was refitted from the recorded parameters and seed, which may differ "
    "from the original: train the baseline again to store it."
)
STALE_RUN = surface_hints(
    "The dataset {name!r} in the workspace {ws_file!r} no longer matches the run {folder!r} "
    "({what}); it was replaced after the run.",
    app="Train the baseline again on the Baseline page.",
    cli="Run evaluate again.",
)


@dataclass(frozen=True)
class BaselineRun:
    """A baseline run: what steps 1-6 produced and every later step starts from.

    The same type whether the run was just computed (:attr:`analysis.pipeline.PipelineResult.
    run`, the fitted model in memory) or read back from its folder (:func:`load_run`, the
    model read from ``model.npz``); both give the same rerank.

    Attributes:
        summary: the run's settings and headline figures.
        dataset: the run's dataset (reloaded from the workspace when read from disk).
        split: the folds (read from ``split.npz``, or recomputed with the same strategy,
            parameters and seed in older folders).
        per_user: ``per_user.parquet`` plus ``user_idx`` (index = user_idx).
        rankings: int32 (n_users, C) the baseline's test ranking (item_idx, -1 padded;
            rows of users not evaluated are all -1).
        item_factors: (n_items, f) when the baseline is a factor model, else None.
        path: the run folder (None: not written).
        model_file: the stored fitted baseline (``model.npz``), None in older folders.
        fitted: the fitted baseline when the run was computed in this process.
    """

    summary: BaselineSummary
    dataset: Dataset
    split: Split
    per_user: pd.DataFrame
    rankings: np.ndarray
    item_factors: np.ndarray | None
    path: Path | None = None
    model_file: Path | None = None
    fitted: Recommender | None = field(default=None, repr=False, compare=False)

    @property
    def k(self) -> int:
        return self.summary.k

    @property
    def n_candidates(self) -> int:
        return self.summary.n_candidates

    @property
    def model_name(self) -> str:
        return self.summary.model.name

    @property
    def model_is_stored(self) -> bool:
        """Whether :attr:`model` is the run's own model (False: refitted, older folder)."""
        return self.fitted is not None or self.model_file is not None

    @cached_property
    def model(self) -> Recommender:
        """The run's fitted baseline: the one in memory, or read from ``model.npz`` (loaded
        once, never refitted).

        A folder without ``model.npz`` gets the baseline refitted from the recorded
        parameters and seed, with a :data:`REFITTED` warning.

        Raises:
            AnalysisError: ``model.npz`` unreadable (:data:`models.baselines.BAD_MODEL_FILE`),
                or an imported run (rankings only: :data:`analysis.external.NO_SCORER`).
        """
        from models.baselines import load_model, make_recommender

        if self.fitted is not None:
            return self.fitted
        if self.summary.is_imported:  # rankings only: nothing can score an item
            from analysis.external import NO_SCORER

            raise AnalysisError(NO_SCORER.format(
                name=self.model_name, what="the paper protocol (scoring sampled items)"))
        if self.model_file is not None:
            return load_model(self.model_file)
        folder = Path(self.path).name if self.path is not None else "(in memory)"
        warnings.warn(REFITTED.format(folder=folder, name=self.model_name), stacklevel=2)
        params = dict(self.summary.model.params)
        seed = int(params.pop("seed", self.summary.seed))
        model = make_recommender(self.model_name, seed=seed, **params)
        sequences = self.split.train_sequences if model.uses_sequences else None
        return model.fit(self.split.train, sequences=sequences)


def user_table(per_user: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """``per_user.parquet``'s table indexed by ``user_idx`` (inserted first, sorted), the
    shape every later step reads.

    Raises:
        KeyError: never; users unknown to ``dataset`` get ``user_idx`` -1 (callers check).
    """
    table = per_user.copy()
    uidx = _index(dataset.user_ids, table["user_id"])
    table.insert(0, "user_idx", uidx.astype(np.int32))
    return table.set_index("user_idx", drop=False).sort_index()


def _row_order_digest(ds: Dataset) -> str:
    """SHA-256 of what decides the order of rows the workspace may return in any order: the
    time and value of every row of a repeated ``(user, item)`` pair, in row order (rows come
    sorted by ``(user_idx, item_idx)``; "" when no pair repeats)."""
    u = np.asarray(ds.user_idx, dtype=np.int64)
    i = np.asarray(ds.item_idx, dtype=np.int64)
    if len(u) < 2:
        return ""
    same = (np.diff(u) == 0) & (np.diff(i) == 0)
    if not same.any():
        return ""
    rows = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
    h = hashlib.sha256(rows.astype("<i8").tobytes())
    for col in (ds.timestamp, ds.value):
        if col is not None:
            h.update(np.asarray(col)[rows].tobytes())
    return h.hexdigest()


def save_split(split: Split, path: str | Path) -> None:
    """Store a split's folds (int8 per interaction, the dataset's row order) with a digest
    of the rows whose order the workspace does not fix, so :func:`load_run` can trust them."""
    np.savez(path, fold=np.asarray(split.fold, dtype=np.int8),
             row_order=np.array(_row_order_digest(split.dataset)))


def _stored_split(path: Path, dataset: Dataset, strategy: str, seed: int,
                  params: dict) -> Split | None:
    """The run's stored split when it lines up with ``dataset``'s rows, else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            fold, digest = f["fold"], str(f["row_order"])
    except (OSError, ValueError, KeyError):
        return None
    if len(fold) != len(dataset.user_idx) or digest != _row_order_digest(dataset):
        return None
    return Split(dataset=dataset, fold=fold.astype(np.int8), strategy=strategy, seed=seed,
                 params=params)


def _index(ids: np.ndarray, raw: pd.Series) -> np.ndarray:
    """Dense index of each raw id (-1 when absent)."""
    return pd.Index(ids).get_indexer(raw.to_numpy())


def load_run(path: str | Path) -> BaselineRun:
    """Load an ``evaluate`` output folder.

    Raises:
        AnalysisError: not a run folder, no workspace recorded, dataset missing or changed.
    """
    p = Path(path)
    for name in ("summary.json", "per_user.parquet", "candidates.parquet"):
        if not (p / name).is_file():
            raise AnalysisError(NOT_A_RUN.format(folder=p.name, missing=name))
    summary = BaselineSummary.from_json(json.loads((p / "summary.json").read_text()))
    source = summary.source
    if source is None or not source.workspace:
        raise AnalysisError(NO_WORKSPACE.format(folder=p.name))
    dataset = load_dataset(Workspace(source.workspace), source.dataset)
    split = _stored_split(p / SPLIT_FILE, dataset, summary.split.strategy, summary.seed,
                          dict(summary.split.params))
    if split is None:
        split = make_split(dataset, summary.split.strategy, seed=summary.seed,
                           **summary.split.params)

    def stale(what: str) -> AnalysisError:
        return AnalysisError(STALE_RUN.format(
            name=source.dataset, ws_file=Path(source.workspace).name, folder=p.name, what=what))

    recorded = summary.dataset_sha256
    if recorded is not None and dataset_sha256(dataset) != recorded:
        raise stale("its SHA-256 differs from the one the run recorded")
    counts = summary.dataset
    checks = {
        "users": (dataset.n_users, counts["n_users"]),
        "items": (dataset.n_items, counts["n_items"]),
        "test interactions": (int((split.fold == 2).sum()), counts["n_test"]),
        "validation interactions": (int((split.fold == 1).sum()), counts["n_validation"]),
    }
    for what, (now, then) in checks.items():
        if now != then:
            raise stale(f"{what}: {now:,} now, {then:,} in the run")

    per_user = user_table(pd.read_parquet(p / "per_user.parquet"), dataset)
    if (per_user.index < 0).any():
        raise stale("users of the run are missing")

    cand = pd.read_parquet(p / "candidates.parquet")
    rankings = np.full((dataset.n_users, summary.n_candidates), -1, dtype=np.int32)
    cu = _index(dataset.user_ids, cand["user_id"])
    ci = _index(dataset.item_ids, cand["item_id"])
    if (cu < 0).any() or (ci < 0).any():
        raise stale("candidate users or items are missing")
    rankings[cu, cand["rank"].to_numpy() - 1] = ci
    factors_path = p / "item_factors.npy"
    item_factors = np.load(factors_path) if factors_path.exists() else None
    model_path = p / MODEL_FILE
    return BaselineRun(
        summary=summary,
        dataset=dataset,
        split=split,
        per_user=per_user,
        rankings=rankings,
        item_factors=item_factors,
        path=p,
        model_file=model_path if model_path.is_file() else None,
    )


def read_summary(folder: str | Path) -> BaselineSummary:
    """A baseline run folder's ``summary.json``."""
    return BaselineSummary.from_json(json.loads((Path(folder) / "summary.json").read_text()))


def read_per_user(folder: str | Path) -> pd.DataFrame:
    """A baseline run folder's ``per_user.parquet`` (one row per user, raw ids)."""
    return pd.read_parquet(Path(folder) / "per_user.parquet")


def read_subgroups(folder: str | Path) -> pd.DataFrame | None:
    """``subgroups.csv`` (``dimension`` and ``group`` as text), None when absent."""
    path = Path(folder) / "subgroups.csv"
    return pd.read_csv(path, dtype={"group": str, "dimension": str}) if path.is_file() else None


def read_cohorts(folder: str | Path) -> pd.DataFrame | None:
    """``weak_cohorts.csv`` as written, None when absent."""
    path = Path(folder) / "weak_cohorts.csv"
    return pd.read_csv(path) if path.is_file() else None
