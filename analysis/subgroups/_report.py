"""Per-subgroup statistics of one per-user metric (fairlearn's MetricFrame vocabulary)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import AnalysisError
from analysis.subgroups._binning import UNKNOWN

__all__ = [
    "EXACT_BOOTSTRAP_MAX",
    "MIN_GROUP_SIZE",
    "SubgroupReport",
    "bootstrap_mean_ci",
    "gini",
    "subgroup_report",
]

#: Groups up to this many users get an exact percentile bootstrap; larger ones the normal limit.
EXACT_BOOTSTRAP_MAX = 2000
_BOOT_CELLS = 1 << 21  # resampled values held at once (memory bound of the exact bootstrap)
INTERSECTION = " × "
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


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values.

    ``G = sum_i sum_j |x_i - x_j| / (2 n^2 mean(x))``, computed from the sorted values as
    ``G = 2 sum_i i x_(i) / (n sum x) - (n + 1) / n`` (``i = 1..n``). 0 means everyone has the
    same value, ``(n - 1) / n`` that one user holds everything: ``[1, 1, 1] -> 0``,
    ``[0, 0, 1] -> 2/3``.

    Edge cases: NaNs are dropped; an empty input gives NaN; all zeros give 0 (perfect
    equality); any negative value gives NaN (the Gini is undefined there).

    Args:
        values: per-user metric values.

    Returns:
        The Gini coefficient in ``[0, 1)``, or NaN.
    """
    x = np.asarray(values, dtype=np.float64)
    x = np.sort(x[~np.isnan(x)])
    n = len(x)
    if n == 0 or x[0] < 0:
        return float("nan")
    total = x.sum()
    if total == 0:
        return 0.0
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(2.0 * np.dot(i, x) / (n * total) - (n + 1) / n)


