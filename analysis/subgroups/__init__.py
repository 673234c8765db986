"""Step 5: subgroups. Per-user features that define groups, and per-group metric reports.

``compute_user_features`` derives activity, inactivity, mainstreamness and attribute groups
from a :class:`~analysis.split.Split`; ``subgroup_report`` compares one per-user metric across
the groups of one dimension (or two crossed) in fairlearn's vocabulary.
"""

from analysis.subgroups._features import FEATURE_COLUMNS, UserFeatures, compute_user_features
from analysis.subgroups._report import (
    EXACT_BOOTSTRAP_MAX,
    SubgroupReport,
    bootstrap_mean_ci,
    gini,
    group_codes,
    subgroup_report,
)

__all__ = [
    "EXACT_BOOTSTRAP_MAX",
    "FEATURE_COLUMNS",
    "SubgroupReport",
    "UserFeatures",
    "bootstrap_mean_ci",
    "compute_user_features",
    "gini",
    "group_codes",
    "subgroup_report",
]
