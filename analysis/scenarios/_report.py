"""The scenario as a subgroup dimension: per-scenario statistics of the pair NDCG, and
cross-scenario users against single-scenario users, with the subgroup report's statistics
(:func:`analysis.subgroups.subgroup_report`: bootstrap CIs, minimum group size,
Kruskal-Wallis, Gini) and p-values adjusted over one family with the run's other dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.scenarios._pairs import ScenarioPairs
from analysis.subgroups import (
    MIN_GROUP_SIZE,
    SubgroupReport,
    adjust_p_values,
    kruskal_family,
    subgroup_report,
)
from analysis.subgroups.distributions import subgroup_dimensions

__all__ = ["SCENARIO_DIMENSION", "USERS_DIMENSION", "ScenarioReport", "scenario_report",
           "with_scenario_users"]

#: the pair table's scenario column and the per-user cross-scenario dimension
SCENARIO_DIMENSION = "scenario"
USERS_DIMENSION = "scenario_users"


@dataclass(frozen=True)
class ScenarioReport:
    """Per-scenario and cross-scenario figures of one run in one list mode.

    Attributes:
        pairs: the pair table it was computed from.
        by_scenario: :class:`~analysis.subgroups.SubgroupReport` of pair ``ndcg@k`` by
            ``scenario`` (one observation per (user, scenario) pair with test items; a user
            active in two scenarios counts in both).
        by_users: the same on the per-user table's user-level ``ndcg@k`` by
            ``scenario_users`` (``single-scenario``, ``cross-scenario``, ``no training
            scenario``).
        p_tests: the family of Kruskal-Wallis tests (:func:`analysis.subgroups.
            kruskal_family` columns): every per-user dimension, every pair of them and
            ``scenario_users``, plus the row ``scenario`` (pairs); ``p_holm``/``p_bh``
            adjusted over the whole family.
    """

    pairs: ScenarioPairs
    by_scenario: SubgroupReport
    by_users: SubgroupReport
    p_tests: pd.DataFrame

    @property
    def mode(self) -> str:
        return self.pairs.mode

    @property
    def worst_scenario(self) -> str | None:
        """The reliable scenario with the lowest mean pair NDCG (None without one)."""
        return self.by_scenario.worst_group


def with_scenario_users(per_user: pd.DataFrame, pairs: ScenarioPairs) -> pd.DataFrame:
    """``per_user`` (index user_idx) with the users' ``scenario_users`` column."""
    return per_user.assign(**{USERS_DIMENSION: pairs.users.reindex(per_user.index).values})


def scenario_report(pairs: ScenarioPairs, per_user: pd.DataFrame, *, seed: int = 0,
                    n_boot: int = 1000, min_group_size: int = MIN_GROUP_SIZE) -> ScenarioReport:
    """The scenario dimension's reports and the adjusted family of tests.

    Args:
        pairs: :func:`~analysis.scenarios.pair_metrics` of the run.
        per_user: the run's per-user table (index user_idx; ``ndcg@k`` and its dimensions).
        seed: bootstrap seed.
        n_boot: bootstrap resamples (0: no intervals).
        min_group_size: smallest group (pairs, or users) entering a headline figure.

    Raises:
        AnalysisError: as :func:`analysis.subgroups.subgroup_report`.
    """
    metric = pairs.metric
    by_scenario = subgroup_report(pairs.table, metric, SCENARIO_DIMENSION, seed=seed,
                                  n_boot=n_boot, min_group_size=min_group_size)
    table = with_scenario_users(per_user, pairs)
    by_users = subgroup_report(table, metric, USERS_DIMENSION, seed=seed, n_boot=n_boot,
                               min_group_size=min_group_size)
    dims = [d for d in subgroup_dimensions(per_user) if d != USERS_DIMENSION]
    family = kruskal_family(table, metric, dims + [USERS_DIMENSION],
                            min_group_size=min_group_size)
    row = pd.DataFrame([{"dimension": SCENARIO_DIMENSION,
                         "n_groups": int(by_scenario.by_group["reliable"].sum()),
                         "kruskal_h": by_scenario.kruskal_h,
                         "kruskal_p": by_scenario.kruskal_p}])
    tests = pd.concat([row, family[["dimension", "n_groups", "kruskal_h", "kruskal_p"]]],
                      ignore_index=True)
    p = tests["kruskal_p"].to_numpy(np.float64)
    tests["p_holm"] = adjust_p_values(p, "holm")
    tests["p_bh"] = adjust_p_values(p, "bh")
    tests["family_size"] = int((~np.isnan(p)).sum())
    return ScenarioReport(pairs=pairs, by_scenario=by_scenario, by_users=by_users,
                          p_tests=tests)
