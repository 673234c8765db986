"""Step 6: weak users. Users the recommender serves badly, selected on the validation split.

A :class:`WeakRule` says who is weak (validation metric at or below an absolute threshold or
a percentile, optionally AND inactive); :class:`WeakUserSelector` precomputes arrays once per
per-user table so that :meth:`WeakUserSelector.select` is cheap enough for every slider move.
Selection reads only the validation column ``val_<metric>``; the result reports the *test*
metric of the weak users and of the rest, so nothing is judged on the labels that picked it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.subgroups import group_codes

__all__ = [
    "BAD_PAPER_AUC",
    "DEFAULT_METRIC",
    "DEFAULT_PERCENTILE",
    "PAPER_AUC",
    "PaperAuc",
    "WeakRule",
    "WeakUserSelector",
    "WeakUsers",
    "select_weak_users",
    "ties_note",
]

#: the two per-user AUC definitions the paper preset can use -> their per-user column
PaperAuc = Literal["all", "heldout"]
PAPER_AUC: dict[str, str] = {"all": "auc", "heldout": "auc@heldout"}

BOTH_OR_NEITHER = (
    "A weak-user rule needs exactly one of a threshold or a percentile; got threshold "
    "{threshold!r} and percentile {percentile!r}."
)
#: the default rule (:meth:`WeakRule.default`): validation AUC at or below its 20th percentile
DEFAULT_METRIC = "auc"
DEFAULT_PERCENTILE = 20.0
BAD_PERCENTILE = "percentile must lie in [0, 100], got {value!r}."
BAD_THRESHOLD = "threshold must be a finite number, got {value!r}."
MISSING_METRIC = (
    "The per-user table has no validation column {column!r} to select weak users on; "
    "available metrics: {available}."
)
MISSING_INACTIVE = (
    "The rule requires inactive users but the per-user table has no 'inactive' column; "
    "join the user features (compute_user_features) first."
)
MISSING_DIMENSION = (
    "Breakdown dimension {dim!r} is not a column of the per-user table; available: {available}."
)
BAD_PAPER_AUC = (
    "The paper preset's AUC must be 'all' (over every unseen item) or 'heldout' (within the "
    "user's held-out rated items), got {value!r}."
)
NOBODY_SELECTABLE = (
    "No user has a value for {column!r} (all NaN): the split has no validation items to select "
    "weak users on; use a split with a validation fold."
)


@dataclass(frozen=True)
class WeakRule:
    """Who counts as weak.

    A user is weak when ``val_<metric> <= t`` where ``t`` is ``threshold`` or, with
    ``percentile=p``, the ``p``-th percentile (numpy's linear interpolation) of ``val_<metric>``
    over users that have it; with ``require_inactive`` the user must also be ``inactive``.
    Users without a validation value are never weak ("unselectable").

    Attributes:
        metric: base metric name (``"ndcg@10"``, ``"auc"``, ``"auc@heldout"``); selection
            reads ``val_<metric>``, the report's test means read ``<metric>``.
        threshold: absolute threshold (inclusive).
        percentile: or a percentile in ``[0, 100]`` (inclusive).
        require_inactive: AND the boolean ``inactive`` column.

    Raises:
        AnalysisError: both or neither of ``threshold``/``percentile`` given, a percentile
            outside ``[0, 100]`` or a non-finite threshold.
    """

    metric: str = "ndcg@10"
    threshold: float | None = None
    percentile: float | None = None
    require_inactive: bool = False

    def __post_init__(self) -> None:
        if (self.threshold is None) == (self.percentile is None):
            raise AnalysisError(
                BOTH_OR_NEITHER.format(threshold=self.threshold, percentile=self.percentile)
            )
        if self.percentile is not None and not 0.0 <= float(self.percentile) <= 100.0:
            raise AnalysisError(BAD_PERCENTILE.format(value=self.percentile))
        if self.threshold is not None and not np.isfinite(float(self.threshold)):
            raise AnalysisError(BAD_THRESHOLD.format(value=self.threshold))

    @classmethod
    def default(cls) -> WeakRule:
        """The product's default rule, wherever none is given (a baseline run, a rerank, the
        CLI): the bottom :data:`DEFAULT_PERCENTILE` percent of users by validation AUC."""
        return cls(metric=DEFAULT_METRIC, percentile=DEFAULT_PERCENTILE)

    @classmethod
    def paper(cls, t_p: float = 0.5, auc: PaperAuc = "all") -> WeakRule:
        """The Kaur & Shah (2024) preset: weak when validation ``AUC <= t_p`` and ``n_train``
        is below the dataset mean (the ``inactive`` feature).

        It follows the paper's rule; it is not a reproduction of its numbers: on MovieLens
        100K, ``auc="all"`` at ``t_p=0.5`` finds about a twentieth of the weak users the
        paper reports (``docs/kaur_shah_preset.md``).

        Args:
            t_p: the AUC threshold (the paper's ``t_p``; 0.5 = no better than chance).
            auc: which per-user AUC (``docs/metrics.md``): ``"all"`` over every item the user
                has not interacted with (column ``auc``), or ``"heldout"`` within the user's
                held-out rated items, relevant vs not relevant (``auc@heldout``; our reading
                of the paper's query-level AUC).

        Raises:
            AnalysisError: ``auc`` is neither (:data:`BAD_PAPER_AUC`), or a non-finite ``t_p``.
        """
        if auc not in PAPER_AUC:
            raise AnalysisError(BAD_PAPER_AUC.format(value=auc))
        return cls(metric=PAPER_AUC[auc], threshold=t_p, require_inactive=True)


#: how far a percentile rule's weak share may exceed its P before the ties are called out
TIES_MARGIN = 0.05
TIES_NOTE = (
    "{share:.1%} are at or below the {percentile:g}th percentile ({value:.4g}), not "
    "{percentile:g}%: many share that value and the rule takes all of them; a threshold below "
    "it, or another metric, selects fewer."
)


def ties_note(share: float, percentile: float | None, value: float) -> str | None:
    """:data:`TIES_NOTE` when a percentile rule selected more than ``percentile`` % plus
    :data:`TIES_MARGIN` (ties at the threshold), else None."""
    if percentile is None or not np.isfinite(share) or share <= percentile / 100 + TIES_MARGIN:
        return None
    return TIES_NOTE.format(share=share, percentile=percentile, value=value)


@dataclass(frozen=True)
class WeakUsers:
    """The weak users a rule selects.

    Attributes:
        rule: the rule applied.
        threshold_value: the resolved threshold on ``val_<metric>`` (the percentile's value).
        mask: bool per table row, True for weak users.
        user_idx: ``user_idx`` of the weak users (table order).
        n_weak: number of weak users.
        share: ``n_weak`` / users with a validation value.
        n_unselectable: users without a validation value (never weak).
        breakdown: per requested dimension, a DataFrame with one row per group (category
            order; NaN values form ``"unknown"``): ``group`` (str), ``n_users`` (users of the
            group with a validation value), ``n_weak``, ``weak_share`` (``n_weak / n_users``,
            NaN for an empty group), ``share_of_weak`` (``n_weak / total n_weak``, NaN when
            nobody is weak).
        test_mean_weak: mean test ``<metric>`` over weak users that have one (NaN if none).
        test_mean_rest: mean test ``<metric>`` over all other users that have one.
    """

    rule: WeakRule
    threshold_value: float
    mask: np.ndarray
    user_idx: np.ndarray
    n_weak: int
    share: float
    n_unselectable: int
    breakdown: dict[str, pd.DataFrame]
    test_mean_weak: float
    test_mean_rest: float

    @property
    def ties_note(self) -> str | None:
        """A sentence when ties at a percentile threshold made far more users weak than the
        percentile asks (:func:`ties_note`); None otherwise."""
        return ties_note(self.share, self.rule.percentile, self.threshold_value)


def _codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, labels = group_codes(col)
    return codes.astype(np.intp), np.asarray(labels, dtype=object)


class WeakUserSelector:
    """Precomputed arrays of one per-user table for fast, repeated weak-user selection.

    Construction (the slow part, once per table) extracts float arrays, sorts each validation
    metric lazily for percentiles, and factorises every breakdown dimension into integer codes.
    :meth:`select` is then a few vectorised comparisons plus one ``np.bincount`` per dimension.

    Args:
        table: the per-user table: ``val_<metric>`` and ``<metric>`` columns, optional
            ``inactive`` (bool) and ``user_idx`` (else the index is used) columns.
        dimensions: columns to break the weak users down by.

    Raises:
        AnalysisError: a dimension that is not a column of ``table``.
    """

    def __init__(self, table: pd.DataFrame, dimensions: Sequence[str] = ()) -> None:
        for d in dimensions:
            if d not in table.columns:
                raise AnalysisError(
                    MISSING_DIMENSION.format(dim=d, available=", ".join(map(str, table.columns)))
                )
        self._table = table
        self._n = len(table)
        self._user_idx = (
            table["user_idx"].to_numpy() if "user_idx" in table.columns else table.index.to_numpy()
        )
        self._inactive = (
            table["inactive"].to_numpy(dtype=bool, na_value=False)
            if "inactive" in table.columns
            else None
        )
        self._metrics: dict[str, np.ndarray] = {}
        self._sorted: dict[str, np.ndarray] = {}
        self._dims: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._dim_valid_counts: dict[tuple[str, str], np.ndarray] = {}
        self._sums: dict[str, tuple[float, int]] = {}
        for d in dict.fromkeys(dimensions):
            self._dims[d] = _codes(table[d])
        # extract every metric column now: selection must not touch pandas
        for c in table.columns:
            if (
                isinstance(c, str)
                and pd.api.types.is_numeric_dtype(table[c])
                and not (pd.api.types.is_bool_dtype(table[c]))
            ):
                if c.startswith("val_") or f"val_{c}" in table.columns:
                    self._metrics[c] = table[c].to_numpy(dtype=np.float64, na_value=np.nan)

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The breakdown dimensions, in the order given."""
        return tuple(self._dims)

    def _column(self, name: str) -> np.ndarray | None:
        if name not in self._metrics and name in self._table.columns:
            self._metrics[name] = self._table[name].to_numpy(dtype=np.float64, na_value=np.nan)
        return self._metrics.get(name)

    def _sorted_valid(self, column: str, values: np.ndarray) -> np.ndarray:
        if column not in self._sorted:
            self._sorted[column] = np.sort(values[~np.isnan(values)])
        return self._sorted[column]

    def _valid_counts(self, dim: str, column: str, valid: np.ndarray) -> np.ndarray:
        key = (dim, column)
        if key not in self._dim_valid_counts:
            codes, labels = self._dims[dim]
            self._dim_valid_counts[key] = np.bincount(codes[valid], minlength=len(labels))
        return self._dim_valid_counts[key]

    def _totals(self, column: str, values: np.ndarray) -> tuple[float, int]:
        if column not in self._sums:
            self._sums[column] = (
                float(np.nansum(values)),
                int(np.count_nonzero(~np.isnan(values))),
            )
        return self._sums[column]

    def select(self, rule: WeakRule) -> WeakUsers:
        """Apply ``rule`` (cheap: masks and bincounts over precomputed arrays).

        Args:
            rule: the weak-user rule.

        Returns:
            A :class:`WeakUsers`.

        Raises:
            AnalysisError: no ``val_<metric>`` column, no ``inactive`` column while the rule
                requires it, or nobody with a validation value.
        """
        column = f"val_{rule.metric}"
        val = self._column(column)
        if val is None:
            available = ", ".join(c for c in map(str, self._table.columns) if c.startswith("val_"))
            raise AnalysisError(MISSING_METRIC.format(column=column, available=available or "none"))
        if rule.require_inactive and self._inactive is None:
            raise AnalysisError(MISSING_INACTIVE)
        sorted_valid = self._sorted_valid(column, val)
        n_valid = len(sorted_valid)
        if n_valid == 0:
            raise AnalysisError(NOBODY_SELECTABLE.format(column=column))

        if rule.threshold is not None:
            t = float(rule.threshold)
        else:  # numpy's "linear" percentile, read off the presorted values in O(1)
            pos = float(rule.percentile) / 100.0 * (n_valid - 1)
            lo = int(np.floor(pos))
            hi = min(lo + 1, n_valid - 1)
            t = float(sorted_valid[lo] + (pos - lo) * (sorted_valid[hi] - sorted_valid[lo]))
        mask = val <= t  # NaN compares False: unselectable users are never weak
        if rule.require_inactive:
            mask &= self._inactive
        weak_rows = np.flatnonzero(mask)
        n_weak = len(weak_rows)

        breakdown: dict[str, pd.DataFrame] = {}
        if self._dims:
            valid = ~np.isnan(val)
            for d, (codes, labels) in self._dims.items():
                n_users = self._valid_counts(d, column, valid)
                n_w = np.bincount(codes[weak_rows], minlength=len(labels))
                with np.errstate(invalid="ignore", divide="ignore"):
                    breakdown[d] = pd.DataFrame(
                        {
                            "group": labels,
                            "n_users": n_users,
                            "n_weak": n_w,
                            "weak_share": np.where(n_users > 0, n_w / n_users, np.nan),
                            "share_of_weak": n_w / n_weak
                            if n_weak
                            else np.full(len(labels), np.nan),
                        }
                    )

        test = self._column(rule.metric)
        mean_weak = mean_rest = float("nan")
        if test is not None:
            t_weak = test[weak_rows]
            t_weak = t_weak[~np.isnan(t_weak)]
            total, n_total = self._totals(rule.metric, test)
            if len(t_weak):
                mean_weak = float(t_weak.mean())
            if n_total - len(t_weak):
                mean_rest = float((total - t_weak.sum()) / (n_total - len(t_weak)))
        return WeakUsers(
            rule=rule,
            threshold_value=t,
            mask=mask,
            user_idx=self._user_idx[weak_rows],
            n_weak=n_weak,
            share=n_weak / n_valid,
            n_unselectable=self._n - n_valid,
            breakdown=breakdown,
            test_mean_weak=mean_weak,
            test_mean_rest=mean_rest,
        )


def select_weak_users(
    table: pd.DataFrame, rule: WeakRule, dimensions: Sequence[str] = ()
) -> WeakUsers:
    """One-off selection: ``WeakUserSelector(table, dimensions).select(rule)``.

    Args:
        table: the per-user table.
        rule: the weak-user rule.
        dimensions: columns for the breakdown.

    Returns:
        A :class:`WeakUsers`.

    Raises:
        AnalysisError: see :class:`WeakUserSelector` and :meth:`WeakUserSelector.select`.
    """
    return WeakUserSelector(table, dimensions).select(rule)
