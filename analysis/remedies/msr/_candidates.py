"""The re-scorer's inputs: each user's top-C candidates from the baseline and their features.

Candidates are the baseline's own top C (the run's ``n_candidates``) with the period's
convention: for validation the training items are masked; for test the training and
validation items are (the run's test convention, so the first k are the run's own list).

Features of candidate ``i`` for user ``u`` (in this order; ``F = 6``):

0. the baseline's score standardised over the user's C candidates (``(x - mean) / std``,
   0 when ``std = 0``);
1. its rank in the baseline's list divided by C (0 = first);
2. ``log(1 + training interactions of i)`` standardised over the catalogue;
3. the share of ``u``'s training interactions in ``i``'s scenario;
4. 1 when ``i``'s scenario is that of ``u``'s latest training interaction, else 0;
5. a constant 1.

An item's scenario is the most frequent scenario of its training interactions (ties to the
lower code); an item never trained on has none (condition row ``n_scenarios``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analysis.split import TRAIN, Split
from models.topk import batch_size_for, mask_rows, topk_rows

__all__ = ["N_FEATURES", "Candidates", "build_candidates", "item_scenarios"]

N_FEATURES = 6


@dataclass(frozen=True)
class Candidates:
    """One period's candidate lists.

    Attributes:
        users: int64 ``(n,)`` user_idx of each list.
        items: int32 ``(n, C)`` item_idx in the baseline's order, ``-1`` padded.
        x: float32 ``(n, C, F)`` features (module docstring), 0 on padding.
        scen: int64 ``(n, C)`` scenario condition row of each candidate.
        valid: bool ``(n, C)``, False on padding.
    """

    users: np.ndarray
    items: np.ndarray
    x: np.ndarray
    scen: np.ndarray
    valid: np.ndarray

    def labels(self, truth: sp.csr_matrix) -> np.ndarray:
        """float32 ``(n, C)``: 1 where the candidate is in ``truth`` (rows = user_idx)."""
        rows = truth[self.users]
        safe = np.maximum(self.items, 0)
        hit = np.asarray(rows[np.arange(len(self.users))[:, None], safe].todense()) > 0
        return (hit & self.valid).astype(np.float32)


def item_scenarios(split: Split) -> np.ndarray:
    """int64 ``(n_items,)``: each item's scenario (module docstring), -1 when none."""
    ds = split.dataset
    train = split.fold == TRAIN
    n_scen = len(ds.scenario_names)
    counts = np.zeros((ds.n_items, max(n_scen, 1)), np.int64)
    np.add.at(counts, (ds.item_idx[train], ds.scenario[train].astype(np.int64)), 1)
    return np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1).astype(np.int64)


def _user_context(split: Split) -> tuple[np.ndarray, np.ndarray]:
    """Share of each user's training interactions per scenario ``(n_users, S)``, and the
    scenario of their latest training interaction (-1: none)."""
    ds = split.dataset
    train = np.flatnonzero(split.fold == TRAIN)
    n_scen = max(len(ds.scenario_names), 1)
    counts = np.zeros((ds.n_users, n_scen), np.float64)
    np.add.at(counts, (ds.user_idx[train], ds.scenario[train].astype(np.int64)), 1.0)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    time = (np.asarray(ds.timestamp, np.int64)[train] if ds.timestamp is not None
            else train.astype(np.int64))
    last = pd.DataFrame({"u": ds.user_idx[train], "t": time, "r": train,
                         "s": ds.scenario[train].astype(np.int64)})
    last = last.sort_values(["u", "t", "r"]).groupby("u")["s"].last()
    latest = np.full(ds.n_users, -1, np.int64)
    latest[last.index.to_numpy()] = last.to_numpy()
    return share, latest


def _standardise_rows(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    n = np.maximum(valid.sum(axis=1, keepdims=True), 1)
    v = np.where(valid, scores, 0.0)
    mean = v.sum(axis=1, keepdims=True) / n
    sd = np.sqrt((np.where(valid, v - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / n)
    z = np.divide(v - mean, sd, out=np.zeros_like(v), where=sd > 0)
    return np.where(valid, z, 0.0)


def build_candidates(run, users: np.ndarray, seen: sp.csr_matrix) -> Candidates:
    """The baseline's top-C candidates of ``users`` with ``seen`` masked, and their features.

    Args:
        run: a :class:`~analysis.runs.baseline.BaselineRun` whose model can score items.
        users: int user_idx.
        seen: ``(n_users, n_items)`` items not to propose (training, or training and
            validation).
    """
    split, c = run.split, run.n_candidates
    users = np.asarray(users, np.int64)
    items_out, scores_out = [], []
    size = batch_size_for(run.dataset.n_items)
    for start in range(0, len(users), size):
        batch = users[start:start + size]
        scores = np.asarray(run.model.score_users(batch), dtype=np.float64)
        mask_rows(scores, seen[batch])
        items, top = topk_rows(scores, c)
        items_out.append(items)
        scores_out.append(top.astype(np.float64))
    items = np.vstack(items_out) if items_out else np.zeros((0, c), np.int32)
    top = np.vstack(scores_out) if scores_out else np.zeros((0, c))
    valid = items >= 0
    safe = np.maximum(items, 0)
    n_scen = len(split.dataset.scenario_names)
    item_scen = item_scenarios(split)
    scen_of = item_scen[safe]
    pop = np.log1p(np.bincount(split.dataset.item_idx[split.fold == TRAIN],
                               minlength=split.dataset.n_items).astype(np.float64))
    pop = (pop - pop.mean()) / (pop.std() or 1.0)
    share, latest = _user_context(split)
    x = np.zeros((*items.shape, N_FEATURES), np.float32)
    x[..., 0] = _standardise_rows(np.where(valid, top, 0.0), valid)
    x[..., 1] = np.arange(c)[None, :] / max(c, 1)
    x[..., 2] = pop[safe]
    x[..., 3] = np.where(scen_of >= 0, share[users[:, None], np.maximum(scen_of, 0)], 0.0)
    x[..., 4] = (scen_of >= 0) & (scen_of == latest[users][:, None])
    x[..., 5] = 1.0
    x[~valid] = 0.0
    scen = np.where(valid & (scen_of >= 0), scen_of, n_scen).astype(np.int64)
    return Candidates(users=users, items=items, x=x, scen=scen, valid=valid)
