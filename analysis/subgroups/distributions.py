"""The tables the app's subgroup and weak-user charts are drawn from.

Plain pandas/numpy, no plotting and no Streamlit: a page asks for a table here and hands it
to plotly. Everything is vectorised over users (sorts, ``np.bincount``); loops run over a
handful of columns or dimensions only.

This module holds the distributions of a metric (box figures, ECDFs, histograms, and which
chart suits them) and re-exports the other chart tables, kept by what they hold: which columns
are metrics or dimensions (``_columns``), group labels, order and sizes (``_groups``), and the
weak users against everyone (``_weak_figures``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.subgroups._checks import check_columns, check_count
from analysis.subgroups._columns import (
    MAX_GROUPS,
    METRIC_BASES,
    metric_columns,
    metric_range,
    subgroup_dimensions,
)
from analysis.subgroups._groups import (
    extreme_groups,
    group_labels,
    group_order,
    group_sizes,
    weakest_dimension,
)
from analysis.subgroups._weak_figures import (
    ValidationFigures,
    validation_figures,
    weak_composition,
)

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

BAD_BINS = "bins must be an integer >= 1, got {value!r}."

#: past this many groups a line chart (ECDF) shows only the lowest and highest groups by mean
MAX_LINE_GROUPS = 8
#: a distribution where more than this share of users score exactly 0 is drawn as a histogram
#: by default: a box or violin of it is a flat line at 0 with outliers
ZERO_SHARE_LIMIT = 0.5


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
    check_columns(table, [metric])
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
    check_columns(table, [metric])
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
    check_count(bins, 1, BAD_BINS)
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
    check_count(bins, 1, BAD_BINS)
    check_columns(table, [metric])
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
