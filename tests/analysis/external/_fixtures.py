"""A small workspace dataset and a known recommender's rankings of it, written by numpy in the
TREC and Parquet forms an external system would export (built once per module)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.dataset import Dataset
from analysis.ingest import load_dataset
from analysis.ingest.uploads import ingest_synthetic
from analysis.split import Split, make_split
from analysis.workspace import Workspace

C = 15


@dataclass(frozen=True)
class External:
    ws_path: Path
    dataset: Dataset
    split: Split
    items: np.ndarray  # (n_users, C) item_idx of the test run, the "known recommender"
    trec: Path
    parquet: Path
    val_trec: Path


def known_rankings(ds: Dataset, exclude, seed: int) -> np.ndarray:
    """Popularity plus seeded noise, items in ``exclude`` (csr) removed: (n_users, C)."""
    pop = np.bincount(ds.item_idx, minlength=ds.n_items).astype(np.float64)
    rng = np.random.default_rng(seed)
    scores = pop[None, :] + rng.random((ds.n_users, ds.n_items)) * pop.max()
    scores[exclude.nonzero()] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :C]


def write_trec(path: Path, ds: Dataset, items: np.ndarray, users: np.ndarray) -> Path:
    lines = [f"{ds.user_ids[u]} Q0 {ds.item_ids[i]} {r + 1} {C - r:.1f} known"
             for u in users for r, i in enumerate(items[u])]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_parquet(path: Path, ds: Dataset, items: np.ndarray, users: np.ndarray) -> Path:
    u = np.repeat(users, C)
    rank = np.tile(np.arange(1, C + 1), len(users))
    pd.DataFrame({"userId": ds.user_ids[u], "item": ds.item_ids[items[users].ravel()],
                  "position": rank}).to_parquet(path)
    return path


def build_external(root: Path) -> External:
    """The workspace, the split and the run files, written under ``root``."""
    ws = Workspace(root / "ws.duckdb")
    ingest_synthetic(ws, "syn", n_users=80, n_items=60, mean_interactions=14.0, seed=3)
    ds = load_dataset(ws, "syn")
    split = make_split(ds, "temporal", seed=0)
    test_items = known_rankings(ds, split.train + split.validation_seen, seed=1)
    val_items = known_rankings(ds, split.train, seed=2)
    users = np.arange(ds.n_users)
    return External(
        ws_path=root / "ws.duckdb", dataset=ds, split=split, items=test_items,
        trec=write_trec(root / "test.run", ds, test_items, users),
        parquet=write_parquet(root / "test.parquet", ds, test_items, users),
        val_trec=write_trec(root / "val.run", ds, val_items, users),
    )
