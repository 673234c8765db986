"""Weak-cohort discovery: a shallow regression tree over user features (an "error tree").

Like the error analysis tree of Microsoft's Responsible AI Toolbox, but for ranking quality:
a depth-limited :class:`sklearn.tree.DecisionTreeRegressor` is fitted to the per-user
*validation* metric, every leaf becomes a cohort described in words
(``"3 <= n_train <= 12 and country is DE or FR"``), sorted worst first on validation, and each
leaf is judged on the *test* metric it never saw. A tree fitted and reported on the same data
finds cohorts that are partly noise (the leaf means are selected extremes); the test figures
say which of them replicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.tree import DecisionTreeRegressor

from analysis.errors import AnalysisError, surface_hints
from analysis.subgroups._cohort_rules import MAX_LEVELS, encode_features, leaf_rules

__all__ = [
    "FORBIDDEN_FEATURES",
    "MAX_LEVELS",
    "CohortReport",
    "default_cohort_features",
    "discover_weak_cohorts",
    "read_cohorts",
]

UNKNOWN_METRIC = "Metric column {metric!r} is not in the per-user table; available: {available}."
UNKNOWN_FEATURE = (
    "Feature {feature!r} is not a column of the per-user table; available: {available}."
)
NO_FEATURES = "No feature to split users on; pass features=[...] (e.g. n_train, mainstreamness)."
ALL_NAN = "No user has a value for {metric!r} (all NaN), so there is nothing to explain."
NO_VALIDATION = (
    "Column {column!r} is not in the per-user table: the cohort tree is fitted on the "
    "validation metric and judged on the test one; train with a split that has a validation "
    "fold."
)
FIT_ON_TEST = (
    "The cohort tree must not be fitted on the metric it is judged on ({metric!r}); fit it on "
    "the validation column (e.g. 'val_{metric}')."
)
FORBIDDEN_FEATURE = (
    "Column {feature!r} cannot be a cohort feature: it is a flag, an id or a metric derived "
    "from the outcome (weak, evaluated, *_id, *_idx, metric columns); pick user features such "
    "as n_train or mainstreamness."
)
NO_COHORT_FILE = surface_hints(
    "This run has no weak_cohorts.csv (it predates weak cohorts).",
    app="Train the baseline again on the Baseline page to get one.",
    cli="Run evaluate again to get one.",
)
BAD_DEPTH = "max_depth must be an integer between 1 and 6, got {value!r}."
BAD_LEAF_SHARE = "min_leaf_share must lie in (0, 0.5], got {value!r} (e.g. 0.02 = 2% of users)."

#: flags and ids that are never a feature, even when asked for: ``weak`` is the selection
#: itself, ``evaluated`` says who has a test value, an id names one user
FORBIDDEN_FEATURES = frozenset({"weak", "evaluated", "user_id", "user_idx", "item_id", "item_idx"})

# further columns of the per-user table that are not default features (counts of held-out
# items and derived bins)
_NOT_FEATURES = FORBIDDEN_FEATURES | {
    "n_validation",
    "n_test",
    "n_relevant",
    "activity",
    "inactive",
    "inactive_pct",
    "mainstream",
    "auc",
}


def _forbidden(name: str) -> bool:
    """An id, a flag or a metric column (test or validation), never a feature."""
    return (
        name in FORBIDDEN_FEATURES
        or name.endswith(("_id", "_idx"))
        or "@" in name
        or name.startswith("val_")
        or name == "auc"
    )


@dataclass(frozen=True)
class CohortReport:
    """The leaves of the error tree, worst first on validation, each judged on test.

    Attributes:
        metric: the per-user test metric the leaves are judged on (e.g. ``ndcg@10``).
        fit_on: the validation column the tree was fitted on (e.g. ``val_ndcg@10``).
        leaves: one row per leaf, sorted by ``val_mean`` ascending (ties: leaf id):
            ``leaf`` (tree node id), ``rule`` (conditions in words, merged per feature;
            ``"all users"`` for a tree without splits), ``n_fit`` (users with a validation
            value in the leaf: what the tree was fitted on), ``val_mean`` (their mean
            validation metric), ``n_users`` (users with a test value in the leaf),
            ``share`` (``n_users`` / users with a test value), ``test_mean`` (their mean test
            metric; NaN when the leaf has none), ``overall_test_mean`` (over every user with a
            test value).
        features: the feature columns the tree could split on.
        max_depth: the depth limit used.
        membership: leaf id per table row (index aligned with the table; ``-1`` for users
            with neither a validation nor a test value), so a page can list a cohort's users.
    """

    metric: str
    fit_on: str
    leaves: pd.DataFrame
    features: tuple[str, ...]
    max_depth: int
    membership: pd.Series


def default_cohort_features(table: pd.DataFrame) -> list[str]:
    """Default features: ``n_train``, ``mainstreamness`` and the user attribute columns.

    Attribute columns are whatever is left after removing ids (``user_id``, ``*_id``,
    ``*_idx``), flags (``weak``, ``evaluated``), counts of held-out items (``n_validation``,
    ``n_test``, ``n_relevant``), derived bins (``activity``, ``inactive``, ``mainstream``,
    ``*_bin``: the tree bins raw values itself) and metric columns (names containing ``@``,
    starting with ``val_``, or ``auc``).
    """
    out = [c for c in ("n_train", "mainstreamness") if c in table.columns]
    for c in table.columns:
        name = str(c)
        if name in out or name in _NOT_FEATURES or _forbidden(name) or name.endswith("_bin"):
            continue
        out.append(name)
    return out


def _checked_columns(
    table: pd.DataFrame, metric: str, features: Sequence[str] | None, fit_on: str | None
) -> tuple[str, list[str]]:
    """The validation column the tree is fitted on and the feature columns, checked: the
    metric and ``fit_on`` exist and differ, every feature exists and is allowed, one at least.
    """
    available = ", ".join(map(str, table.columns))
    if metric not in table.columns:
        raise AnalysisError(UNKNOWN_METRIC.format(metric=metric, available=available))
    fit_on = f"val_{metric}" if fit_on is None else str(fit_on)
    if fit_on == metric:
        raise AnalysisError(FIT_ON_TEST.format(metric=metric))
    if fit_on not in table.columns:
        raise AnalysisError(NO_VALIDATION.format(column=fit_on))
    if features is None:
        feats = [f for f in default_cohort_features(table) if f not in (metric, fit_on)]
    else:
        feats = list(dict.fromkeys(features))
    for f in feats:
        if f not in table.columns:
            raise AnalysisError(UNKNOWN_FEATURE.format(feature=f, available=available))
        if _forbidden(str(f)) or f in (metric, fit_on):
            raise AnalysisError(FORBIDDEN_FEATURE.format(feature=f))
    if not feats:
        raise AnalysisError(NO_FEATURES)
    return fit_on, feats


def _leaf_table(
    tree: DecisionTreeRegressor,
    leaf: np.ndarray,
    rules: dict[int, str],
    y_val: np.ndarray,
    y_test: np.ndarray,
) -> pd.DataFrame:
    """:attr:`CohortReport.leaves`: per-leaf sums by ``np.bincount`` over the users' leaves
    (validation and test values NaN where absent), worst validation mean first."""
    has_val, has_test = ~np.isnan(y_val), ~np.isnan(y_test)
    n_test = int(has_test.sum())
    ids = np.flatnonzero(tree.tree_.children_left == -1)
    size = len(tree.tree_.children_left)
    fit_n = np.bincount(leaf[has_val], minlength=size)[ids]
    fit_sum = np.bincount(leaf[has_val], weights=y_val[has_val], minlength=size)[ids]
    test_n = np.bincount(leaf[has_test], minlength=size)[ids]
    test_sum = np.bincount(leaf[has_test], weights=y_test[has_test], minlength=size)[ids]
    with np.errstate(invalid="ignore", divide="ignore"):
        leaves = pd.DataFrame(
            {
                "leaf": ids.astype(np.int64),
                "rule": [rules[int(i)] for i in ids],
                "n_fit": fit_n.astype(np.int64),
                "val_mean": fit_sum / fit_n,
                "n_users": test_n.astype(np.int64),
                "share": test_n / n_test,
                "test_mean": np.where(test_n > 0, test_sum / np.maximum(test_n, 1), np.nan),
                "overall_test_mean": float(y_test[has_test].mean()),
            }
        )
    return leaves.sort_values(["val_mean", "leaf"], kind="stable").reset_index(drop=True)


def discover_weak_cohorts(
    table: pd.DataFrame,
    metric: str = "ndcg@10",
    features: Sequence[str] | None = None,
    *,
    fit_on: str | None = None,
    max_depth: int = 3,
    min_leaf_share: float = 0.02,
    seed: int = 0,
) -> CohortReport:
    """Find the user cohorts with the lowest metric: fit on validation, judge on test.

    The tree (squared error, ``min_samples_leaf = ceil(min_leaf_share * n_fit)``) is fitted
    on the users with a validation value (``fit_on``, default ``val_<metric>``), so its leaves
    and their order are chosen without the test split. Every user is then routed down the
    tree, and each leaf reports the mean *test* ``metric`` of its users with a test value: a
    leaf that is bad on test too is a cohort that replicates; a leaf whose test mean sits
    near the overall one was noise.

    Numeric features are used raw, NaNs handled by scikit-learn's native missing-value
    routing (rules then say "or ... is missing" where the missing users went);
    categorical/bool features are one-hot encoded (at most :data:`MAX_LEVELS` levels, rarer
    ones merged into ``"other"``; NaN is ``"unknown"``), and their splits read "is" / "is not".
    Conditions along a leaf's path are merged per feature (``"3 <= n_train <= 12"``;
    integer-valued features get integer bounds, others three significant digits). Ids,
    ``weak``, ``evaluated`` and metric columns are never features
    (:data:`FORBIDDEN_FEATURES`).

    Args:
        table: the per-user table.
        metric: per-user test metric the leaves are judged on.
        features: feature columns; default :func:`default_cohort_features`.
        fit_on: validation column the tree is fitted on; default ``val_<metric>``.
        max_depth: tree depth (1..6; 3 keeps rules readable).
        min_leaf_share: smallest leaf as a share of the users it is fitted on, in ``(0, 0.5]``.
        seed: ``random_state`` of the tree (ties between equally good splits).

    Returns:
        A :class:`CohortReport`.

    Raises:
        AnalysisError: unknown metric, missing validation column, ``fit_on`` equal to
            ``metric``, unknown or forbidden feature, no features, bad ``max_depth`` or
            ``min_leaf_share``, or a validation or test metric that is NaN for everyone.
    """
    fit_on, feats = _checked_columns(table, metric, features, fit_on)
    if (
        isinstance(max_depth, bool)
        or not isinstance(max_depth, (int, np.integer))
        or not (1 <= max_depth <= 6)
    ):
        raise AnalysisError(BAD_DEPTH.format(value=max_depth))
    if not 0.0 < float(min_leaf_share) <= 0.5:
        raise AnalysisError(BAD_LEAF_SHARE.format(value=min_leaf_share))

    y_val = table[fit_on].to_numpy(dtype=np.float64, na_value=np.nan)
    y_test = table[metric].to_numpy(dtype=np.float64, na_value=np.nan)
    has_val, has_test = ~np.isnan(y_val), ~np.isnan(y_test)
    n_fit, n_test = int(has_val.sum()), int(has_test.sum())
    if n_fit == 0:
        raise AnalysisError(ALL_NAN.format(metric=fit_on))
    if n_test == 0:
        raise AnalysisError(ALL_NAN.format(metric=metric))
    X, cols, levels_of = encode_features(table[feats].reset_index(drop=True))

    tree = DecisionTreeRegressor(
        max_depth=int(max_depth),
        min_samples_leaf=max(1, int(np.ceil(float(min_leaf_share) * n_fit))),
        random_state=seed,
    )
    tree.fit(X[has_val], y_val[has_val])
    leaf = tree.apply(X)  # every user routed, fitted on validation or not
    rules = leaf_rules(tree, cols, levels_of)
    leaves = _leaf_table(tree, leaf, rules, y_val, y_test)
    membership = np.where(has_val | has_test, leaf, -1).astype(np.int64)
    return CohortReport(
        metric=metric,
        fit_on=fit_on,
        leaves=leaves,
        features=tuple(feats),
        max_depth=int(max_depth),
        membership=pd.Series(membership, index=table.index, name="leaf"),
    )


def read_cohorts(folder: str | Path) -> pd.DataFrame:
    """A run's ``weak_cohorts.csv``: the leaves exactly as the run wrote them (see
    :class:`CohortReport`), so every view shows the same cohorts.

    Raises:
        AnalysisError: the run folder has no such file.
    """
    path = Path(folder) / "weak_cohorts.csv"
    if not path.is_file():
        raise AnalysisError(NO_COHORT_FILE)
    return pd.read_csv(path, dtype={"rule": str})
