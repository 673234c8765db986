"""The tables the app's subgroup and weak-user charts are drawn from.

Plain pandas/numpy, no plotting and no Streamlit: a page asks for a table here and hands it
to plotly. Everything is vectorised over users (sorts, ``np.bincount``); loops run over a
handful of columns or dimensions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.subgroups import group_codes
from analysis.subgroups._report import INTERSECTION
from analysis.weak_users import WeakUsers

__all__ = [
    "MAX_GROUPS",
    "METRIC_BASES",
    "ValidationFigures",
    "ecdf_by_group",
    "group_labels",
    "histogram",
    "metric_columns",
    "subgroup_dimensions",
    "validation_figures",
    "weak_composition",
]

#: a dimension with more groups than this (a zip code) is not offered for grouping
MAX_GROUPS = 50
#: per-user metric names (a column is ``<base>@k``, ``<base>``, or those with ``val_``)
METRIC_BASES = frozenset(
    {"ndcg", "ndcg_graded", "recall", "precision", "hit", "mrr", "ap", "auc", "candidate_recall"}
)
#: columns of the per-user table that are flags or ids, never a subgroup dimension
_NOT_DIMENSIONS = frozenset({"user_id", "user_idx", "evaluated", "weak"})

UNKNOWN_COLUMN = "Column {column!r} is not in the per-user table; available: {available}."
BAD_BY = "Group by one dimension or a pair of two different ones, got {by!r}."
BAD_BINS = "bins must be an integer >= 1, got {value!r}."


def _check_columns(table: pd.DataFrame, columns: Sequence[str]) -> None:
    for c in columns:
        if c not in table.columns:
            raise AnalysisError(
                UNKNOWN_COLUMN.format(column=c, available=", ".join(map(str, table.columns)))
            )


def _dims(by: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(by, str):
        return (by,)
    dims = tuple(str(b) for b in by)
    if len(dims) not in (1, 2) or len(set(dims)) != len(dims):
        raise AnalysisError(BAD_BY.format(by=by))
    return dims


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
    _check_columns(table, dims)
    codes, labels = group_codes(table[dims[0]])
    if len(dims) == 2:
        codes1, labels1 = group_codes(table[dims[1]])
        codes = codes * len(labels1) + codes1
        labels = [INTERSECTION.join((a, b)) for a in labels for b in labels1]
    cat = pd.Categorical.from_codes(codes, categories=labels, ordered=True)
    return pd.Series(cat, index=table.index, name=INTERSECTION.join(dims))


def ecdf_by_group(table: pd.DataFrame, metric: str, by: str | Sequence[str]) -> pd.DataFrame:
    """Empirical CDF of a per-user metric in every subgroup, one row per distinct value.

    ``F_g(v) = #{u in g : x_u <= v} / n_g`` over the group's evaluated users (metric not
    NaN); only the distinct values of each group are kept (draw with a step line), so a
    metric with many ties (NDCG is often 0) stays small. Groups without evaluated users do
    not appear.

    Args:
        table: the per-user table.
        metric: a metric column.
        by: a dimension or a pair of them.

    Returns:
        DataFrame with ``group`` (str), ``value`` (float), ``ecdf`` (float in ``(0, 1]``),
        ``n`` (evaluated users in the group), sorted by group (category order) then value.

    Raises:
        AnalysisError: unknown column, or a malformed ``by``.
    """
    _check_columns(table, [metric])
    labels = group_labels(table, by)
    x = table[metric].to_numpy(dtype=np.float64, na_value=np.nan)
    ok = ~np.isnan(x)
    codes = labels.cat.codes.to_numpy()[ok]
    x = x[ok]
    order = np.lexsort((x, codes))
    codes, x = codes[order], x[order]
    counts = np.bincount(codes, minlength=len(labels.cat.categories))
    starts = np.concatenate([[0], np.cumsum(counts)])[codes]
    rank = np.arange(len(x)) - starts + 1  # users of the group at or below this row
    last = np.ones(len(x), dtype=bool)  # keep the last row of every (group, value) run
    last[:-1] = (codes[1:] != codes[:-1]) | (x[1:] != x[:-1])
    n = counts[codes]
    cats = np.asarray(labels.cat.categories, dtype=object)
    return pd.DataFrame(
        {
            "group": cats[codes[last]].astype(str),
            "value": x[last],
            "ecdf": rank[last] / n[last],
            "n": n[last].astype(np.int64),
        }
    )


def histogram(
    values: np.ndarray | pd.Series,
    bins: int = 40,
    value_range: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Counts of values in equal-width bins (NaN dropped), numpy's convention.

    Bins are ``[left, right)`` except the last, ``[left, right]``; the range defaults to the
    data's min and max (widened by 0.5 on each side when they are equal). Values outside an
    explicit ``value_range`` are not counted.

    Args:
        values: per-user values.
        bins: number of bins.
        value_range: ``(low, high)``.

    Returns:
        DataFrame with ``left``, ``right``, ``count`` (int64) and ``share`` (count / number of
        non-NaN values; 0 when there are none), one row per bin; empty without values and
        without a range.

    Raises:
        AnalysisError: ``bins`` below 1.
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise AnalysisError(BAD_BINS.format(value=bins))
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if value_range is None:
        if not len(x):
            return pd.DataFrame({"left": [], "right": [], "count": [], "share": []}).astype(
                {"count": np.int64}
            )
        lo, hi = float(x.min()), float(x.max())
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
    else:
        lo, hi = map(float, value_range)
    count, edges = np.histogram(x, bins=int(bins), range=(lo, hi))
    return pd.DataFrame(
        {
            "left": edges[:-1],
            "right": edges[1:],
            "count": count.astype(np.int64),
            "share": count / len(x) if len(x) else np.zeros(len(count)),
        }
    )


def weak_composition(weak: WeakUsers) -> pd.DataFrame:
    """Who the weak users are against everyone: each group's share of both, per dimension.

    For group ``g`` of a dimension: ``share_all = n_users_g / sum_h n_users_h`` (users with a
    validation value, the population the rule chooses from) and ``share_weak = n_weak_g /
    n_weak`` (NaN when nobody is weak); ``over_representation = share_weak / share_all``
    (> 1: the group is over-represented among the weak users; NaN when ``share_all`` is 0).

    Args:
        weak: a selection made with breakdown dimensions
            (:class:`~analysis.weak_users.WeakUserSelector` built with ``dimensions``).

    Returns:
        DataFrame with ``dimension``, ``group``, ``n_users``, ``n_weak``, ``share_all``,
        ``share_weak``, ``over_representation``, dimensions in the selector's order and
        groups in category order; empty when the selection has no breakdown.
    """
    frames = []
    for dim, b in weak.breakdown.items():
        n_users = b["n_users"].to_numpy(dtype=np.float64)
        total = n_users.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            share_all = n_users / total if total else np.full(len(b), np.nan)
            share_weak = b["share_of_weak"].to_numpy(dtype=np.float64)
            over = np.where(share_all > 0, share_weak / share_all, np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "dimension": dim,
                    "group": b["group"].astype(str).to_numpy(),
                    "n_users": b["n_users"].to_numpy(dtype=np.int64),
                    "n_weak": b["n_weak"].to_numpy(dtype=np.int64),
                    "share_all": share_all,
                    "share_weak": share_weak,
                    "over_representation": over,
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=["dimension", "group", "n_users", "n_weak", "share_all", "share_weak",
                     "over_representation"]
        )
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class ValidationFigures:
    """What a weak-user rule does on the split it is chosen on (validation): the figures to
    tune a threshold by. The test split's figures are the held-out verdict, read separately.

    Attributes:
        column: the validation column, ``val_<metric>``.
        mean_weak: mean of ``column`` over the weak users (NaN when nobody is weak).
        mean_rest: mean of ``column`` over every other user with a value (NaN when none).
        n_weak: weak users (all have a validation value).
        n_rest: other users with a validation value.
    """

    column: str
    mean_weak: float
    mean_rest: float
    n_weak: int
    n_rest: int


def validation_figures(table: pd.DataFrame, weak: WeakUsers) -> ValidationFigures:
    """Validation means of the weak users and of the rest, for tuning the rule.

    ``mean_weak = mean(val_u : u weak)``, ``mean_rest = mean(val_u : u not weak, val_u not
    NaN)``, with ``val = table["val_<metric>"]`` and ``metric = weak.rule.metric``: two
    masked sums over the column, no loop over users.

    Args:
        table: the per-user table the selection was made on (rows aligned with ``weak.mask``).
        weak: a selection (:class:`~analysis.weak_users.WeakUsers`).

    Returns:
        A :class:`ValidationFigures`.

    Raises:
        AnalysisError: the table has no ``val_<metric>`` column.
    """
    column = f"val_{weak.rule.metric}"
    _check_columns(table, [column])
    val = table[column].to_numpy(dtype=np.float64, na_value=np.nan)
    has = ~np.isnan(val)
    w = np.asarray(weak.mask, dtype=bool) & has
    rest = has & ~w
    n_w, n_r = int(w.sum()), int(rest.sum())
    return ValidationFigures(
        column=column,
        mean_weak=float(val[w].sum() / n_w) if n_w else float("nan"),
        mean_rest=float(val[rest].sum() / n_r) if n_r else float("nan"),
        n_weak=n_w,
        n_rest=n_r,
    )
