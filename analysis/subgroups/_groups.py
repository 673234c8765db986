"""Groups as the charts show them: each user's label, groups by mean, sizes, the weakest
dimension."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.subgroups._checks import check_columns, check_count
from analysis.subgroups._grouping import INTERSECTION, crossed_codes
from analysis.subgroups._report import BAD_BY, MIN_GROUP_SIZE, subgroup_report

__all__ = [
    "extreme_groups",
    "group_labels",
    "group_order",
    "group_sizes",
    "weakest_dimension",
]

BAD_N_GROUPS = "The number of groups to show must be an integer >= 1, got {value!r}."


def _dims(by: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(by, str):
        return (by,)
    dims = tuple(str(b) for b in by)
    if len(dims) not in (1, 2) or len(set(dims)) != len(dims):
        raise AnalysisError(BAD_BY.format(by=by))
    return dims


def group_labels(table: pd.DataFrame, by: str | Sequence[str]) -> pd.Series:
    """The subgroup label of every user, as :func:`~analysis.subgroups.subgroup_report` names it.

    One dimension: the value as text (NaN -> ``"unknown"``); a pair: ``"a × b"``.

    Args:
        table: the per-user table.
        by: a dimension or a pair of them.

    Returns:
        An ordered Categorical Series aligned with ``table`` whose categories are every
        label in category order (the first dimension varying slowest).

    Raises:
        AnalysisError: unknown column, or a malformed ``by``.
    """
    dims = _dims(by)
    check_columns(table, dims)
    codes, levels = crossed_codes(table, dims)
    labels = [INTERSECTION.join(lv) for lv in levels]
    cat = pd.Categorical.from_codes(codes, categories=labels, ordered=True)
    return pd.Series(cat, index=table.index, name=INTERSECTION.join(dims))


def group_sizes(
    table: pd.DataFrame, by: str | Sequence[str], columns: Sequence[str]
) -> pd.DataFrame:
    """How many users of each group have a value in each of ``columns``.

    Pages count different users: the Subgroups page those with a test value of the metric
    shown (``ndcg@10``), the Weak users page those with a validation value of the rule's
    metric (``val_auc``), who alone can be selected. This puts both side by side.

    Args:
        table: the per-user table.
        by: a dimension or a pair of them.
        columns: numeric columns; a user counts for a column when its value is not NaN.

    Returns:
        DataFrame with ``group`` (str), ``n_users`` (every user of the group) and one int64
        column ``n_<column>`` per column, one row per group in category order (empty groups
        included).

    Raises:
        AnalysisError: unknown column, or a malformed ``by``.
    """
    check_columns(table, list(columns))
    labels = group_labels(table, by)
    codes = labels.cat.codes.to_numpy()
    g = len(labels.cat.categories)
    out = {"group": [str(c) for c in labels.cat.categories],
           "n_users": np.bincount(codes, minlength=g).astype(np.int64)}
    for c in columns:
        has = ~np.isnan(table[c].to_numpy(dtype=np.float64, na_value=np.nan))
        out[f"n_{c}"] = np.bincount(codes[has], minlength=g).astype(np.int64)
    return pd.DataFrame(out)


def group_order(by_group: pd.DataFrame, min_group_size: int = MIN_GROUP_SIZE) -> pd.DataFrame:
    """Groups sorted by mean, lowest first, with chart labels that carry their sizes.

    The label is ``"<group> (n=1,234)"``, and ``"<group> (n=12, small)"`` for a group below
    ``min_group_size`` (the subgroup report's ``reliable`` flag when present). Ties keep the
    input (category) order; a NaN mean sorts last.

    Args:
        by_group: :attr:`~analysis.subgroups.SubgroupReport.by_group` (``group``, ``size``,
            ``mean``, optional ``reliable``) or any table with those columns.
        min_group_size: the evidence threshold, used when ``reliable`` is absent.

    Returns:
        DataFrame with ``group`` (str), ``label`` (str), ``size`` (int64), ``mean``,
        ``small`` (bool), lowest mean first, index 0..n-1.
    """
    size = by_group["size"].to_numpy(dtype=np.int64)
    small = (
        ~by_group["reliable"].to_numpy(dtype=bool)
        if "reliable" in by_group.columns
        else size < int(min_group_size)
    )
    out = pd.DataFrame(
        {
            "group": by_group["group"].astype(str).to_numpy(),
            "size": size,
            "mean": by_group["mean"].to_numpy(dtype=np.float64),
            "small": small,
        }
    )
    out["label"] = (
        out["group"] + " (n=" + out["size"].map("{:,}".format)
        + np.where(out["small"], ", small)", ")")
    )
    out = out.sort_values("mean", kind="stable", na_position="last").reset_index(drop=True)
    return out[["group", "label", "size", "mean", "small"]]


def extreme_groups(order: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` lowest and ``n`` highest groups of a :func:`group_order` table.

    Args:
        order: groups sorted by mean (:func:`group_order`).
        n: groups from each end.

    Returns:
        Group names, lowest mean first; every group when there are at most ``2 n``.

    Raises:
        AnalysisError: ``n`` below 1.
    """
    check_count(n, 1, BAD_N_GROUPS)
    groups = order["group"].tolist()
    return groups if len(groups) <= 2 * n else groups[:n] + groups[-n:]


def weakest_dimension(
    table: pd.DataFrame,
    metric: str,
    dimensions: Sequence[str],
    min_group_size: int = MIN_GROUP_SIZE,
) -> str | None:
    """The dimension whose groups differ most in a metric: the largest
    :attr:`~analysis.subgroups.SubgroupReport.difference` (highest minus lowest mean over
    groups of at least ``min_group_size`` users); the first in order on ties.

    Args:
        table: the per-user table.
        metric: a metric column.
        dimensions: candidate dimensions (e.g. :func:`subgroup_dimensions`).
        min_group_size: the evidence threshold of a group.

    Returns:
        The dimension, or None when none has two groups of that size.

    Raises:
        AnalysisError: unknown column, or a metric that is NaN for everyone.
    """
    best, best_gap = None, -1.0
    for d in dimensions:  # a handful of dimensions; each report is vectorised over users
        gap = subgroup_report(table, metric, d, n_boot=0, min_group_size=min_group_size)
        if gap.by_group["reliable"].sum() >= 2 and gap.difference > best_gap:
            best, best_gap = d, float(gap.difference)
    return best
