"""Subgroup statistics from counts of values, for per-user tables too big to load.

At ten million users the per-user table stays in Parquet; DuckDB reduces it to one row per
``(group, value, weak)`` with the number of users holding it (a per-user list metric at
``k = 10`` takes a few thousand distinct values, so the counts are small whatever the number
of users). Every statistic of :class:`~analysis.subgroups.SubgroupReport` is a function of
those counts, computed here with the same definitions as :func:`~analysis.subgroups.
subgroup_report` (``docs/metrics.md``, "Subgroups at scale"):

* ``size = sum n``, ``mean = sum n v / size``; ``median``: numpy's (the middle value, or the
  mean of the two middle values) read off the cumulative counts;
* the interval of a mean: above :data:`EXACT_BOOTSTRAP_MAX` users the normal limit
  ``mean +- z sd / sqrt(size)`` with ``sd`` the population standard deviation
  (``sum n (v - mean)^2 / size``), as in :func:`bootstrap_mean_ci`; at or below it the same
  seeded percentile bootstrap over the group's values, listed in ascending order (the
  in-memory report lists them in user order: same distribution, other draws);
* Gini: ``2 sum_i i x_(i) / (N sum x) - (N + 1) / N`` with the ranks of each distinct value
  summed in closed form (``c_j (C_{j-1} + C_j + 1) / 2`` for the ``c_j`` users at the j-th
  smallest value, ``C_j`` the cumulative count);
* Kruskal-Wallis across the reliable groups: average ranks ``C_{j-1} + (c_j + 1) / 2`` per
  distinct value, ``H = 12 / (N (N + 1)) sum_g R_g^2 / n_g - 3 (N + 1)`` divided by the tie
  correction ``1 - sum_j (c_j^3 - c_j) / (N^3 - N)``, ``p`` from chi-squared with
  ``G - 1`` degrees of freedom: scipy's ``kruskal`` on the expanded values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis.subgroups._grouping import INTERSECTION
from analysis.subgroups._multiple import family_table
from analysis.subgroups._report import (
    _STAT_COLUMNS,
    MIN_GROUP_SIZE,
    SubgroupReport,
    assemble_report,
)
from analysis.subgroups._statistics import EXACT_BOOTSTRAP_MAX, bootstrap_mean_ci

__all__ = ["counted_family", "counted_quantile_edges", "counted_report"]


def counted_quantile_edges(values: np.ndarray, counts: np.ndarray, n_bins: int) -> np.ndarray:
    """The unique ``inverted_cdf`` quantile edges at ``0, 1/n_bins, ..., 1`` of values given
    with their counts: :func:`~analysis.subgroups._binning.quantile_codes`' edges of the
    expanded values (the smallest value whose cumulative count reaches ``q N``)."""
    order = np.argsort(values, kind="stable")
    v = np.asarray(values, dtype=np.float64)[order]
    cum = np.cumsum(np.asarray(counts, dtype=np.int64)[order])
    if not len(v):
        return np.empty(0)
    total = int(cum[-1])
    qs = np.linspace(0.0, 1.0, int(n_bins) + 1)
    # numpy's inverted_cdf: the value at 0-based position ceil(q N) - 1 (0 at q = 0)
    pos = np.maximum(np.ceil(qs * total).astype(np.int64) - 1, 0)
    return np.unique(v[np.searchsorted(cum, pos, side="right")])


class _Sorted:
    """One group's (or everyone's) distinct values, ascending, with counts and weak counts."""

    def __init__(self, values: np.ndarray, n: np.ndarray, n_weak: np.ndarray | None) -> None:
        order = np.argsort(values, kind="stable")
        self.v = values[order]
        self.n = n[order]
        self.n_weak = None if n_weak is None else n_weak[order]
        self.cum = np.cumsum(self.n)
        self.size = int(self.cum[-1]) if len(self.cum) else 0

    def at(self, pos: int) -> float:
        """The value at 0-based position ``pos`` of the expanded, sorted values."""
        return float(self.v[np.searchsorted(self.cum, pos, side="right")])

    def summary(self) -> tuple[int, float, float, float]:
        size = self.size
        mean = float(self.n @ self.v) / size
        mid = size // 2
        median = self.at(mid) if size % 2 else (self.at(mid - 1) + self.at(mid)) / 2.0
        share = float(self.n_weak.sum()) / size if self.n_weak is not None else float("nan")
        return size, mean, median, share

    def interval(self, n_boot: int, ci: float, rng: np.random.Generator) -> tuple[float, float]:
        if n_boot == 0:
            return float("nan"), float("nan")
        if self.size <= EXACT_BOOTSTRAP_MAX:
            return bootstrap_mean_ci(np.repeat(self.v, self.n), n_boot, ci, rng)
        mean = float(self.n @ self.v) / self.size
        sd = float(np.sqrt(self.n @ (self.v - mean) ** 2 / self.size))
        half = float(stats.norm.ppf(1.0 - (1.0 - ci) / 2.0)) * sd / np.sqrt(self.size)
        return mean - half, mean + half

    def gini(self) -> float:
        if not self.size or self.v[0] < 0:
            return float("nan")
        total = float(self.n @ self.v)
        if total == 0:
            return 0.0
        start = self.cum - self.n  # C_{j-1}
        rank_sums = self.n * (start + self.cum + 1) / 2.0
        size = self.size
        return float(2.0 * (rank_sums @ self.v) / (size * total) - (size + 1) / size)


def _kruskal(groups: list[_Sorted]) -> tuple[float, float]:
    """Kruskal-Wallis ``(H, p)`` of the groups from their counts; NaN as scipy's would be."""
    if len(groups) < 2:
        return float("nan"), float("nan")
    allv = np.concatenate([g.v for g in groups])
    alln = np.concatenate([g.n for g in groups])
    uniq, inv = np.unique(allv, return_inverse=True)
    c = np.bincount(inv, weights=alln).astype(np.float64)
    cum = np.cumsum(c)
    avg_rank = cum - c + (c + 1.0) / 2.0
    big_n = float(cum[-1])
    ties = 1.0 - float(((c**3) - c).sum()) / (big_n**3 - big_n)
    if ties == 0:
        return float("nan"), float("nan")
    h, start = 0.0, 0
    for g in groups:  # one term per group
        idx = inv[start : start + len(g.v)]
        start += len(g.v)
        h += float(g.n @ avg_rank[idx]) ** 2 / g.size
    h = (12.0 / (big_n * (big_n + 1.0)) * h - 3.0 * (big_n + 1.0)) / ties
    return float(h), float(stats.chi2.sf(h, len(groups) - 1))


