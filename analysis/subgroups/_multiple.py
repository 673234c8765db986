"""Many subgroup tests at once: multiplicity-adjusted p-values over a family of dimensions.

Testing every dimension (and every pair) at 0.05 finds some "significant" disparity by chance
alone: with 28 independent tests of true null hypotheses, the chance of at least one p < 0.05
is ``1 - 0.95^28 = 76%``. The adjusted p-values here are what to compare with 0.05 instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.subgroups._grouping import INTERSECTION
from analysis.subgroups._report import MIN_GROUP_SIZE, subgroup_report

__all__ = [
    "P_ADJUST_METHODS",
    "adjust_p_values",
    "dimension_pairs",
    "family_table",
    "kruskal_family",
]

#: ``holm`` (family-wise error rate, the default) or ``bh`` (false discovery rate)
P_ADJUST_METHODS = ("holm", "bh")

BAD_METHOD = "p-value adjustment must be one of {methods}, got {value!r}."
BAD_P = "p-values must lie in [0, 1] (NaN for a test that could not be run), got {value!r}."


def adjust_p_values(p: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjust a family of p-values for multiple testing.

    NaN entries (tests that could not be run) are kept NaN and do not count in the family
    size ``m`` (the number of finite p-values). With ``p_(1) <= ... <= p_(m)`` sorted:

    - ``holm`` (Holm 1979, step-down Bonferroni; controls the family-wise error rate, the
      chance of *any* false "significant"): ``q_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``.
      Example: ``p = [0.01, 0.04, 0.03]`` -> ``[0.03, 0.06, 0.06]`` (``3 * 0.01``;
      ``max(0.03, 2 * 0.03) = 0.06``; ``max(0.06, 1 * 0.04) = 0.06``).
    - ``bh`` (Benjamini-Hochberg 1995; controls the false discovery rate, the expected share of
      false findings among those called significant, under independence or positive
      dependence): ``q_(i) = min_{j >= i} min(1, m p_(j) / j)``; the same as
      ``scipy.stats.false_discovery_control(p, method="bh")``. The example gives
      ``[0.03, 0.04, 0.04]``.

    Args:
        p: raw p-values.
        method: ``"holm"`` or ``"bh"``.

    Returns:
        Adjusted p-values (float64), in the input's order.

    Raises:
        AnalysisError: an unknown method or a p-value outside ``[0, 1]``.
    """
    if method not in P_ADJUST_METHODS:
        raise AnalysisError(BAD_METHOD.format(methods=", ".join(P_ADJUST_METHODS), value=method))
    arr = np.asarray(p, dtype=np.float64).reshape(-1)
    out = np.full(arr.shape, np.nan)
    finite = ~np.isnan(arr)
    x = arr[finite]
    if len(x) and ((x < 0).any() or (x > 1).any()):
        raise AnalysisError(BAD_P.format(value=x[(x < 0) | (x > 1)][0]))
    m = len(x)
    if m == 0:
        return out
    order = np.argsort(x, kind="stable")
    ranked = x[order]
    j = np.arange(1, m + 1, dtype=np.float64)
    if method == "holm":
        q = np.maximum.accumulate(np.minimum(1.0, (m - j + 1) * ranked))
    else:
        q = np.minimum.accumulate(np.minimum(1.0, m * ranked / j)[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = q
    out[finite] = adjusted
    return out


def dimension_pairs(dimensions: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair of distinct dimensions, in the given order (``a`` before ``b``)."""
    return [(str(a), str(b)) for a, b in combinations(dict.fromkeys(dimensions), 2)]


def _label(by: str | tuple[str, str]) -> str:
    return by if isinstance(by, str) else INTERSECTION.join(by)


def kruskal_family(
    table: pd.DataFrame,
    metric: str,
    dimensions: Sequence[str],
    *,
    extra: Sequence[tuple[str, str]] = (),
    min_group_size: int = MIN_GROUP_SIZE,
) -> pd.DataFrame:
    """Kruskal-Wallis p-values of every dimension and every pair, adjusted as one family.

    The family is what an analyst can look at: each dimension alone, each unordered pair of
    two of them (:func:`dimension_pairs`), and any ``extra`` pairs not already in it. Each
    test compares the metric's distributions across the dimension's *reliable* groups (at
    least ``min_group_size`` evaluated users), exactly as :func:`subgroup_report` does; a test
    with fewer than two reliable groups, or with identical values, has a NaN p and is not
    counted in the family. The loop runs over tests, never over users.

    Args:
        table: the per-user table.
        metric: per-user metric column.
        dimensions: single dimensions of the family.
        extra: further pairs to include (e.g. a run's configured intersections).
        min_group_size: reliability threshold of a group.

    Returns:
        DataFrame, one row per test in family order (dimensions, then pairs): ``dimension``
        (label; ``"a × b"`` for a pair), ``n_groups`` (reliable groups tested), ``kruskal_h``,
        ``kruskal_p`` (raw), ``p_holm`` and ``p_bh`` (adjusted over the family's finite
        p-values, :func:`adjust_p_values`), ``family_size`` (number of finite p-values).

    Raises:
        AnalysisError: as :func:`subgroup_report`.
    """
    tests: list[str | tuple[str, str]] = list(dict.fromkeys(map(str, dimensions)))
    pairs = dimension_pairs(tests)
    seen = {frozenset(pair) for pair in pairs}
    for a, b in extra:
        if frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            pairs.append((str(a), str(b)))
    tests += pairs
    rows = []
    for by in tests:  # one test per dimension or pair
        r = subgroup_report(table, metric, by, n_boot=0, min_group_size=min_group_size)
        n_groups = int(r.by_group["reliable"].sum())
        rows.append((_label(by), n_groups, r.kruskal_h, r.kruskal_p))
    return family_table(rows)


def family_table(rows: Sequence[tuple[str, int, float, float]]) -> pd.DataFrame:
    """A family of tests ``(dimension, n_groups, kruskal_h, kruskal_p)`` with its adjusted
    p-values: :func:`kruskal_family`'s columns."""
    out = pd.DataFrame(rows, columns=["dimension", "n_groups", "kruskal_h", "kruskal_p"])
    p = out["kruskal_p"].to_numpy(dtype=np.float64)
    out["p_holm"] = adjust_p_values(p, "holm")
    out["p_bh"] = adjust_p_values(p, "bh")
    out["family_size"] = int((~np.isnan(p)).sum())
    return out
