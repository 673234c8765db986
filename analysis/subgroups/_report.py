"""Per-subgroup statistics of one per-user metric (fairlearn's MetricFrame vocabulary).

:func:`subgroup_report` runs in named steps: check the arguments, sort the evaluated users
by group, summarise each group, bootstrap each mean's interval, then the disparity figures
over the reliable groups and the Kruskal-Wallis test across them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import AnalysisError
from analysis.subgroups._checks import check_count
from analysis.subgroups._grouping import INTERSECTION, crossed_codes
from analysis.subgroups._statistics import bootstrap_mean_ci, gini

__all__ = ["MIN_GROUP_SIZE", "SubgroupReport", "subgroup_report"]

#: Default smallest group (evaluated users) that enters a headline disparity figure: below it a
#: group mean, its CI and its rank among groups are too noisy to act on (a 4-user group is
#: often the "worst" by chance alone).
MIN_GROUP_SIZE = 20

UNKNOWN_METRIC = "Metric column {metric!r} is not in the per-user table; available: {available}."
NOT_NUMERIC = "Metric column {metric!r} is not numeric (dtype {dtype}); pick a metric column."
UNKNOWN_DIMENSION = (
    "Subgroup dimension {dim!r} is not a column of the per-user table; available: {available}."
)
BAD_BY = "Group by one dimension or a pair of two different ones, got {by!r}."
ALL_NAN = (
    "No user has a value for {metric!r} (all NaN): nobody could be evaluated; check the split "
    "has held-out items."
)
BAD_WEAK = (
    "The weak-user mask must be a boolean array with one entry per table row ({n}); got {got}."
)
BAD_CI = "ci must lie strictly between 0 and 1 (e.g. 0.95), got {value!r}."
BAD_N_BOOT = "n_boot must be an integer >= 0 (0 skips the confidence intervals), got {value!r}."
BAD_MIN_GROUP = "min_group_size must be an integer >= 1, got {value!r}."

_STAT_COLUMNS = ["size", "mean", "median", "ci_low", "ci_high", "weak_share"]


@dataclass(frozen=True)
class SubgroupReport:
    """How one metric varies across the subgroups of one dimension (or a pair).

    Only *evaluated* users (metric not NaN) enter any statistic. Every group with an evaluated
    user is listed; only *reliable* groups (at least ``min_group_size`` evaluated users) enter
    the headline disparity figures (extremes, worst group, difference, ratio, Kruskal-Wallis).

    Attributes:
        metric: the per-user metric column.
        dimension: the grouping column, or a pair of columns for intersections.
        overall: Series with ``size``, ``mean``, ``median``, ``ci_low``, ``ci_high``,
            ``weak_share`` over all evaluated users.
        by_group: one row per group (in category order) with at least one evaluated user:
            ``group`` (str label; ``"a × b"`` for a pair, whose two level columns, named after
            the dimensions, follow), then ``size``, ``mean``, ``median``, ``ci_low``,
            ``ci_high`` (bootstrap CI of the mean), ``weak_share`` (share of the group's
            evaluated users flagged weak; NaN without a weak mask) and ``reliable``
            (``size >= min_group_size``; a smaller group's mean and CI are shown but are too
            noisy to rank groups by, and the percentile bootstrap under-covers there).
        group_min: lowest mean among reliable groups (NaN without one).
        group_max: highest mean among reliable groups (NaN without one).
        worst_group: label of the reliable group with the lowest mean (first in order on ties;
            None without a reliable group).
        difference: ``group_max - group_min``.
        ratio: ``group_min / group_max`` (NaN when ``group_max == 0``).
        gini: :func:`gini` of the per-user metric over all evaluated users.
        kruskal_h: Kruskal-Wallis H across the reliable groups (NaN with < 2 of them or when
            all values are identical).
        kruskal_p: its p-value, unadjusted (see :func:`adjust_p_values` for a family of them).
        n_excluded: users with a NaN metric (not evaluated).
        min_group_size: the reliability threshold used.
        n_small_groups: listed groups below it (left out of the headline figures).
    """

    metric: str
    dimension: str | tuple[str, str]
    overall: pd.Series
    by_group: pd.DataFrame
    group_min: float
    group_max: float
    worst_group: str | None
    difference: float
    ratio: float
    gini: float
    kruskal_h: float
    kruskal_p: float
    n_excluded: int
    min_group_size: int = MIN_GROUP_SIZE
    n_small_groups: int = 0


# ---------------------------------------------------------------- step 1: the arguments
def _checked_dimensions(table: pd.DataFrame, metric: str, by: object) -> tuple[str, ...]:
    """The metric column is numeric and ``by`` names one column or two different ones."""
    if metric not in table.columns:
        raise AnalysisError(
            UNKNOWN_METRIC.format(metric=metric, available=", ".join(map(str, table.columns)))
        )
    if not pd.api.types.is_numeric_dtype(table[metric]) or pd.api.types.is_bool_dtype(
        table[metric]
    ):
        raise AnalysisError(NOT_NUMERIC.format(metric=metric, dtype=table[metric].dtype))
    dims: tuple[str, ...]
    if isinstance(by, str):
        dims = (by,)
    elif isinstance(by, (tuple, list)) and len(by) == 2 and by[0] != by[1]:
        dims = (str(by[0]), str(by[1]))
    else:
        raise AnalysisError(BAD_BY.format(by=by))
    for d in dims:
        if d not in table.columns:
            raise AnalysisError(
                UNKNOWN_DIMENSION.format(dim=d, available=", ".join(map(str, table.columns)))
            )
    return dims


def _checked_weak(weak: np.ndarray | None, n_rows: int) -> np.ndarray | None:
    """The weak-user mask: None, or a bool array with one entry per table row."""
    if weak is None:
        return None
    w_arr = np.asarray(weak)
    if w_arr.dtype != bool or w_arr.shape != (n_rows,):
        raise AnalysisError(
            BAD_WEAK.format(n=n_rows, got=f"dtype {w_arr.dtype}, shape {w_arr.shape}")
        )
    return w_arr


# ---------------------------------------------------------------- step 2: users by group
@dataclass(frozen=True)
class _Members:
    """The evaluated users of every non-empty group (slices of one array sorted by group).

    Attributes:
        ids: codes of the groups with at least one evaluated user, ascending.
        values: the metric values of each such group.
        weak: their weak flags (None without a weak mask).
    """

    ids: np.ndarray
    values: list[np.ndarray]
    weak: list[np.ndarray] | None


def _members(x: np.ndarray, w: np.ndarray | None, codes: np.ndarray, n_codes: int) -> _Members:
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=n_codes)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    ids = np.flatnonzero(counts >= 1)

    def slices(sorted_values: np.ndarray) -> list[np.ndarray]:
        return [sorted_values[bounds[g] : bounds[g + 1]] for g in ids]  # per group, not user

    return _Members(ids, slices(x[order]), None if w is None else slices(w[order]))


# ---------------------------------------------------------------- step 3: group statistics
def _summary(x: np.ndarray, w: np.ndarray | None) -> tuple[int, float, float, float]:
    """``size``, ``mean``, ``median`` and ``weak_share`` (NaN without flags) of one group."""
    weak_share = float(w.mean()) if w is not None else float("nan")
    return len(x), float(x.mean()), float(np.median(x)), weak_share


# ---------------------------------------------------------------- step 4: bootstrap intervals
def _intervals(members: _Members, n_boot: int, ci: float, seed: int) -> list[tuple[float, float]]:
    """CI of each group's mean; group ``g`` draws from ``default_rng((seed, g + 1))``."""
    return [
        bootstrap_mean_ci(xs, n_boot, ci, np.random.default_rng((seed, int(g) + 1)))
        for g, xs in zip(members.ids, members.values)
    ]


