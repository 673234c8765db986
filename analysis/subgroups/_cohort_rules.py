"""The weak-cohort tree's features and words: the model matrix and each leaf's rule.

Numeric features enter raw, categorical ones one-hot; a leaf's path of thresholds is read back
as conditions merged per feature (``"3 <= n_train <= 12"``; integer-valued features get integer
bounds, others three significant digits), categorical splits as "is" / "is not".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.subgroups._binning import UNKNOWN, format_number

__all__ = ["MAX_LEVELS", "OTHER", "FeatureColumn", "encode_features", "leaf_rules"]

#: Categorical features keep their most frequent levels; the rest are merged into "other".
MAX_LEVELS = 30
OTHER = "other"


@dataclass(frozen=True)
class FeatureColumn:
    """One model column: a numeric feature or a one-hot level of a categorical one.

    Attributes:
        feature: the per-user table column it comes from.
        level: the categorical level it is the indicator of; None for a numeric feature.
        integer: every value of the (numeric) feature is a whole number: rules get integer
            bounds.
        has_missing: the (numeric) feature has NaNs: rules say where the missing users went.
    """

    feature: str
    level: str | None  # None for numeric
    integer: bool = False
    has_missing: bool = False


def encode_features(
    frame: pd.DataFrame,
) -> tuple[np.ndarray, list[FeatureColumn], dict[str, list[str]]]:
    """The model matrix of the feature columns, one row per user.

    Numeric features are kept raw (NaN stays NaN, for the tree's missing-value routing);
    categorical and bool ones are one-hot encoded over their :data:`MAX_LEVELS` most frequent
    levels, rarer ones merged into :data:`OTHER`, NaN named ``"unknown"``; a
    feature with two levels keeps only its first level's column.

    Args:
        frame: the feature columns of the per-user table.

    Returns:
        ``(X, columns, levels_of)``: float64 matrix, one :class:`FeatureColumn` per matrix
        column, and the levels kept for each categorical feature.
    """
    blocks: list[np.ndarray] = []
    cols: list[FeatureColumn] = []
    levels_of: dict[str, list[str]] = {}
    for f in frame.columns:
        s = frame[f]
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        if numeric and not isinstance(s.dtype, pd.CategoricalDtype):
            x = s.to_numpy(dtype=np.float64, na_value=np.nan)
            finite = x[~np.isnan(x)]
            integer = bool(len(finite)) and bool(np.all(finite == np.round(finite)))
            blocks.append(x[:, None])
            cols.append(FeatureColumn(f, None, integer, bool(np.isnan(x).any())))
            continue
        text = s.astype(object).where(s.notna(), UNKNOWN).map(str)
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
        cols.extend(FeatureColumn(f, lv) for lv in keep)
    X = np.hstack(blocks) if blocks else np.zeros((len(frame), 0))
    return X, cols, levels_of


def _join_levels(levels: list[str]) -> str:
    return levels[0] if len(levels) == 1 else ", ".join(levels[:-1]) + " or " + levels[-1]


def _numeric_text(col: FeatureColumn, lower: float, upper: float, missing: bool | None) -> str:
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
            text = f"{format_number(lower)} < {name} <= {format_number(upper)}"
        elif lower > -np.inf:
            text = f"{name} > {format_number(lower)}"
        else:
            text = f"{name} <= {format_number(upper)}"
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


def leaf_rules(tree, cols: list[FeatureColumn], levels_of: dict[str, list[str]]) -> dict[int, str]:
    """Every leaf of a fitted tree described in words, conditions merged per feature.

    Args:
        tree: a fitted :class:`sklearn.tree.DecisionTreeRegressor` on :func:`encode_features`.
        cols: the matrix columns, as :func:`encode_features` returns them.
        levels_of: the levels kept for each categorical feature.

    Returns:
        Leaf node id -> rule, e.g. ``"3 <= n_train <= 12 and country is DE or FR"``;
        ``"all users"`` for a tree without splits.
    """
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


def _path_text(path, cols: list[FeatureColumn], levels_of: dict[str, list[str]]) -> str:
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
