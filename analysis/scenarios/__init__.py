"""Per-scenario analysis (issue 14): each user's metrics within each scenario they have
held-out items in, the scenario as a subgroup dimension, cross-scenario against
single-scenario users, weak (user, scenario) pairs chosen on validation, and a heat map of
scenario by user subgroup.

* :func:`pair_metrics` / :func:`compute_pair_metrics` (``_pairs``): the pair table, in the
  ``catalogue`` or ``scenario`` list mode (``docs/metrics.md``, "Scenarios").
* :func:`scenario_report` (``_report``): subgroup statistics by scenario and by
  ``scenario_users``, p-values adjusted with the run's other dimensions.
* :class:`WeakPairSelector` / :func:`select_weak_pairs` (``_weak``): the weak-user rule per
  pair, on validation only.
* :func:`scenario_heatmap` (``_heatmap``): scenario x user subgroup means with counts.
* :func:`worst_scenario_line` (``_summary``): the one line the CLI's evaluate prints.
"""

from analysis.scenarios._heatmap import ScenarioHeatmap, scenario_heatmap
from analysis.scenarios._pairs import (
    MODES,
    NO_SCENARIOS,
    ScenarioPairs,
    compute_pair_metrics,
    pair_metrics,
    scenario_items,
    scenario_users,
    validation_rankings,
)
from analysis.scenarios._report import (
    SCENARIO_DIMENSION,
    USERS_DIMENSION,
    ScenarioReport,
    scenario_report,
    with_scenario_users,
)
from analysis.scenarios._summary import ScenarioAnalysis, analyse_scenarios, worst_scenario_line
from analysis.scenarios._weak import (
    NO_VALIDATION_LISTS,
    WeakPairs,
    WeakPairSelector,
    pair_rule,
    select_weak_pairs,
)

__all__ = [
    "MODES",
    "NO_SCENARIOS",
    "NO_VALIDATION_LISTS",
    "SCENARIO_DIMENSION",
    "USERS_DIMENSION",
    "ScenarioAnalysis",
    "ScenarioHeatmap",
    "ScenarioPairs",
    "ScenarioReport",
    "WeakPairSelector",
    "WeakPairs",
    "analyse_scenarios",
    "compute_pair_metrics",
    "pair_metrics",
    "pair_rule",
    "scenario_heatmap",
    "scenario_items",
    "scenario_report",
    "scenario_users",
    "select_weak_pairs",
    "validation_rankings",
    "with_scenario_users",
    "worst_scenario_line",
]