def _by_group(
    members: _Members,
    levels: list[list[str]],
    dims: tuple[str, ...],
    intervals: list[tuple[float, float]],
    min_group_size: int,
) -> pd.DataFrame:
    """One row per non-empty group: label, level columns (pairs), statistics, ``reliable``."""
    rows: list[list] = []
    for i, g in enumerate(members.ids):  # loop over groups, not users
        size, mean, median, weak_share = _summary(
            members.values[i], members.weak[i] if members.weak is not None else None
        )
        level_values = levels[g] if len(dims) == 2 else []
        low, high = intervals[i]
        rows.append(
            [
                INTERSECTION.join(levels[g]),
                *level_values,
                *[size, mean, median, low, high, weak_share],
                size >= min_group_size,
            ]
        )
    level_cols = [] if len(dims) == 1 else list(dims)
    by_group = pd.DataFrame(rows, columns=["group", *level_cols, *_STAT_COLUMNS, "reliable"])
    return by_group.astype({"size": np.int64, "reliable": bool})


def _overall(x: np.ndarray, w: np.ndarray | None, n_boot: int, ci: float, seed: int) -> pd.Series:
    """The statistics of every evaluated user; the interval draws from ``(seed, 0)``."""
    size, mean, median, weak_share = _summary(x, w)
    low, high = bootstrap_mean_ci(x, n_boot, ci, np.random.default_rng((seed, 0)))
    return pd.Series(
        [size, mean, median, low, high, weak_share], index=_STAT_COLUMNS, name="overall"
    )


# ---------------------------------------------------------------- step 5: disparity figures
def _extremes(by_group: pd.DataFrame) -> tuple[str | None, float, float]:
    """``worst_group``, ``group_min`` and ``group_max`` over the reliable groups."""
    reliable_rows = by_group[by_group["reliable"]]
    means = reliable_rows["mean"].to_numpy()
    if not len(means):
        return None, float("nan"), float("nan")
    worst_group = str(reliable_rows["group"].iloc[int(np.argmin(means))])
    return worst_group, float(means.min()), float(means.max())


