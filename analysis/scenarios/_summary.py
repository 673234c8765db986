"""A run's whole scenario analysis in one call (the CLI and the report), and the one line
``evaluate`` prints."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.scenarios._heatmap import ScenarioHeatmap, scenario_heatmap
from analysis.scenarios._pairs import pair_metrics
from analysis.scenarios._report import ScenarioReport, scenario_report
from analysis.scenarios._weak import WeakPairs, pair_rule, select_weak_pairs
from analysis.subgroups import MIN_GROUP_SIZE
from analysis.weak_users import WeakRule

__all__ = ["ScenarioAnalysis", "analyse_scenarios", "worst_scenario_line"]


@dataclass(frozen=True)
class ScenarioAnalysis:
    """Everything the scenario surfaces show for one run.

    Attributes:
        report: per-scenario and cross-scenario statistics.
        heatmap: scenario x ``by`` means (None when the run has no such dimension).
        weak: the weak pairs under the rule (None: no validation lists, imported run).
    """

    report: ScenarioReport
    heatmap: ScenarioHeatmap | None
    weak: WeakPairs | None


def analyse_scenarios(run, mode: str = "catalogue", *, by: str = "activity",
                      rule: WeakRule | None = None,
                      min_group_size: int | None = None) -> ScenarioAnalysis:
    """Pair metrics, report, heat map and weak pairs of a
    :class:`~analysis.runs.baseline.BaselineRun`.

    Args:
        run: the run (its dataset has scenarios).
        mode: ``catalogue`` or ``scenario`` list mode.
        by: the heat map's per-user dimension.
        rule: the weak-pair rule (default: the run's rule as a pair rule, :func:`pair_rule`).
        min_group_size: default the run's own.

    Raises:
        AnalysisError: no scenarios, an unknown mode or ``by``.
    """
    size = min_group_size or run.summary.min_group_size or MIN_GROUP_SIZE
    pairs = pair_metrics(run, mode)
    report = scenario_report(pairs, run.per_user, seed=run.summary.seed, min_group_size=size)
    heat = scenario_heatmap(pairs, run.per_user, by, min_group_size=size)
    weak = None
    if pairs.has_validation:
        base = rule or pair_rule(run.summary.weak_users.rule, run.k)
        inactive = None
        if base.require_inactive and "inactive" in run.per_user.columns:
            inactive = run.per_user["inactive"].reindex(pairs.table["user_idx"]).to_numpy(bool)
        weak = select_weak_pairs(pairs, base, inactive)
    return ScenarioAnalysis(report=report, heatmap=heat, weak=weak)


def worst_scenario_line(run) -> str | None:
    """``evaluate``'s line naming the worst reliable scenario by mean pair NDCG@k (catalogue
    lists, test split; no bootstrap), None when the dataset has no scenarios."""
    if not run.dataset.has_scenarios:
        return None
    pairs = pair_metrics(run, "catalogue", validation=False)
    size = run.summary.min_group_size or MIN_GROUP_SIZE
    r = scenario_report(pairs, run.per_user, n_boot=0, min_group_size=size).by_scenario
    metric = pairs.metric
    if r.worst_group is None:
        return (f"scenarios: {len(pairs.scenario_names)}, none with {size} or more (user, "
                f"scenario) pairs to name a worst one")
    best = r.by_group.loc[r.by_group["reliable"]].sort_values("mean").iloc[-1]
    return (f"worst scenario: {r.worst_group} ({metric} {r.group_min:.4f} per (user, "
            f"scenario) pair, catalogue lists) vs {best['group']} {best['mean']:.4f}; "
            f"`python -m analysis scenarios --run DIR` for the full report")
