"""Weak (user, scenario) pairs: the weak-user rule applied to each pair.

A pair is weak when its validation metric ``val_<metric>`` (the user's validation items of
that scenario, :mod:`analysis.scenarios._pairs`) is at or below the rule's threshold or
percentile (:class:`analysis.weak_users.WeakRule`, percentiles over the pairs with a
validation value). Only pairs with validation items of the scenario can be selected; the
selection never reads a test column, and the result reports the selected pairs' *test*
metric against the other pairs'.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis.errors import AnalysisError
from analysis.scenarios._pairs import ScenarioPairs
from analysis.weak_users import WeakRule, WeakUsers, WeakUserSelector

__all__ = ["NO_VALIDATION_LISTS", "WeakPairSelector", "WeakPairs", "pair_rule",
           "select_weak_pairs"]

NO_VALIDATION_LISTS = (
    "This run has no validation lists (imported rankings), so weak (user, scenario) pairs "
    "cannot be chosen on validation; train a baseline on the data to select them."
)
#: columns of :attr:`WeakPairs.table`
PAIR_COLUMNS = ("user_id", "scenario", "n_validation", "n_test")


@dataclass(frozen=True)
class WeakPairs:
    """The weak pairs one rule selects.

    Attributes:
        selection: the rule's :class:`~analysis.weak_users.WeakUsers` over the pair table
            (``mask`` per pair row, ``n_weak`` pairs, ``share`` of the selectable pairs,
            ``n_unselectable`` pairs without validation items, ``breakdown["scenario"]``,
            ``test_mean_weak`` / ``test_mean_rest`` on the test metric).
        table: the weak pairs: ``user_id``, ``scenario``, ``n_validation``, ``n_test``,
            ``val_<metric>`` and ``<metric>`` (test; NaN without test items), worst on
            validation first.
        n_pairs: every pair of the table.
    """

    selection: WeakUsers
    table: pd.DataFrame
    n_pairs: int

    @property
    def n_weak(self) -> int:
        return self.selection.n_weak

    @property
    def n_unselectable(self) -> int:
        return self.selection.n_unselectable


def pair_rule(rule: WeakRule, k: int) -> WeakRule:
    """``rule`` as a pair rule: its metric when it is a list metric, else ``ndcg@k`` (a
    pair has no AUC), same cut; ``require_inactive`` kept."""
    metric = rule.metric if "@" in rule.metric and rule.metric != "auc@heldout" else f"ndcg@{k}"
    return WeakRule(metric=metric, threshold=rule.threshold, percentile=rule.percentile,
                    require_inactive=rule.require_inactive)


class WeakPairSelector:
    """Precomputed arrays of one pair table, for a selection per slider move.

    Args:
        pairs: the run's pair metrics (with validation lists).
        inactive: optional bool per pair row (the user's ``inactive`` flag) for rules that
            require it.

    Raises:
        AnalysisError: :data:`NO_VALIDATION_LISTS` for a run without validation lists.
    """

    def __init__(self, pairs: ScenarioPairs, inactive=None) -> None:
        if not pairs.has_validation:
            raise AnalysisError(NO_VALIDATION_LISTS)
        table = pairs.table
        if inactive is not None:
            table = table.assign(inactive=inactive)
        self._table = table
        self._selector = WeakUserSelector(table, ["scenario"])

    def select(self, rule: WeakRule) -> WeakPairs:
        """Apply ``rule`` to every pair (see the module docstring).

        Raises:
            AnalysisError: as :meth:`analysis.weak_users.WeakUserSelector.select`.
        """
        sel = self._selector.select(rule)
        val, test = f"val_{rule.metric}", rule.metric
        cols = [*PAIR_COLUMNS, val, test]
        weak = self._table.loc[sel.mask, cols].sort_values([val, "user_id"], kind="stable")
        return WeakPairs(selection=sel, table=weak.reset_index(drop=True),
                         n_pairs=len(self._table))


def select_weak_pairs(pairs: ScenarioPairs, rule: WeakRule, inactive=None) -> WeakPairs:
    """One-off selection: ``WeakPairSelector(pairs, inactive).select(rule)``."""
    return WeakPairSelector(pairs, inactive).select(rule)
