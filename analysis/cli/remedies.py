"""Step 8's other remedies on the command line: ``blend`` a content score (item embeddings
from any encoder, cached in the workspace) into a baseline run's ranking for its weak users,
the weight chosen on validation and judged on test; ``remedies`` compares every remedy run
for a baseline run (:mod:`analysis.gains.remedies`)."""

from __future__ import annotations

import time
from pathlib import Path

from analysis.cli.embed import encoder_config


def run_and_items(args):
    """``(run, workspace, items)``: the baseline run of ``--run``, its workspace (``--workspace``
    or the one the run names) and its items' vectors from ``--encoder`` (cached there)."""
    from analysis.embeddings import EmbeddingStore, embed_items
    from analysis.runs.baseline import load_run
    from analysis.workspace import Workspace
    from models.encoders import make_encoder

    config = encoder_config(args)
    args.bars("load", 0.0, args.run)
    run = load_run(args.run)
    workspace = Workspace(args.workspace or run.summary.source.workspace)
    args.bars("embed", 0.0, args.encoder)
    items = embed_items(run.dataset, make_encoder(args.encoder, **config),
                        EmbeddingStore(workspace), max_chars=args.item_chars,
                        tokens_per_s=args.tokens_per_s)
    return run, workspace, items


def run_blend(args) -> int:
    from analysis.embeddings import encoder_label
    from analysis.remedies.content_blend import blend_content
    from analysis.runs.remedy import write_remedy_outputs

    bars = args.bars
    run, _, items = run_and_items(args)
    bars("blend", 0.0, args.target)
    started = time.perf_counter()
    blend = blend_content(run, items.vectors, target=args.target)
    bars.close(clear=True)
    if args.out:
        remedy = blend.remedy_run(encoder=items.encoder_id, uses_llm=items.uses_llm,
                                  one_off_usd=items.catalogue_cost_usd,
                                  wall_s=time.perf_counter() - started)
        write_remedy_outputs(remedy, args.out, run.dataset)
    ndcg = f"ndcg@{blend.k}"
    chosen = blend.grid.set_index("weight")[f"val_{ndcg}"]
    low, high = blend.gain_ci95
    before = blend.per_user[f"before_{ndcg}"].mean()
    after = blend.per_user[f"after_{ndcg}"].mean()
    print(f"content blend for the {args.target.replace('_', ' ')} users of {run.dataset.name} "
          f"({encoder_label(items.plan.encoder_id)}, {items.dim} dims)")
    print(f"weight {blend.weight:g} chosen on validation: mean {ndcg} {chosen[blend.weight]:.4f} "
          f"against {chosen[0.0]:.4f} for the baseline (weight 0), over "
          f"{int(blend.grid['n_users'].iloc[0]):,} users")
    if blend.unproven_weight is not None:
        w = blend.unproven_weight
        print(f"weight {w:g} scored higher on validation ({chosen[w]:.4f}) but its gain over "
              "the baseline was not established (95% paired interval reaches 0): the blend "
              "keeps the baseline's lists")
    print(f"on test, {len(blend.per_user):,} users: {ndcg} {before:.4f} -> {after:.4f}, gain "
          f"{blend.mean_gain_target:+.4f} (95% CI {low:+.4f} to {high:+.4f}); over all "
          f"{blend.n_evaluated:,} evaluated users {blend.mean_gain_all:+.5f}")
    print(f"cost: ${items.catalogue_cost_usd:.4f} one-off for the catalogue with this encoder, "
          "nothing per user or per request")
    if args.out:
        print(f"remedy written to {args.out} (compare: python -m analysis remedies --run "
              f"{args.run} --remedy {args.out})")
    return 0


def _saved_children(run, args) -> tuple[list, list]:
    """The rerank and remedy runs the run's workspace lists under this run (the app's)."""
    from analysis.runs.remedy import remedies_of_run
    from analysis.runs.store import RunStore
    from analysis.workspace import Workspace

    path = args.workspace or run.summary.source.workspace
    if not path or not Path(path).is_file():
        return [], []
    return remedies_of_run(RunStore(Workspace(path)), Path(args.run).resolve().name,
                           run.dataset)


def run_remedies(args) -> int:
    from analysis.gains.remedies import compare_remedies
    from analysis.runs.baseline import load_run
    from analysis.runs.remedy import load_remedy_run
    from analysis.runs.rerank import load_rerank_run

    args.bars("load", 0.0, args.run)
    run = load_run(args.run)
    reranks = [load_rerank_run(p) for p in args.rerank]
    remedies = [load_remedy_run(p, run.dataset) for p in args.remedy]
    saved_reranks, saved_remedies = _saved_children(run, args)
    cmp = compare_remedies(run, reranks=reranks + saved_reranks,
                           remedies=remedies + saved_remedies,
                           users_per_month=args.users_per_month,
                           refreshes_per_month=args.refreshes_per_month)
    args.bars.close(clear=True)
    print(f"remedies for the weak users of {run.dataset.name} ({run.model_name}, rule: "
          f"{cmp.rule}); test NDCG@{cmp.k}, costs at {args.users_per_month:,.0f} users a "
          f"month, {args.refreshes_per_month:g} refreshes each")
    shown = cmp.shown().set_index("remedy").T
    print(shown.to_string())
    print(cmp.verdict(args.target_gain))
    for note in dict.fromkeys(n for r in remedies + saved_remedies
                              if (n := r.summary.unproven_note())):
        print(note)
    return 0
