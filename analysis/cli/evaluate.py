"""Steps 2-6 on the command line: ``evaluate`` (split, fit, per-user metrics, subgroups, weak
users) writes a baseline run's folder; the weak-user rule from its flags."""

from __future__ import annotations

import time
from pathlib import Path

from analysis.cli.data import ingest_as, intersect_pairs, open_workspace, parse_kv
from analysis.cli.parser import RULE_METRICS
from analysis.errors import AnalysisError

PAPER_FLAGS_ALONE = (
    "--paper-tp and --paper-auc set the paper preset: add --weak-preset paper "
    "(rerank: --preset paper), or drop them."
)


def weak_rule_from(args, k: int):
    from analysis.weak_users import DEFAULT_PERCENTILE, WeakRule

    paper_tp, auc = getattr(args, "paper_tp", None), getattr(args, "paper_auc", None)
    if args.weak_preset == "paper":
        return WeakRule.paper(0.5 if paper_tp is None else paper_tp, auc or "all")
    if paper_tp is not None or auc is not None:
        raise AnalysisError(PAPER_FLAGS_ALONE)
    metric = f"ndcg@{k}" if args.weak_metric == "ndcg" else RULE_METRICS[args.weak_metric]
    if args.weak_threshold is not None:
        return WeakRule(
            metric=metric, threshold=args.weak_threshold, require_inactive=args.weak_inactive
        )
    pct = DEFAULT_PERCENTILE if args.weak_percentile is None else args.weak_percentile
    return WeakRule(metric=metric, percentile=pct, require_inactive=args.weak_inactive)


def sample_from(args):
    """The stratified user sample of ``--sample-size``/``--sample-fraction`` (None: all users)."""
    from analysis.subgroups.sampling import SampleConfig

    size, fraction = getattr(args, "sample_size", None), getattr(args, "sample_fraction", None)
    if size is None and fraction is None:
        return None
    by = tuple(d.strip() for d in str(args.sample_by).split(",") if d.strip())
    seed = args.seed if args.sample_seed is None else args.sample_seed
    return SampleConfig(size=size, fraction=fraction, by=by, seed=seed)


def print_sample(result) -> None:
    """How many users were sampled and how wide the design-based intervals are."""
    s = result.sample
    if s is None:
        return
    o, w, cfg = s.overall, s.weak_users, s.sample.config
    print(
        f"sample: {s.sample.n_sampled:,} of {s.sample.n_frame:,} users "
        f"({s.sample.n_sampled / max(s.sample.n_frame, 1):.1%}) in {len(s.sample.strata)} strata "
        f"by {','.join(cfg.by)}, seed {cfg.seed}; 95% design-based intervals"
    )
    print(
        f"{s.metric} {o.value:.4f} [{o.low:.4f}, {o.high:.4f}] (+-{o.half_width:.4f}); "
        f"subgroup intervals +-{s.group_half_width_median:.4f} median, "
        f"+-{s.group_half_width_max:.4f} widest"
    )
    print(
        f"weak users projected to all users: {w.value:,.0f} [{w.low:,.0f}, {w.high:,.0f}] "
        f"({s.n_weak_sampled:,} in the sample)"
    )


def run_evaluate(args) -> int:
    from analysis.ingest import load_dataset
    from analysis.pipeline import EvaluateConfig, run_pipeline
    from analysis.runs.baseline_folder import write_run_outputs

    bars = args.bars
    started = time.perf_counter()
    if args.interactions:
        name = args.name or Path(args.interactions).name.split(".")[0] or "dataset"
        bars("ingest", 0.0, args.interactions)
        ingest_as(args, name)
    else:
        name = args.dataset
    bars("load", 0.0, name)
    dataset = load_dataset(open_workspace(args), name)
    t_load = time.perf_counter() - started
    config = EvaluateConfig(
        model=args.model,
        model_params=parse_kv(args.param, "--param"),
        k=args.k,
        n_candidates=args.candidates,
        split=args.split,
        split_params=parse_kv(args.split_param, "--split-param"),
        seed=args.seed,
        weak_rule=weak_rule_from(args, args.k),
        **({} if args.intersect is None else {"intersections": intersect_pairs(args.intersect)}),
        sample=sample_from(args),
    )
    result = run_pipeline(dataset, config, progress=bars)
    result.timings["ingest_and_load"] = t_load
    bars.close()
    result.timings["total"] = time.perf_counter() - started
    workspace = open_workspace(args)
    write_run_outputs(
        result,
        args.out,
        workspace=None if workspace.in_memory else str(Path(workspace.path).resolve()),
        command=args.argv,
    )
    overall = result.evaluation.overall()
    k = args.k
    print(
        f"{name}: {dataset.n_users:,} users, {dataset.n_items:,} items, "
        f"{dataset.n_interactions:,} interactions; model {args.model}, split {args.split}"
    )
    print(
        f"NDCG@{k} {overall[f'ndcg@{k}']:.4f}  Recall@{k} {overall[f'recall@{k}']:.4f}  "
        f"AUC {overall['auc']:.4f}  evaluated users {overall['n_evaluated']:,} "
        f"(excluded {overall['n_excluded']:,} without test items"
        f"{' or not sampled' if result.sample is not None else ''})"
    )
    weak = result.weak
    print(
        f"weak users: {weak.n_weak:,} ({weak.share:.1%}; {weak.rule.metric} <= "
        f"{weak.threshold_value:.4f} "
        f"on validation), test {weak.rule.metric} {weak.test_mean_weak:.4f} "
        f"vs {weak.test_mean_rest:.4f} for the rest"
    )
    if weak.ties_note:
        print(weak.ties_note)
    print_sample(result)
    if dataset.has_scenarios:  # issue 14: the worst scenario (analysis.scenarios)
        from analysis.scenarios import worst_scenario_line

        print(worst_scenario_line(result.run))
    print(f"wrote {args.out} in {result.timings['total']:.1f} s")
    return 0
