"""Which columns of a per-user table are metrics and which are subgroup dimensions."""

from __future__ import annotations

import pandas as pd

__all__ = ["MAX_GROUPS", "METRIC_BASES", "metric_columns", "metric_range", "subgroup_dimensions"]

#: a dimension with more groups than this (a zip code) is not offered for grouping
MAX_GROUPS = 50
#: per-user metric names (a column is ``<base>@k``, ``<base>``, or those with ``val_``)
METRIC_BASES = frozenset(
    {"ndcg", "ndcg_graded", "recall", "precision", "hit", "mrr", "ap", "auc", "candidate_recall"}
)
#: columns of the per-user table that are flags or ids, never a subgroup dimension
_NOT_DIMENSIONS = frozenset({"user_id", "user_idx", "evaluated", "weak"})


def metric_columns(table: pd.DataFrame) -> list[str]:
    """Per-user metric columns of a run's table: test metrics first, then validation ones.

    A metric column is numeric and named ``<base>@<k>`` or ``<base>`` (optionally with a
    ``val_`` prefix) for a base in :data:`METRIC_BASES`.

    Args:
        table: the per-user table.

    Returns:
        Column names, table order within the test and the validation blocks.
    """
    test, val = [], []
    for c in map(str, table.columns):
        base = c.removeprefix("val_").split("@")[0]
        if base not in METRIC_BASES or not pd.api.types.is_numeric_dtype(table[c]):
            continue
        (val if c.startswith("val_") else test).append(c)
    return test + val


def metric_range(metric: str) -> tuple[float, float] | None:
    """The range a per-user metric cannot leave: ``(0, 1)`` for every metric of
    :data:`METRIC_BASES` (NDCG, recall, AUC, ...), test or validation; None for any other
    column. A density drawn for a bounded metric must stay inside it."""
    base = str(metric).removeprefix("val_").split("@")[0]
    return (0.0, 1.0) if base in METRIC_BASES else None


def subgroup_dimensions(table: pd.DataFrame, max_groups: int = MAX_GROUPS) -> list[str]:
    """Columns of the per-user table a user can group by, in table order.

    A dimension is a categorical, boolean or string column (``activity``, ``inactive``,
    ``mainstream``, attributes such as ``gender`` and binned numeric ones ``age_bin``) that
    is not an id or flag (``user_id``, ``evaluated``, ``weak``) and has at most
    ``max_groups`` distinct values (NaN counts as one: ``"unknown"``).

    Args:
        table: the per-user table.
        max_groups: the largest number of groups offered.

    Returns:
        Column names (possibly empty).
    """
    out = []
    for c in table.columns:
        if c in _NOT_DIMENSIONS:
            continue
        dtype = table[c].dtype
        if not (
            isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or pd.api.types.is_object_dtype(dtype)
        ):
            continue
        if table[c].nunique(dropna=False) <= max_groups:
            out.append(str(c))
    return out