def counted_report(
    counts: pd.DataFrame,
    levels: list[list[str]],
    dimension: str | tuple[str, str],
    metric: str,
    *,
    n_excluded: int = 0,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    min_group_size: int = MIN_GROUP_SIZE,
) -> SubgroupReport:
    """A :class:`SubgroupReport` from counts of the metric's values per group.

    Args:
        counts: one row per ``(code, value)`` (evaluated users only): ``code`` (int group
            code, ``0..len(levels)-1``), ``value`` (float), ``n`` (users) and, optionally,
            ``n_weak`` (of them, weak).
        levels: each code's level labels (one per dimension, two for a pair).
        dimension: the dimension's name, or the pair's two names.
        metric: the metric's name (as the report states it).
        n_excluded: users not evaluated (NaN metric).
        n_boot, ci, seed, min_group_size: as :func:`~analysis.subgroups.subgroup_report`
            (group ``g`` draws from ``default_rng((seed, g + 1))``, overall from
            ``(seed, 0)``).

    Returns:
        The report, equal to ``subgroup_report`` on the expanded table (module docstring).
    """
    code = counts["code"].to_numpy(np.int64)
    value = counts["value"].to_numpy(np.float64)
    n = counts["n"].to_numpy(np.int64)
    weak = counts["n_weak"].to_numpy(np.int64) if "n_weak" in counts else None
    order = np.argsort(code, kind="stable")
    code, value, n = code[order], value[order], n[order]
    weak = None if weak is None else weak[order]
    ids, starts = np.unique(code, return_index=True)
    bounds = np.r_[starts, len(code)]
    pair = isinstance(dimension, tuple)
    rows, groups = [], []
    for i, g in enumerate(ids):  # one row per group
        s = slice(bounds[i], bounds[i + 1])
        grp = _Sorted(value[s], n[s], None if weak is None else weak[s])
        if not grp.size:
            continue
        low, high = grp.interval(n_boot, ci, np.random.default_rng((seed, int(g) + 1)))
        size, mean, median, share = grp.summary()
        rows.append([INTERSECTION.join(levels[g]), *(levels[g] if pair else []),
                     size, mean, median, low, high, share, size >= min_group_size])
        groups.append(grp)
    cols = ["group", *(list(dimension) if pair else []), *_STAT_COLUMNS, "reliable"]
    by_group = pd.DataFrame(rows, columns=cols).astype({"size": np.int64, "reliable": bool})
    everyone = _Sorted(value, n, weak)
    size, mean, median, share = everyone.summary()
    low, high = everyone.interval(n_boot, ci, np.random.default_rng((seed, 0)))
    overall = pd.Series([size, mean, median, low, high, share], index=_STAT_COLUMNS,
                        name="overall")
    return assemble_report(
        metric, dimension, overall, by_group, gini=everyone.gini(),
        kruskal=_kruskal([g for g in groups if g.size >= min_group_size]),
        n_excluded=n_excluded, min_group_size=min_group_size)


def counted_family(reports: list[SubgroupReport]) -> pd.DataFrame:
    """The Kruskal-Wallis tests of several counted reports adjusted as one family, in the
    columns of :func:`~analysis.subgroups.kruskal_family`."""
    return family_table([(r.dimension if isinstance(r.dimension, str)
                          else INTERSECTION.join(r.dimension),
                          int(r.by_group["reliable"].sum()), r.kruskal_h, r.kruskal_p)
                         for r in reports])
