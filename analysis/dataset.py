"""The in-memory dataset every later step works on.

A :class:`Dataset` is what ingest (from a DuckDB workspace) and the synthetic generator
produce, and what the split consumes. Users and items are held as dense indices
(``user_idx`` in ``0..n_users-1``, ``item_idx`` in ``0..n_items-1``); the raw ids of the input
file are kept beside them in ``user_ids`` / ``item_ids`` so that every output file speaks in the
user's own ids. One row per (user, item): duplicates were aggregated at ingest.

Relevance (``gain``):
    * explicit ratings: ``gain = rating`` when ``rating >= relevance_threshold`` else ``0``;
    * counts (plays, clicks): ``gain = count`` (every interaction is relevant);
    * no value column: ``gain = 1``.
Binary metrics use ``gain > 0``; graded NDCG uses the gain itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["Dataset", "FeedbackKind", "compute_gain"]

FeedbackKind = Literal["explicit", "count", "implicit"]


def compute_gain(
    value: np.ndarray | None, kind: FeedbackKind, relevance_threshold: float
) -> np.ndarray:
    """Relevance gain per interaction, as defined in the module docstring.

    Args:
        value: rating or count per interaction (``None`` for pure implicit feedback).
        kind: ``"explicit"``, ``"count"`` or ``"implicit"``.
        relevance_threshold: ratings at or above it are relevant (explicit only).

    Returns:
        float32 array of gains, 0 for non-relevant interactions.
    """
    if kind == "implicit" or value is None:
        n = 0 if value is None else len(value)
        return np.ones(n, dtype=np.float32)
    v = np.asarray(value, dtype=np.float32)
    if kind == "count":
        return v.copy()
    return np.where(v >= relevance_threshold, v, np.float32(0)).astype(np.float32)


@dataclass(frozen=True)
class Dataset:
    """A dense-indexed interaction log plus optional side tables.

    Attributes:
        name: dataset name in the workspace (or ``"synthetic"``).
        user_idx: int32 per interaction, dense user index.
        item_idx: int32 per interaction, dense item index.
        value: float32 rating or count per interaction, ``None`` for implicit feedback.
        timestamp: int64 Unix seconds per interaction, ``None`` when the input has none.
        gain: float32 relevance gain per interaction (see module docstring).
        user_ids: raw user id for each ``user_idx`` (length ``n_users``).
        item_ids: raw item id for each ``item_idx`` (length ``n_items``).
        users: optional attributes, one row per ``user_idx`` in order (index ``0..n_users-1``),
            a ``user_id`` column plus attribute columns (e.g. ``age``, ``gender``, ``country``).
            Users absent from the attributes file have nulls.
        items: optional item table, one row per ``item_idx`` in order, columns ``item_id``,
            ``title`` (str) and ``genres`` (str, ``|``-separated), nulls where unknown.
        kind: feedback kind, see :data:`FeedbackKind`.
        relevance_threshold: the rating threshold used for ``gain`` (explicit only).
        scenario: optional int16 scenario code per interaction (the surface, domain or
            category it happened in: ``scenario_names[code]``); None when the input has no
            scenario column. A (user, item) pair seen in several scenarios keeps the scenario
            of its latest interaction (ingest counts such pairs in ``meta``).
        scenario_names: the scenarios' names, indexed by code (empty without scenarios).
    """

    name: str
    user_idx: np.ndarray
    item_idx: np.ndarray
    value: np.ndarray | None
    timestamp: np.ndarray | None
    gain: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    users: pd.DataFrame | None = None
    items: pd.DataFrame | None = None
    kind: FeedbackKind = "explicit"
    relevance_threshold: float = 4.0
    meta: dict = field(default_factory=dict)
    scenario: np.ndarray | None = None
    scenario_names: tuple[str, ...] = ()

    @property
    def has_scenarios(self) -> bool:
        return self.scenario is not None

    def pair_scenarios(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """int16 scenario code of each (user_idx, item_idx) pair, ``-1`` where the pair is not
        an interaction (or the dataset has no scenarios); any matching shapes."""
        u = np.asarray(users, dtype=np.int64)
        i = np.asarray(items, dtype=np.int64)
        out = np.full(np.broadcast(u, i).shape, -1, dtype=np.int16)
        if self.scenario is None or not self.n_interactions:
            return out
        keys = self.user_idx.astype(np.int64) * self.n_items + self.item_idx
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        want = (u * self.n_items + i).ravel()
        pos = np.minimum(np.searchsorted(sorted_keys, want), len(sorted_keys) - 1)
        hit = (sorted_keys[pos] == want) & (want >= 0)
        flat = out.ravel()
        flat[hit] = self.scenario[order[pos[hit]]]
        return flat.reshape(out.shape)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return len(self.user_idx)

    @property
    def has_timestamps(self) -> bool:
        return self.timestamp is not None

    @property
    def sparsity(self) -> float:
        """Share of the user x item matrix that is empty."""
        cells = self.n_users * self.n_items
        return 1.0 - self.n_interactions / cells if cells else 1.0

    def stats(self) -> dict:
        """Headline statistics as plain JSON-able values."""
        per_user = np.bincount(self.user_idx, minlength=self.n_users)
        per_item = np.bincount(self.item_idx, minlength=self.n_items)
        return {
            "name": self.name,
            "n_users": int(self.n_users),
            "n_items": int(self.n_items),
            "n_interactions": int(self.n_interactions),
            "n_relevant": int((self.gain > 0).sum()),
            "sparsity": float(self.sparsity),
            "kind": self.kind,
            "relevance_threshold": float(self.relevance_threshold),
            "has_timestamps": bool(self.has_timestamps),
            "interactions_per_user_mean": float(per_user.mean()) if self.n_users else 0.0,
            "interactions_per_user_median": float(np.median(per_user)) if self.n_users else 0.0,
            "interactions_per_item_mean": float(per_item.mean()) if self.n_items else 0.0,
            "has_user_attributes": self.users is not None,
            "has_item_table": self.items is not None,
            "n_scenarios": len(self.scenario_names),
        }
