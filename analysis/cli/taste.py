"""Taste categories on the command line: ``taste`` clusters a run's items (vectors from any
encoder, cached in the workspace, or the baseline's own item factors), prints each category
and reports the run's test NDCG@k across the two taste dimensions (dominant category, focus)
with the subgroup report's intervals, small-group rule and adjusted p-values."""

from __future__ import annotations

import math

from analysis.cli.embed import encoder_config


def _vectors(args, run):
    """The item vectors the flags name, and how to say where they came from."""
    if args.encoder == "factors":
        from analysis.subgroups.taste import run_item_vectors

        vectors = run_item_vectors(run, "factors")
        return vectors, f"{run.model_name} item factors ({vectors.shape[1]} dims)"
    from analysis.embeddings import EmbeddingStore, embed_items
    from analysis.workspace import Workspace
    from models.encoders import make_encoder

    config = encoder_config(args)
    workspace = Workspace(args.workspace or run.summary.source.workspace)
    items = embed_items(run.dataset, make_encoder(args.encoder, **config),
                        EmbeddingStore(workspace), max_chars=args.item_chars,
                        tokens_per_s=args.tokens_per_s)
    return items.vectors, f"{items.plan.encoder_id} ({items.dim} dims)"


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4f}"  # NaN: no interval (n_boot 0)


def run_taste(args) -> int:
    from analysis.runs.baseline import load_run
    from analysis.subgroups.taste import taste_categories, taste_subgroups

    bars = args.bars
    bars("load", 0.0, args.run)
    run = load_run(args.run)
    bars("embed", 0.0, args.encoder)
    vectors, source = _vectors(args, run)
    bars("cluster", 0.0, f"{args.categories} categories")
    ds = run.dataset
    taste = taste_categories(run.split.train, vectors, n_categories=args.categories,
                             seed=args.seed, items=ds.items, item_ids=ds.item_ids)
    metric = f"ndcg@{run.k}"
    weak = run.per_user["weak"].to_numpy(bool) if "weak" in run.per_user.columns else None
    min_size = run.summary.min_group_size or None
    kw = {"min_group_size": min_size} if min_size else {}
    out = taste_subgroups(run.per_user, taste, metric, weak=weak, seed=run.summary.seed, **kw)
    bars.close(clear=True)
    print(f"taste categories of {ds.name}: {taste.n_categories} by k-means (seed {args.seed}) "
          f"over {source}")
    for row in taste.table().itertuples():
        print(f"  {row.short_name}: {row.n_items:,} items, {row.popularity:,} training "
              f"interactions, dominant for {row.n_users_dominant:,} users; {row.name}")
    for report in out.reports:
        print(f"{report.dimension}: mean {metric} (95% CI) per group, weak share, n users "
              f"(groups under {report.min_group_size} users marked small)")
        for g in report.by_group.itertuples():
            small = "" if g.reliable else "  small"
            print(f"  {g.group}: {g.mean:.4f} ({_fmt(g.ci_low)} to {_fmt(g.ci_high)}), "
                  f"weak {g.weak_share:.0%}, n={g.size:,}{small}")
        if report.worst_group is not None:
            print(f"  worst group {report.worst_group}, gap {report.difference:.4f}, "
                  f"Kruskal-Wallis p = {report.kruskal_p:.3g}")
    tests = out.p_tests
    print("p-values adjusted over this family (Holm): " + "; ".join(
        f"{d} {p:.3g}" for d, p in zip(tests["dimension"], tests["p_holm"])))
    return 0
