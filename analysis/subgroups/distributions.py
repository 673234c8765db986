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
from analysis.subgroups import MIN_GROUP_SIZE, group_codes, subgroup_report
from analysis.subgroups._report import INTERSECTION
from analysis.weak_users import WeakUsers

__all__ = [
    "MAX_GROUPS",
    "MAX_LINE_GROUPS",
    "METRIC_BASES",
    "ZERO_SHARE_LIMIT",
    "PlotChoice",
    "ValidationFigures",
    "box_stats",
    "default_distribution_plot",
    "ecdf_by_group",
    "extreme_groups",
    "group_labels",
    "group_order",
    "group_sizes",
    "histogram",
    "histogram_by_group",
    "metric_columns",
    "metric_range",
    "subgroup_dimensions",
    "validation_figures",
    "weak_composition",
    "weakest_dimension",
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
BAD_N_GROUPS = "The number of groups to show must be an integer >= 1, got {value!r}."

#: past this many groups a line chart (ECDF) shows only the lowest and highest groups by mean
MAX_LINE_GROUPS = 8
#: a distribution where more than this share of users score exactly 0 is drawn as a histogram
#: by default: a box or violin of it is a flat line at 0 with outliers
ZERO_SHARE_LIMIT = 0.5


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


def box_stats(table: pd.DataFrame, metric: str, by: str | Sequence[str]) -> pd.DataFrame:
    """Exact box-plot figures of ``metric`` per group, over every user with a value.

    Quartiles and median by linear interpolation between order statistics (numpy's default,
    plotly's ``quartilemethod="linear"``); whiskers as Tukey draws them (plotly's default):
    the lowest value at or above ``q1 - 1.5 * IQR`` and the highest at or below
    ``q3 + 1.5 * IQR``. A box drawn from these shows every user, where a box of sampled
    points shows a sample (and would send every point to the browser).

    Args:
        table: the per-user table.
        metric: a metric column.
        by: a dimension or a pair of them.

    Returns:
        DataFrame ``group`` (label, as :func:`group_labels`), ``n``, ``q1``, ``median``,
        ``q3``, ``lowerfence``, ``upperfence``, ``mean``; groups without a value are left
        out, in category order.

    Raises:
        AnalysisError: unknown column, or a malformed ``by``.
    """
    _check_columns(table, [metric])
    labels = group_labels(table, by)
    has = table[metric].notna().to_numpy()
    frame = pd.DataFrame({"group": labels[has], "value": table[metric].to_numpy(float)[has]})
    by_group = frame.groupby("group", observed=True)["value"]
    q = by_group.quantile([0.25, 0.5, 0.75]).unstack()
    q.columns = ["q1", "median", "q3"]
    iqr = q["q3"] - q["q1"]
    low = (q["q1"] - 1.5 * iqr).reindex(frame["group"]).to_numpy()
    high = (q["q3"] + 1.5 * iqr).reindex(frame["group"]).to_numpy()
    value = frame["value"]
    out = q.assign(
        n=by_group.size(),
        lowerfence=value.where(value.to_numpy() >= low).groupby(frame["group"],
                                                                 observed=True).min(),
        upperfence=value.where(value.to_numpy() <= high).groupby(frame["group"],
                                                                  observed=True).max(),
        mean=by_group.mean(),
    )
    out = out.reset_index()
    out["group"] = out["group"].astype(str)
    return out[["group", "n", "q1", "median", "q3", "lowerfence", "upperfence", "mean"]]


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


def metric_range(metric: str) -> tuple[float, float] | None:
    """The range a per-user metric cannot leave: ``(0, 1)`` for every metric of
    :data:`METRIC_BASES` (NDCG, recall, AUC, ...), test or validation; None for any other
    column. A density drawn for a bounded metric must stay inside it."""
    base = str(metric).removeprefix("val_").split("@")[0]
    return (0.0, 1.0) if base in METRIC_BASES else None


@dataclass(frozen=True)
class PlotChoice:
    """Which distribution chart suits a metric's values, and why.

    Attributes:
        kind: ``"Histogram"`` when more than :data:`ZERO_SHARE_LIMIT` of the users score
            exactly 0 (a box or violin then collapses onto 0), else ``"Box"``.
        zero_share: share of users (non-NaN) whose value is exactly 0 (NaN without values).
        reason: one sentence saying why, for a caption.
    """

    kind: str
    zero_share: float
    reason: str


def default_distribution_plot(values: np.ndarray | pd.Series) -> PlotChoice:
    """The default distribution chart of one metric, chosen from its values.

    ``zero_share = #{u : x_u == 0} / #{u : x_u not NaN}``; ``kind = "Histogram"`` when
    ``zero_share > ZERO_SHARE_LIMIT``, else ``"Box"``.

    Args:
        values: per-user values (NaN ignored).

    Returns:
        A :class:`PlotChoice`.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    zero = float((x == 0).mean()) if len(x) else float("nan")
    if len(x) and zero > ZERO_SHARE_LIMIT:
        return PlotChoice(
            "Histogram", zero,
            f"{zero:.0%} of the users score exactly 0, so a box or violin would be a flat "
            "line at 0: the histogram shows the share at every value instead.",
        )
    return PlotChoice("Box", zero, "Box plot: median, quartiles and outliers of each group.")


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
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise AnalysisError(BAD_N_GROUPS.format(value=n))
    groups = order["group"].tolist()
    return groups if len(groups) <= 2 * n else groups[:n] + groups[-n:]


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
    _check_columns(table, list(columns))
    labels = group_labels(table, by)
    codes = labels.cat.codes.to_numpy()
    g = len(labels.cat.categories)
    out = {"group": [str(c) for c in labels.cat.categories],
           "n_users": np.bincount(codes, minlength=g).astype(np.int64)}
    for c in columns:
        has = ~np.isnan(table[c].to_numpy(dtype=np.float64, na_value=np.nan))
        out[f"n_{c}"] = np.bincount(codes[has], minlength=g).astype(np.int64)
    return pd.DataFrame(out)


def histogram_by_group(
    table: pd.DataFrame,
    metric: str,
    by: str | Sequence[str],
    *,
    bins: int = 20,
    value_range: tuple[float, float] | None = None,
    mark: np.ndarray | None = None,
) -> pd.DataFrame:
    """Counts of a per-user metric in equal-width bins, per group (and marked/unmarked).

    Bins follow :func:`histogram` (``[left, right)``, the last closed); the range defaults to
    :func:`metric_range` of the metric, else the data's min and max. ``share`` is the count
    over the group's users with a value, so groups of different sizes compare; with ``mark``
    (a bool per row, e.g. the weak users) each bin is split into ``marked`` True and False,
    whose shares add up to the bin's. One ``np.bincount`` over ``(group, bin, mark)`` codes.

    Args:
        table: the per-user table.
        metric: a metric column.
        by: a dimension or a pair of them.
        bins: number of bins.
        value_range: ``(low, high)``.
        mark: optional bool array, one per table row.

    Returns:
        DataFrame with ``group`` (str), ``left``, ``right``, ``count`` (int64), ``share``
        (and ``marked`` (bool) with ``mark``), groups in category order then bins, groups
        without a value left out.

    Raises:
        AnalysisError: unknown column, a malformed ``by``, or ``bins`` below 1.
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise AnalysisError(BAD_BINS.format(value=bins))
    _check_columns(table, [metric])
    labels = group_labels(table, by)
    x = table[metric].to_numpy(dtype=np.float64, na_value=np.nan)
    ok = ~np.isnan(x)
    lo, hi = value_range or metric_range(metric) or (
        (float(x[ok].min()), float(x[ok].max())) if ok.any() else (0.0, 1.0))
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, int(bins) + 1)
    ok &= (x >= lo) & (x <= hi)
    b = np.clip(np.searchsorted(edges, x[ok], side="right") - 1, 0, bins - 1)
    g = len(labels.cat.categories)
    codes = labels.cat.codes.to_numpy().astype(np.int64)[ok]  # int8 would overflow
    m = np.zeros(len(b), dtype=np.int64) if mark is None else np.asarray(mark, bool)[ok]
    n_mark = 1 if mark is None else 2
    flat = (codes * bins + b) * n_mark + m
    count = np.bincount(flat, minlength=g * bins * n_mark)
    n_group = np.bincount(codes, minlength=g)
    gi, bi, mi = np.unravel_index(np.arange(g * bins * n_mark), (g, bins, n_mark))
    cats = np.asarray([str(c) for c in labels.cat.categories], dtype=object)
    out = pd.DataFrame(
        {
            "group": cats[gi],
            "left": edges[bi],
            "right": edges[bi + 1],
            "count": count.astype(np.int64),
            "share": count / np.maximum(n_group[gi], 1),
        }
    )
    if mark is not None:
        out["marked"] = mi.astype(bool)
    return out[n_group[gi] > 0].reset_index(drop=True)


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
