"""Writing a baseline run's folder: the analyst's files plus what lets a later step start
from the folder without refitting (the fitted model, the folds, the candidate rankings).

Files (every Parquet file holds no wall-clock time, so the same dataset, settings and seed
give byte-identical files):

* ``per_user.parquet``: one row per user: raw id, every metric, counts, subgroup columns,
  ``weak``;
* ``recommendations.parquet`` (top k) and ``candidates.parquet`` (top C, what an LLM may
  rerank) of every evaluated user: ``user_id``, ``rank`` (from 1), ``item_id``, ``score``;
* ``test.parquet``: the held-out relevant test interactions (``user_id``, ``item_id``,
  ``gain``);
* ``subgroups.csv``, ``subgroup_tests.csv``, ``weak_cohorts.csv``;
* ``model.npz`` (:func:`models.baselines.save_model`), ``split.npz``
  (:func:`analysis.runs.baseline.save_split`), ``item_factors.npy`` (factor models);
* ``summary.json`` (:class:`analysis.runs.summary.BaselineSummary`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.pipeline import PipelineResult, per_user_frame, settings_text
from analysis.runs.baseline import MODEL_FILE, SPLIT_FILE, save_split
from analysis.runs.files import atomic_folder
from analysis.runs.provenance import DATASET_HASH_OF, dataset_sha256, package_versions
from analysis.runs.summary import RunSource, baseline_summary_json, dimension_name
from models.baselines import BaselineRecommender, save_model

__all__ = [
    "provenance",
    "ranking_frame",
    "recommendations_frame",
    "subgroups_frame",
    "test_frame",
    "write_run_outputs",
]


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
        g.insert(0, "dimension", dimension_name(r.dimension))
        g.insert(1, "metric", r.metric)
        frames.append(g)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


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
        source = RunSource(dataset=result.dataset.name,
                           workspace=None if workspace is None else str(workspace))
        summary = baseline_summary_json(result, source=source,
                                        provenance=provenance(result, command))
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2))
    return {p.name: p for p in sorted(Path(out).iterdir())}
