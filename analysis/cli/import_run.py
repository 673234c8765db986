"""Step 3's alternative on the command line: ``import-run`` reads an external recommender's
rankings (TREC, CSV or Parquet), judges them against the workspace dataset's held-out items
and writes a baseline run folder that ``rerank``, ``remedies`` and the report take as they are.
"""

from __future__ import annotations

import time
from pathlib import Path

from analysis.cli.data import intersect_pairs, open_workspace, parse_kv
from analysis.cli.evaluate import weak_rule_from


def run_import_run(args) -> int:
    from analysis.external import ImportConfig, RunColumns, import_run
    from analysis.ingest import load_dataset
    from analysis.runs.baseline_folder import write_run_outputs

    bars = args.bars
    started = time.perf_counter()
    bars("load", 0.0, args.dataset)
    workspace = open_workspace(args)
    dataset = load_dataset(workspace, args.dataset)
    rule = None
    if any(v is not None for v in (args.weak_threshold, args.weak_percentile)) or \
            args.weak_metric != "ndcg" or args.weak_inactive:
        rule = weak_rule_from(args, args.k)
    config = ImportConfig(
        name=args.name,
        fmt=args.fmt,
        columns=RunColumns(args.user_col, args.item_col, args.rank_col, args.score_col),
        k=args.k,
        n_candidates=args.candidates,
        split=args.split,
        split_params=parse_kv(args.split_param, "--split-param"),
        seed=args.seed,
        weak_rule=rule,
        selection="random_half" if args.selection_half else "validation",
        **({} if args.intersect is None else {"intersections": intersect_pairs(args.intersect)}),
    )
    bars("import", 0.0, args.test)
    result = import_run(dataset, args.test, args.validation, config,
                        heldout_test=args.heldout, heldout_validation=args.heldout_validation)
    bars.close()
    result.timings["total"] = time.perf_counter() - started
    write_run_outputs(
        result,
        args.out,
        workspace=None if workspace.in_memory else str(Path(workspace.path).resolve()),
        command=args.argv,
    )
    for line in result.notes:
        print(line)
    overall = result.evaluation.overall()
    k = args.k
    print(
        f"{args.name} on {dataset.name}: NDCG@{k} {overall[f'ndcg@{k}']:.4f}  "
        f"Recall@{k} {overall[f'recall@{k}']:.4f}  evaluated users "
        f"{overall['n_evaluated']:,} (excluded {overall['n_excluded']:,})"
    )
    weak = result.weak
    print(
        f"weak users: {weak.n_weak:,} ({weak.share:.1%}; {weak.rule.metric} <= "
        f"{weak.threshold_value:.4f}); rerank them with: python -m analysis rerank --run "
        f"{args.out} --metric {'ndcg' if weak.rule.metric.startswith('ndcg') else 'auc-heldout'}"
        f" --threshold {weak.threshold_value:.6g} ..."
    )
    print(f"wrote {args.out} in {result.timings['total']:.1f} s")
    return 0