# ---------------------------------------------------------------- step 6: the test
def _kruskal(samples: Sequence[np.ndarray]) -> tuple[float, float]:
    """Kruskal-Wallis ``(H, p)`` across the samples; NaNs with fewer than two or identical
    values."""
    if len(samples) < 2:
        return float("nan"), float("nan")
    try:
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.kruskal(*samples)
    except ValueError:  # older scipy: "All numbers are identical"
        return float("nan"), float("nan")
    return float(res.statistic), float(res.pvalue)


def subgroup_report(
    table: pd.DataFrame,
    metric: str,
    by: str | tuple[str, str],
    *,
    weak: np.ndarray | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    min_group_size: int = MIN_GROUP_SIZE,
) -> SubgroupReport:
    """Compare a per-user metric across the subgroups of one dimension or of two crossed.

    Users whose metric is NaN are excluded (counted in ``n_excluded``); a NaN group value
    becomes the group ``"unknown"``. Group means use ``np.bincount``; medians, confidence
    intervals and the Kruskal-Wallis test loop over groups (never over users). The CI of each
    mean is a seeded bootstrap (see :func:`bootstrap_mean_ci`: exact up to
    ``EXACT_BOOTSTRAP_MAX`` users per group, its normal limit above); group ``g`` draws from
    ``numpy.random.default_rng((seed, g + 1))`` and ``overall`` from ``(seed, 0)``, so each
    interval is reproducible and does not depend on the other groups.

    Args:
        table: the per-user table (one row per user).
        metric: metric column, e.g. ``"ndcg@10"``.
        by: a dimension column, or a pair of them for intersections (``"a × b"``).
        weak: optional bool mask per table row (e.g. ``WeakUsers.mask``) for ``weak_share``.
        n_boot: bootstrap resamples (0 skips the intervals: NaN).
        ci: interval coverage in ``(0, 1)``.
        seed: bootstrap seed.
        min_group_size: groups with fewer evaluated users stay in ``by_group`` marked
            ``reliable = False`` but are left out of the extremes, the worst group, the
            difference, the ratio and the test (they still count in ``overall`` and the Gini).

    Returns:
        A :class:`SubgroupReport`.

    Raises:
        AnalysisError: unknown or non-numeric metric, unknown dimension, a malformed ``by`` or
            ``weak``, bad ``n_boot``/``ci``/``min_group_size``, or a metric that is NaN for
            everyone.
    """
    dims = _checked_dimensions(table, metric, by)
    n_boot = check_count(n_boot, 0, BAD_N_BOOT)
    min_group_size = check_count(min_group_size, 1, BAD_MIN_GROUP)
    if not 0.0 < float(ci) < 1.0:
        raise AnalysisError(BAD_CI.format(value=ci))
    w_all = _checked_weak(weak, len(table))

    values = table[metric].to_numpy(dtype=np.float64, na_value=np.nan)
    evaluated = ~np.isnan(values)
    n_eval = int(evaluated.sum())
    if n_eval == 0:
        raise AnalysisError(ALL_NAN.format(metric=metric))
    x_all = values[evaluated]
    w_eval = w_all[evaluated] if w_all is not None else None

    codes, levels = crossed_codes(table, dims)  # pairs: mixed-radix code of the two levels
    members = _members(x_all, w_eval, codes[evaluated], len(levels))
    by_group = _by_group(
        members, levels, dims, _intervals(members, n_boot, ci, seed), min_group_size
    )
    return assemble_report(
        metric, dims[0] if len(dims) == 1 else (dims[0], dims[1]),
        _overall(x_all, w_eval, n_boot, ci, seed), by_group, gini=gini(x_all),
        kruskal=_kruskal([xs for xs in members.values if len(xs) >= min_group_size]),
        n_excluded=int(len(values) - n_eval), min_group_size=min_group_size)


def assemble_report(metric: str, dimension: str | tuple[str, str], overall: pd.Series,
                    by_group: pd.DataFrame, *, gini: float, kruskal: tuple[float, float],
                    n_excluded: int, min_group_size: int) -> SubgroupReport:
    """A :class:`SubgroupReport` from its group rows: the extremes, the worst group, the
    difference, the ratio and the small groups follow from ``by_group`` (its ``reliable``
    rows), the same wherever the rows were computed (here, or from counts at scale)."""
    worst_group, gmin, gmax = _extremes(by_group)
    return SubgroupReport(
        metric=metric,
        dimension=dimension,
        overall=overall,
        by_group=by_group,
        group_min=gmin,
        group_max=gmax,
        worst_group=worst_group,
        difference=gmax - gmin,
        ratio=gmin / gmax if gmax != 0 else float("nan"),
        gini=gini,
        kruskal_h=kruskal[0],
        kruskal_p=kruskal[1],
        n_excluded=int(n_excluded),
        min_group_size=int(min_group_size),
        n_small_groups=int((~by_group["reliable"]).sum()),
    )
