"""Weak-cohort discovery: a shallow regression tree over user features (an "error tree").

Like the error analysis tree of Microsoft's Responsible AI Toolbox, but for ranking quality:
a depth-limited :class:`sklearn.tree.DecisionTreeRegressor` is fitted to the per-user metric
of evaluated users, and every leaf becomes a cohort described in words
(``"3 <= n_train <= 12 and country is DE or FR"``), sorted worst first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeRegressor

from analysis.errors import AnalysisError

__all__ = ["CohortReport", "discover_weak_cohorts", "default_cohort_features", "MAX_LEVELS"]

#: Categorical features keep their most frequent levels; the rest are merged into "other".
MAX_LEVELS = 30
OTHER = "other"

UNKNOWN_METRIC = "Metric column {metric!r} is not in the per-user table; available: {available}."
UNKNOWN_FEATURE = (
    "Feature {feature!r} is not a column of the per-user table; available: {available}."
)
NO_FEATURES = "No feature to split users on; pass features=[...] (e.g. n_train, mainstreamness)."
ALL_NAN = "No user has a value for {metric!r} (all NaN), so there is nothing to explain."
BAD_DEPTH = "max_depth must be an integer between 1 and 6, got {value!r}."
BAD_LEAF_SHARE = "min_leaf_share must lie in (0, 0.5], got {value!r} (e.g. 0.02 = 2% of users)."

# columns of the per-user table that are never default features
_NOT_FEATURES = frozenset(
    {
        "user_idx",
        "user_id",
        "n_validation",
        "n_test",
        "activity",
        "inactive",
        "inactive_pct",
        "mainstream",
        "auc",
    }
)


@dataclass(frozen=True)
class CohortReport:
    """The leaves of the error tree, worst first.

    Attributes:
        metric: the per-user metric explained.
        leaves: one row per leaf, sorted by ``mean_metric`` ascending: ``leaf`` (tree node id),
            ``rule`` (conditions in words, merged per feature; ``"all users"`` for a tree
            without splits), ``n_users``, ``share`` (of evaluated users), ``mean_metric``,
            ``overall_mean`` (over all evaluated users).
        features: the feature columns the tree could split on.
        max_depth: the depth limit used.
        membership: leaf id per table row (index aligned with the table; ``-1`` for users
            without the metric), so a page can list the users of a cohort.
    """

    metric: str
    leaves: pd.DataFrame
    features: tuple[str, ...]
    max_depth: int
    membership: pd.Series


def default_cohort_features(table: pd.DataFrame) -> list[str]:
    """Default features: ``n_train``, ``mainstreamness`` and the user attribute columns.

    Attribute columns are whatever is left after removing ids, counts, derived bins
    (``activity``, ``inactive``, ``mainstream``, ``*_bin``: the tree bins raw values itself) and
    metric columns (names containing ``@``, starting with ``val_``, or ``auc``).
    """
    out = [c for c in ("n_train", "mainstreamness") if c in table.columns]
    for c in table.columns:
        name = str(c)
        if (
            name in out
            or name in _NOT_FEATURES
            or "@" in name
            or name.startswith("val_")
            or name.endswith("_bin")
        ):
            continue
        out.append(name)
    return out


@dataclass(frozen=True)
class _Column:
    """One model column: a numeric feature or a one-hot level of a categorical one."""

    feature: str
    level: str | None  # None for numeric
    integer: bool = False
    has_missing: bool = False


def _encode(frame: pd.DataFrame) -> tuple[np.ndarray, list[_Column], dict[str, list[str]]]:
    blocks: list[np.ndarray] = []
    cols: list[_Column] = []
    levels_of: dict[str, list[str]] = {}
    for f in frame.columns:
        s = frame[f]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if numeric and not isinstance(s.dtype, pd.CategoricalDtype):
            x = s.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = x[~np.isnan(x)]
            integer = bool(len(finite)) and bool(np.all(finite == np.round(finite)))
            blocks.append(x[:, None])
            cols.append(_Column(f, None, integer, bool(np.isnan(x).any())))
            continue
        text = s.astype(object).where(s.notna(), "unknown").map(str)
        counts = text.value_counts(sort=True)
        keep = list(counts.index[:MAX_LEVELS])
        if len(counts) > MAX_LEVELS:
            text = text.where(text.isin(keep), OTHER)
            keep.append(OTHER)
        codes = pd.Categorical(text, categories=keep).codes
        levels_of[f] = keep
        onehot = np.zeros((len(text), len(keep)), dtype=np.float64)
        onehot[np.arange(len(text)), codes] = 1.0
        if len(keep) == 2:  # one column decides a binary feature
            onehot, keep = onehot[:, :1], keep[:1]
        blocks.append(onehot)
        cols.extend(_Column(f, lv) for lv in keep)
    X = np.hstack(blocks) if blocks else np.zeros((len(frame), 0))
    return X, cols, levels_of


def _join_levels(levels: list[str]) -> str:
    return levels[0] if len(levels) == 1 else ", ".join(levels[:-1]) + " or " + levels[-1]


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.3g}"


def _numeric_text(col: _Column, lower: float, upper: float, missing: bool | None) -> str:
    name = col.feature
    if col.integer:  # x > 2.5 -> x >= 3 ; x <= 12.5 -> x <= 12
        lo = None if lower == -np.inf else int(np.floor(lower)) + 1
        hi = None if upper == np.inf else int(np.floor(upper))
        if lo is not None and hi is not None:
            text = f"{name} = {lo}" if lo == hi else f"{lo} <= {name} <= {hi}"
        elif lo is not None:
            text = f"{name} >= {lo}"
        else:
            text = f"{name} <= {hi}"
    else:
        if lower > -np.inf and upper < np.inf:
            text = f"{_fmt(lower)} < {name} <= {_fmt(upper)}"
        elif lower > -np.inf:
            text = f"{name} > {_fmt(lower)}"
        else:
            text = f"{name} <= {_fmt(upper)}"
    if col.has_missing and missing:
        text = f"({text} or {name} is missing)"
    return text


def _categorical_text(feature: str, levels: list[str], is_: set[str], is_not: set[str]) -> str:
    if is_:
        return f"{feature} is {_join_levels(sorted(is_, key=levels.index))}"
    allowed = [lv for lv in levels if lv not in is_not]
    excluded = [lv for lv in levels if lv in is_not]
    if len(allowed) <= len(excluded):
        return f"{feature} is {_join_levels(allowed)}"
    if len(excluded) == 1:
        return f"{feature} is not {excluded[0]}"
    return f"{feature} is none of {', '.join(excluded)}"


def _leaf_rules(tree, cols: list[_Column], levels_of: dict[str, list[str]]) -> dict[int, str]:
    t = tree.tree_
    missing_left = getattr(t, "missing_go_to_left", None)
    rules: dict[int, str] = {}
    stack: list[tuple[int, list[tuple[int, bool, float, bool]]]] = [(0, [])]
    while stack:  # walk the (at most 2^depth-node) tree, not the users
        node, path = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == -1:
            rules[node] = _path_text(path, cols, levels_of)
            continue
        j, thr = int(t.feature[node]), float(t.threshold[node])
        ml = bool(missing_left[node]) if missing_left is not None else False
        stack.append((right, path + [(j, False, thr, not ml)]))
        stack.append((left, path + [(j, True, thr, ml)]))
    return rules


def _path_text(path, cols: list[_Column], levels_of: dict[str, list[str]]) -> str:
    if not path:
        return "all users"
    order: list[str] = []
    numeric: dict[str, list] = {}  # feature -> [lower, upper, missing_ok, column]
    categorical: dict[str, tuple[set[str], set[str]]] = {}
    for j, went_left, thr, missing_here in path:
        col = cols[j]
        if col.feature not in order:
            order.append(col.feature)
        if col.level is None:
            lo, hi, miss, _ = numeric.get(col.feature, [-np.inf, np.inf, True, col])
            if went_left:
                hi = min(hi, thr)
            else:
                lo = max(lo, thr)
            numeric[col.feature] = [lo, hi, miss and missing_here, col]
        else:
            is_, is_not = categorical.setdefault(col.feature, (set(), set()))
            levels = levels_of[col.feature]
            if len(levels) == 2:  # binary feature encoded by its first level only
                other = levels[1]
                (is_not if went_left else is_).add(col.level)
                (is_ if went_left else is_not).add(other)
            else:
                (is_not if went_left else is_).add(col.level)  # one-hot <= 0.5 means "is not"
    parts = []
    for f in order:
        if f in numeric:
            lo, hi, miss, col = numeric[f]
            parts.append(_numeric_text(col, lo, hi, miss))
        else:
            is_, is_not = categorical[f]
            parts.append(_categorical_text(f, levels_of[f], is_, is_not))
    return " and ".join(parts)


def discover_weak_cohorts(
    table: pd.DataFrame,
    metric: str = "ndcg@10",
    features: Sequence[str] | None = None,
    *,
    max_depth: int = 3,
    min_leaf_share: float = 0.02,
    seed: int = 0,
) -> CohortReport:
    """Find the user cohorts with the lowest metric using a shallow regression tree.

    The tree (squared error, ``min_samples_leaf = ceil(min_leaf_share * n_evaluated)``) is fit
    on evaluated users only (metric not NaN). Numeric features are used raw, NaNs handled by
    scikit-learn's native missing-value routing (rules then say "or ... is missing" where the
    missing users went); categorical/bool features are one-hot encoded (at most
    :data:`MAX_LEVELS` levels, rarer ones merged into ``"other"``; NaN is ``"unknown"``), and
    their splits read "is" / "is not". Conditions along a leaf's path are merged per feature
    (``"3 <= n_train <= 12"``; integer-valued features get integer bounds, others
    three significant digits).

    Args:
        table: the per-user table.
        metric: per-user metric column to explain.
        features: feature columns; default :func:`default_cohort_features`.
        max_depth: tree depth (1..6; 3 keeps rules readable).
        min_leaf_share: smallest leaf as a share of evaluated users, in ``(0, 0.5]``.
        seed: ``random_state`` of the tree (ties between equally good splits).

    Returns:
        A :class:`CohortReport`.

    Raises:
        AnalysisError: unknown metric or feature, no features, bad ``max_depth`` or
            ``min_leaf_share``, or a metric that is NaN for everyone.
    """
    available = ", ".join(map(str, table.columns))
    if metric not in table.columns:
        raise AnalysisError(UNKNOWN_METRIC.format(metric=metric, available=available))
    feats = list(default_cohort_features(table) if features is None else features)
    feats = [f for f in dict.fromkeys(feats) if f != metric]
    for f in feats:
        if f not in table.columns:
            raise AnalysisError(UNKNOWN_FEATURE.format(feature=f, available=available))
    if not feats:
        raise AnalysisError(NO_FEATURES)
    if (
        isinstance(max_depth, bool)
        or not isinstance(max_depth, (int, np.integer))
        or not (1 <= max_depth <= 6)
    ):
        raise AnalysisError(BAD_DEPTH.format(value=max_depth))
    if not 0.0 < float(min_leaf_share) <= 0.5:
        raise AnalysisError(BAD_LEAF_SHARE.format(value=min_leaf_share))

    y_all = table[metric].to_numpy(dtype=np.float64, na_value=np.nan)
    evaluated = ~np.isnan(y_all)
    n_eval = int(evaluated.sum())
    if n_eval == 0:
        raise AnalysisError(ALL_NAN.format(metric=metric))
    y = y_all[evaluated]
    X, cols, levels_of = _encode(table.loc[evaluated, feats].reset_index(drop=True))

    tree = DecisionTreeRegressor(
        max_depth=int(max_depth),
        min_samples_leaf=max(1, int(np.ceil(float(min_leaf_share) * n_eval))),
        random_state=seed,
    )
    tree.fit(X, y)
    leaf = tree.apply(X)
    rules = _leaf_rules(tree, cols, levels_of)
    ids, counts = np.unique(leaf, return_counts=True)
    sums = np.bincount(leaf, weights=y)[ids]
    leaves = pd.DataFrame(
        {
            "leaf": ids.astype(np.int64),
            "rule": [rules[int(i)] for i in ids],
            "n_users": counts.astype(np.int64),
            "share": counts / n_eval,
            "mean_metric": sums / counts,
            "overall_mean": float(y.mean()),
        }
    )
    leaves = leaves.sort_values(["mean_metric", "leaf"], kind="stable").reset_index(drop=True)
    membership = np.full(len(table), -1, dtype=np.int64)
    membership[evaluated] = leaf
    return CohortReport(
        metric=metric,
        leaves=leaves,
        features=tuple(feats),
        max_depth=int(max_depth),
        membership=pd.Series(membership, index=table.index, name="leaf"),
    )
