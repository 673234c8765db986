"""Step 8's other remedies on the command line: ``blend`` a content score (item embeddings
from any encoder, cached in the workspace) into a baseline run's ranking for its weak users,
the weight chosen on validation and judged on test."""

from __future__ import annotations

from analysis.cli.embed import encoder_config


def run_blend(args) -> int:
    from analysis.embeddings import EmbeddingStore, embed_items
    from analysis.remedies.content_blend import blend_content
    from analysis.runs.baseline import load_run
    from analysis.workspace import Workspace
    from models.encoders import make_encoder

    config = encoder_config(args)
    bars = args.bars
    bars("load", 0.0, args.run)
    run = load_run(args.run)
    workspace = Workspace(args.workspace or run.summary.source.workspace)
    bars("embed", 0.0, args.encoder)
    items = embed_items(run.dataset, make_encoder(args.encoder, **config),
                        EmbeddingStore(workspace), max_chars=args.item_chars,
                        tokens_per_s=args.tokens_per_s)
    bars("blend", 0.0, args.target)
    blend = blend_content(run, items.vectors, target=args.target)
    bars.close(clear=True)
    ndcg = f"ndcg@{blend.k}"
    chosen = blend.grid.set_index("weight")[f"val_{ndcg}"]
    low, high = blend.gain_ci95
    before = blend.per_user[f"before_{ndcg}"].mean()
    after = blend.per_user[f"after_{ndcg}"].mean()
    print(f"content blend for the {args.target.replace('_', ' ')} users of {run.dataset.name} "
          f"({items.plan.encoder_id}, {items.dim} dims)")
    print(f"weight {blend.weight:g} chosen on validation: mean {ndcg} {chosen[blend.weight]:.4f} "
          f"against {chosen[0.0]:.4f} for the baseline (weight 0), over "
          f"{int(blend.grid['n_users'].iloc[0]):,} users")
    print(f"on test, {len(blend.per_user):,} users: {ndcg} {before:.4f} -> {after:.4f}, gain "
          f"{blend.mean_gain_target:+.4f} (95% CI {low:+.4f} to {high:+.4f}); over all "
          f"{blend.n_evaluated:,} evaluated users {blend.mean_gain_all:+.5f}")
    print(f"cost: ${items.catalogue_cost_usd:.4f} one-off for the catalogue with this encoder, "
          "nothing per user or per request")
    return 0
