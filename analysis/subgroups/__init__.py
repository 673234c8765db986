"""Step 5: subgroups. Per-user features that define groups, and per-group metric reports.

``compute_user_features`` derives activity, inactivity, mainstreamness and attribute groups
from a :class:`~analysis.split.Split`; ``subgroup_report`` compares one per-user metric across
the groups of one dimension (or two crossed) in fairlearn's vocabulary; ``kruskal_family``
tests every dimension and pair at once with multiplicity-adjusted p-values; ``group_codes``
and ``INTERSECTION`` name the groups (``"a × b"`` for a pair). The tables the charts are drawn
from are in :mod:`analysis.subgroups.distributions`, the weak-cohort tree in
:mod:`analysis.subgroups.cohorts`.
"""

from analysis.subgroups._features import FEATURE_COLUMNS, UserFeatures, compute_user_features
from analysis.subgroups._grouping import INTERSECTION, group_codes
from analysis.subgroups._multiple import (
    P_ADJUST_METHODS,
    adjust_p_values,
    dimension_pairs,
    kruskal_family,
)
from analysis.subgroups._report import MIN_GROUP_SIZE, SubgroupReport, subgroup_report
from analysis.subgroups._statistics import EXACT_BOOTSTRAP_MAX, bootstrap_mean_ci, gini

__all__ = [
    "EXACT_BOOTSTRAP_MAX",
    "FEATURE_COLUMNS",
    "INTERSECTION",
    "MIN_GROUP_SIZE",
    "P_ADJUST_METHODS",
    "SubgroupReport",
    "UserFeatures",
    "adjust_p_values",
    "bootstrap_mean_ci",
    "compute_user_features",
    "dimension_pairs",
    "gini",
    "group_codes",
    "kruskal_family",
    "subgroup_report",
]
