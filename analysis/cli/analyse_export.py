"""``analyse-export``: an external recommender's export too big for memory, analysed in place
(:func:`analysis.external.analyse_export`): per-user metrics, subgroups, weak users and the
LLM bill of reranking them, written to a run folder and summarised on stdout.
"""

from __future__ import annotations

from analysis.errors import AnalysisError

BOTH_HELDOUT = "--validation-run and --validation-heldout go together; give both or neither."


def run_analyse_export(args) -> int:
    from analysis.external import ExportFiles, ScaleConfig, analyse_export
    from analysis.gains.cost import load_price_table

    if (args.validation_run is None) != (args.validation_heldout is None):
        raise AnalysisError(BOTH_HELDOUT)
    files = ExportFiles(
        test_run=args.test_run, test_heldout=args.test_heldout,
        validation_run=args.validation_run, validation_heldout=args.validation_heldout,
        history=args.history, users=args.users, items=args.items,
    )
    percentile = args.weak_percentile
    if args.weak_threshold is None and percentile is None:
        percentile = 20.0
    config = ScaleConfig(
        name=args.name, k=args.k, n_candidates=args.candidates, weak_metric=args.weak_metric,
        weak_percentile=percentile, weak_threshold=args.weak_threshold, seed=args.seed,
        min_group_size=args.min_group_size, model=args.model, batch=args.batch,
        block_users=args.block_users, memory_limit=args.memory_limit, threads=args.threads,
    )
    args.bars("analyse", 0.0, str(args.test_run))
    r = analyse_export(files, args.out, config, prices=load_price_table(args.prices))
    args.bars.close()
    k, metric = args.k, config.metric_column()
    ndcg, half = r.test.means[f"ndcg@{k}"], 1.96 * r.test.std_errors[f"ndcg@{k}"]
    print(f"{args.name}: {r.test.n_users:,} users, {r.test.n_evaluated:,} evaluated; "
          f"NDCG@{k} {ndcg:.4f} (± {half:.4f}), Recall@{k} {r.test.means[f'recall@{k}']:.4f}")
    wr = r.weak_vs_rest.by_group.set_index("group")
    share = r.n_weak / r.n_judged if r.n_judged else float("nan")
    print(f"weak users: {r.n_weak:,} of {r.n_judged:,} ({share:.1%}; "
          f"{'val_' if r.validation is not None else ''}{metric} <= {r.threshold:.4f}); "
          f"test {metric}: weak {_mean(wr, 'weak')}, rest {_mean(wr, 'rest')}")
    for rep in r.subgroups:
        if isinstance(rep.dimension, str) and rep.worst_group is not None:
            p = r.tests.set_index("dimension").loc[rep.dimension, "p_holm"]
            print(f"  {rep.dimension}: worst {rep.worst_group} {rep.group_min:.4f}, best "
                  f"{rep.group_max:.4f} (gap {rep.difference:.4f}, Holm p {p:.3g})")
    est = r.bill.estimate
    print(f"LLM dry run ({est.model}{', batch' if est.batch else ''}): {r.bill.n_prompts:,} "
          f"prompts, {r.bill.mean_input_tokens:,.0f} input tokens each (approximate); expected "
          f"${est.expected_usd:,.2f}, at most ${est.upper_bound_usd:,.2f} ({est.note})")
    for line in r.notes:
        print(line)
    print(f"wrote {args.out} in {sum(r.seconds.values()):.1f} s")
    return 0


def _mean(wr, group: str) -> str:
    if group not in wr.index:
        return "none"
    row = wr.loc[group]
    return f"{row['mean']:.4f} [{row['ci_low']:.4f}, {row['ci_high']:.4f}]"