def bootstrap_mean_ci(
    x: np.ndarray, n_boot: int, ci: float, rng: np.random.Generator
) -> tuple[float, float]:
    """Confidence interval of the mean of ``x``.

    For ``len(x) <= EXACT_BOOTSTRAP_MAX``: the percentile bootstrap with ``n_boot`` resamples
    (indices drawn in blocks of ~2M values, so memory stays bounded), interval = the
    ``(1 - ci)/2`` and ``(1 + ci)/2`` quantiles of the resampled means.
    For larger groups the bootstrap distribution of the mean is, by the central limit
    theorem, normal with the plug-in standard error ``sd(x, ddof=0) / sqrt(n)``; we use that
    limit directly, ``mean +- z_{(1+ci)/2} * sd / sqrt(n)``, so 1M users cost O(n) instead
    of O(n * n_boot). ``n_boot == 0`` returns NaNs.

    Args:
        x: finite values (non-empty).
        n_boot: number of bootstrap resamples.
        ci: coverage in ``(0, 1)``.
        rng: random generator (only used by the exact path).

    Returns:
        ``(low, high)``.
    """
    n = len(x)
    if n_boot == 0 or n == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - ci) / 2.0
    if n > EXACT_BOOTSTRAP_MAX:
        m = float(x.mean())
        half = float(stats.norm.ppf(1.0 - alpha)) * float(x.std()) / np.sqrt(n)
        return m - half, m + half
    means = np.empty(n_boot, dtype=np.float64)
    block = max(1, _BOOT_CELLS // n)
    for start in range(0, n_boot, block):  # a handful of blocks, not a loop per user
        b = min(block, n_boot - start)
        idx = rng.integers(0, n, size=(b, n), dtype=np.int32 if n < 2**31 else np.int64)
        means[start : start + b] = x[idx].mean(axis=1)
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def group_codes(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes (``0..g-1``) and string labels, in category order (NaN -> "unknown")."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int64)
        labels = [str(c) for c in col.cat.categories]
    else:
        codes, uniques = pd.factorize(col, sort=True, use_na_sentinel=True)
        codes = codes.astype(np.int64)
        labels = [str(u) for u in uniques]
    if (codes < 0).any():
        if UNKNOWN in labels:
            codes = np.where(codes < 0, labels.index(UNKNOWN), codes)
        else:
            codes = np.where(codes < 0, len(labels), codes)
            labels = labels + [UNKNOWN]
    return codes, labels


def _check_int(value: object, minimum: int, template: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise AnalysisError(template.format(value=value))
    return int(value)


def _stats_row(
    x: np.ndarray, w: np.ndarray | None, n_boot: int, ci: float, rng: np.random.Generator
) -> list[float]:
    low, high = bootstrap_mean_ci(x, n_boot, ci, rng)
    weak_share = float(w.mean()) if w is not None else float("nan")
    return [len(x), float(x.mean()), float(np.median(x)), low, high, weak_share]


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
    n_boot = _check_int(n_boot, 0, BAD_N_BOOT)
    min_group_size = _check_int(min_group_size, 1, BAD_MIN_GROUP)
    if not 0.0 < float(ci) < 1.0:
        raise AnalysisError(BAD_CI.format(value=ci))
    w_all: np.ndarray | None = None
    if weak is not None:
        w_arr = np.asarray(weak)
        if w_arr.dtype != bool or w_arr.shape != (len(table),):
            raise AnalysisError(
                BAD_WEAK.format(n=len(table), got=f"dtype {w_arr.dtype}, shape {w_arr.shape}")
            )
        w_all = w_arr

    values = table[metric].to_numpy(dtype=np.float64, na_value=np.nan)
    evaluated = ~np.isnan(values)
    n_eval = int(evaluated.sum())
    if n_eval == 0:
        raise AnalysisError(ALL_NAN.format(metric=metric))
    x_all = values[evaluated]
    w_eval = w_all[evaluated] if w_all is not None else None

    # integer group code per evaluated user (pairs: mixed-radix code of the two levels)
    codes0, labels0 = group_codes(table[dims[0]])
    if len(dims) == 1:
        codes = codes0[evaluated]
        n_codes = len(labels0)
    else:
        codes1, labels1 = group_codes(table[dims[1]])
        codes = (codes0 * len(labels1) + codes1)[evaluated]
        n_codes = len(labels0) * len(labels1)

    order = np.argsort(codes, kind="stable")
    x_sorted = x_all[order]
    w_sorted = w_eval[order] if w_eval is not None else None
    counts = np.bincount(codes, minlength=n_codes)
    bounds = np.concatenate([[0], np.cumsum(counts)])

    rows: list[list] = []
    samples: list[np.ndarray] = []
    for g in np.flatnonzero(counts >= 1):  # loop over groups, not users
        lo, hi = bounds[g], bounds[g + 1]
        xs = x_sorted[lo:hi]
        ws = w_sorted[lo:hi] if w_sorted is not None else None
        rng = np.random.default_rng((seed, int(g) + 1))
        if len(dims) == 1:
            levels = [labels0[g]]
        else:
            levels = [labels0[g // len(labels1)], labels1[g % len(labels1)]]
        level_values = levels if len(dims) == 2 else []
        reliable = len(xs) >= min_group_size
        rows.append(
            [
                INTERSECTION.join(levels),
                *level_values,
                *_stats_row(xs, ws, n_boot, ci, rng),
                reliable,
            ]
        )
        if reliable:
            samples.append(xs)

    level_cols = [] if len(dims) == 1 else list(dims)
    by_group = pd.DataFrame(rows, columns=["group", *level_cols, *_STAT_COLUMNS, "reliable"])
    by_group = by_group.astype({"size": np.int64, "reliable": bool})
    overall = pd.Series(
        _stats_row(x_all, w_eval, n_boot, ci, np.random.default_rng((seed, 0))),
        index=_STAT_COLUMNS,
        name="overall",
    )

    reliable_rows = by_group[by_group["reliable"]]
    means = reliable_rows["mean"].to_numpy()
    worst_group: str | None = None
    gmin = gmax = float("nan")
    if len(means):
        worst_group = str(reliable_rows["group"].iloc[int(np.argmin(means))])
        gmin, gmax = float(means.min()), float(means.max())
    h = p = float("nan")
    if len(samples) >= 2:
        try:
            with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                res = stats.kruskal(*samples)
            h, p = float(res.statistic), float(res.pvalue)
        except ValueError:  # older scipy: "All numbers are identical"
            pass
    return SubgroupReport(
        metric=metric,
        dimension=dims[0] if len(dims) == 1 else (dims[0], dims[1]),
        overall=overall,
        by_group=by_group,
        group_min=gmin,
        group_max=gmax,
        worst_group=worst_group,
        difference=gmax - gmin,
        ratio=gmin / gmax if gmax != 0 else float("nan"),
        gini=gini(x_all),
        kruskal_h=h,
        kruskal_p=p,
        n_excluded=int(len(values) - n_eval),
        min_group_size=min_group_size,
        n_small_groups=int((~by_group["reliable"]).sum()),
    )
