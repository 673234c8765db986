"""``scenarios``: a run's per-scenario report on the command line: pair NDCG@k per scenario
with intervals, the worst reliable scenario, cross- against single-scenario users, the heat
map's worst cell and the weak (user, scenario) pairs chosen on validation."""

from __future__ import annotations

import math


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4f}"


def _rule(args, run):
    from analysis.scenarios import pair_rule
    from analysis.weak_users import WeakRule

    metric = f"ndcg@{run.k}"
    if args.weak_threshold is not None:
        return WeakRule(metric=metric, threshold=args.weak_threshold)
    if args.weak_percentile is not None:
        return WeakRule(metric=metric, percentile=args.weak_percentile)
    return pair_rule(run.summary.weak_users.rule, run.k)


def run_scenarios(args) -> int:
    from analysis.runs.baseline import load_run
    from analysis.scenarios import analyse_scenarios

    bars = args.bars
    bars("load", 0.0, args.run)
    run = load_run(args.run)
    bars("scenarios", 0.0, args.mode)
    a = analyse_scenarios(run, args.mode, by=args.by, rule=_rule(args, run),
                          min_group_size=args.min_group_size)
    bars.close(clear=True)
    r = a.report
    metric = r.pairs.metric
    lists = ("the run's own top-k (catalogue)" if r.mode == "catalogue" else
             "the top-C candidates of the scenario's items, first k (scenario)")
    print(f"{run.dataset.name}: {len(r.pairs.scenario_names)} scenarios, "
          f"{len(r.pairs.table):,} (user, scenario) pairs; lists: {lists}")
    for title, rep in (("per scenario", r.by_scenario), ("cross vs single", r.by_users)):
        print(f"{title}: mean {metric} (95% CI), n (under {rep.min_group_size} marked small)")
        for g in rep.by_group.itertuples():
            print(f"  {g.group}: {g.mean:.4f} ({_fmt(g.ci_low)} to {_fmt(g.ci_high)}), "
                  f"n={g.size:,}{'' if g.reliable else '  small'}")
    tests = r.p_tests.set_index("dimension")
    worst = r.worst_scenario
    print("worst reliable scenario: " + ("none (every scenario is small)" if worst is None else
          f"{worst}, gap {r.by_scenario.difference:.4f}, Kruskal-Wallis p "
          f"{r.by_scenario.kruskal_p:.3g} (Holm over {int(tests['family_size'].iloc[0])} "
          f"tests: {tests.loc['scenario', 'p_holm']:.3g})"))
    if a.heatmap is not None and a.heatmap.worst is not None:
        s, g = a.heatmap.worst
        cell = a.heatmap.table.set_index(["scenario", "group"]).loc[(s, g)]
        print(f"worst cell of scenario x {args.by}: {s} x {g} ({cell['mean']:.4f}, "
              f"n={int(cell['size']):,})")
    if a.weak is None:
        print("weak pairs: none chosen (no validation lists: an imported run)")
    else:
        w = a.weak
        sel = w.selection
        print(f"weak pairs: {w.n_weak:,} of {w.n_pairs - w.n_unselectable:,} with validation "
              f"items ({w.n_unselectable:,} cannot be selected); val {sel.rule.metric} <= "
              f"{sel.threshold_value:.4f}; test {sel.rule.metric} {_fmt(sel.test_mean_weak)} "
              f"vs {_fmt(sel.test_mean_rest)} for the other pairs")
        if sel.ties_note:
            print(sel.ties_note)
    return 0
