"""Statistics of one group's metric values: Gini coefficient and bootstrap CI of the mean."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["EXACT_BOOTSTRAP_MAX", "bootstrap_mean_ci", "gini"]

#: Groups up to this many users get an exact percentile bootstrap; larger ones the normal limit.
EXACT_BOOTSTRAP_MAX = 2000
_BOOT_CELLS = 1 << 21  # resampled values held at once (memory bound of the exact bootstrap)


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
