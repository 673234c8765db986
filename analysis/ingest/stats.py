"""Statistics of a dataset in the workspace, for the Data page: headline counts and the
activity and popularity distributions, computed in DuckDB from the stored interactions.

Only per-user and per-item counts leave DuckDB (one integer per user and per item), and the
returned curves are small: a log-binned histogram and a long-tail curve of at most
``max_points`` points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.workspace import Workspace

__all__ = ["DatasetStats", "activity_histogram", "dataset_stats", "head_share",
           "popularity_curve"]


@dataclass(frozen=True)
class DatasetStats:
    """Headline statistics and distributions of one dataset.

    Attributes:
        name: dataset name.
        n_users, n_items, n_interactions: after ingest (duplicates merged, k-core).
        n_relevant: interactions with gain > 0 (rating >= threshold for explicit feedback).
        kind: ``explicit``, ``count`` or ``implicit``.
        relevance_threshold: rating threshold of relevance.
        has_timestamps, has_users, has_items: which optional parts exist.
        top20_share: share of all interactions that go to the most popular 20% of items
            (``ceil(0.2 * n_items)`` items; 0.0 without interactions).
        activity: log-binned histogram of interactions per user (:func:`activity_histogram`).
        popularity: long-tail curve of interactions per item (:func:`popularity_curve`).
        n_scenarios: distinct scenarios (0 without a scenario column, or for a dataset
            ingested before scenarios existed).
        pairs_in_several_scenarios: (user, item) pairs seen in several scenarios (they keep
            the latest one's).
    """

    name: str
    n_users: int
    n_items: int
    n_interactions: int
    n_relevant: int
    kind: str
    relevance_threshold: float
    has_timestamps: bool
    has_users: bool
    has_items: bool
    top20_share: float
    activity: pd.DataFrame
    popularity: pd.DataFrame
    n_scenarios: int = 0
    pairs_in_several_scenarios: int = 0

    @property
    def sparsity(self) -> float:
        """``1 - n_interactions / (n_users * n_items)``; 1.0 for an empty matrix."""
        cells = self.n_users * self.n_items
        return 1.0 - self.n_interactions / cells if cells else 1.0

    @property
    def relevant_share(self) -> float:
        """``n_relevant / n_interactions``; 0.0 when there are no interactions."""
        return self.n_relevant / self.n_interactions if self.n_interactions else 0.0


def activity_histogram(counts: np.ndarray, n_bins: int = 30) -> pd.DataFrame:
    """Histogram of per-user interaction counts over log-spaced integer bins.

    Bin edges are the distinct integers of ``round(geomspace(1, max + 1, n_bins + 1))``;
    bin ``i`` holds counts ``c`` with ``edge[i] <= c < edge[i + 1]``, so small counts get a
    bin each and the long tail shares wide bins. Counts below 1 (impossible after ingest)
    are ignored.

    Args:
        counts: interactions per user (integers >= 1).
        n_bins: at most this many bins.

    Returns:
        DataFrame with columns ``low`` and ``high`` (inclusive count range of the bin),
        ``label`` (``"3"`` or ``"4-7"``) and ``n_users``; empty when ``counts`` is empty.
    """
    c = np.asarray(counts, dtype=np.int64)
    c = c[c >= 1]
    if not len(c):
        return pd.DataFrame({"low": [], "high": [], "label": [], "n_users": []})
    top = int(c.max())
    edges = np.unique(np.round(np.geomspace(1, top + 1, max(1, n_bins) + 1)).astype(np.int64))
    edges[-1] = top + 1
    hist, _ = np.histogram(c, bins=edges)
    low, high = edges[:-1], edges[1:] - 1
    label = np.where(low == high, low.astype(str), np.char.add(np.char.add(low.astype(str), "-"),
                                                               high.astype(str)))
    return pd.DataFrame({"low": low, "high": high, "label": label, "n_users": hist})


def popularity_curve(counts: np.ndarray, max_points: int = 500) -> pd.DataFrame:
    """Long-tail curve: items by popularity rank and the cumulative share of interactions.

    With items sorted by count (descending), the point at rank ``r`` (1-based) has
    ``n_interactions`` = the count of the item at rank ``r`` and ``cumulative_share`` =
    (sum of the counts of ranks 1..r) / total. At most ``max_points`` ranks are kept,
    spaced geometrically (rank 1 and the last rank always included), so the head of the
    curve stays exact on a log axis.

    Args:
        counts: interactions per item.
        max_points: points kept (>= 2).

    Returns:
        DataFrame with columns ``rank``, ``n_interactions``, ``cumulative_share``,
        ``item_share`` (rank / number of items); empty when ``counts`` is empty.
    """
    c = np.sort(np.asarray(counts, dtype=np.int64))[::-1]
    n = len(c)
    if n == 0:
        return pd.DataFrame({"rank": [], "n_interactions": [], "cumulative_share": [],
                             "item_share": []})
    total = c.sum()
    cum = np.cumsum(c) / total if total else np.zeros(n)
    keep = np.unique(np.round(np.geomspace(1, n, max(2, max_points))).astype(np.int64)) - 1
    return pd.DataFrame({
        "rank": keep + 1,
        "n_interactions": c[keep],
        "cumulative_share": cum[keep],
        "item_share": (keep + 1) / n,
    })


def head_share(counts: np.ndarray, fraction: float = 0.2) -> float:
    """Share of all interactions held by the ``ceil(fraction * n)`` most popular items.

    Returns 0.0 when there are no items or no interactions.
    """
    c = np.sort(np.asarray(counts, dtype=np.int64))[::-1]
    total = c.sum()
    if not len(c) or total == 0:
        return 0.0
    n_head = int(np.ceil(fraction * len(c)))
    return float(c[:n_head].sum() / total)


def dataset_stats(
    workspace: Workspace, name: str, *, n_bins: int = 30, max_points: int = 500
) -> DatasetStats:
    """Statistics of dataset ``name``, from its catalog row and its interactions table.

    Args:
        workspace: the workspace.
        name: dataset name.
        n_bins: bins of the activity histogram.
        max_points: points of the popularity curve.

    Returns:
        A :class:`DatasetStats`.

    Raises:
        AnalysisError: no such dataset.
    """
    info = workspace.dataset_info(name)
    table = f'"{info["table_prefix"]}_interactions"'
    with workspace.connect(read_only=True) as con:
        per_user = con.execute(f"SELECT count(*) FROM {table} GROUP BY user_id").fetchnumpy()
        per_item = con.execute(f"SELECT count(*) FROM {table} GROUP BY item_id").fetchnumpy()
        has_ts = con.execute(f"SELECT count(ts) > 0 FROM {table}").fetchall()[0][0]
    user_counts = next(iter(per_user.values()))
    item_counts = next(iter(per_item.values()))
    stats = info.get("stats") or {}
    return DatasetStats(
        name=info["name"],
        n_users=int(info["n_users"]),
        n_items=int(info["n_items"]),
        n_interactions=int(info["n_interactions"]),
        n_relevant=int(stats.get("n_relevant", 0)),
        kind=str(info["kind"]),
        relevance_threshold=float(info["relevance_threshold"]),
        has_timestamps=bool(has_ts),
        has_users=bool(info["has_users"]),
        has_items=bool(info["has_items"]),
        top20_share=head_share(np.asarray(item_counts), 0.2),
        activity=activity_histogram(np.asarray(user_counts), n_bins),
        popularity=popularity_curve(np.asarray(item_counts), max_points),
        n_scenarios=int(stats.get("n_scenarios", 0)),
        pairs_in_several_scenarios=int(stats.get("pairs_in_several_scenarios", 0)),
    )
