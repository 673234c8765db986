"""``msr``: the LLM4MSR-style remedy on the command line. A scenario prompt per scenario and a
user prompt per user go once through the encoder (cached in the workspace; ``--dry-run`` only
says how many, their tokens and the one-off cost), then a rescoring head conditioned on those
vectors reorders the baseline's top-C candidates, fitted on validation and judged on test,
beside the same head with learned ids (the control) and with random vectors (the check);
``--save`` lists the head and its control under the baseline run for ``remedies``."""

from __future__ import annotations

import math
from pathlib import Path

from analysis.cli.embed import encoder_config


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4f}"


def run_msr(args) -> int:
    from analysis.embeddings import EmbeddingStore
    from analysis.remedies.msr import (
        build_prompts,
        encode_knowledge,
        plan_knowledge,
        rescore_scenarios,
    )
    from analysis.runs.baseline import load_run
    from analysis.runs.store import RunStore
    from analysis.workspace import Workspace
    from models.encoders import make_encoder
    from models.rescorer import HeadConfig

    config = encoder_config(args)
    bars = args.bars
    bars("load", 0.0, args.run)
    run = load_run(args.run)
    workspace = Workspace(args.workspace or run.summary.source.workspace)
    store = EmbeddingStore(workspace)
    prompts = build_prompts(run.split, top_items=args.top_items, recent_items=args.recent_items)
    encoder = make_encoder(args.encoder, **config)
    if args.dry_run:
        plan = plan_knowledge(prompts, encoder, store, dataset_name=run.dataset.name,
                              tokens_per_s=args.tokens_per_s)
        bars.close(clear=True)
        print(f"dry run of the scenario and user knowledge of {run.dataset.name}: nothing "
              "encoded")
        for line in plan.lines():
            print(line)
        return 0
    bars("knowledge", 0.0, args.encoder)
    knowledge = encode_knowledge(prompts, encoder, store, run.dataset.name,
                                 tokens_per_s=args.tokens_per_s)
    bars("rescore", 0.0, "heads")
    head = HeadConfig(seed=args.seed, **({} if args.epochs is None else {"epochs": args.epochs}))
    result = rescore_scenarios(run, knowledge, config=head)
    bars.close(clear=True)
    for line in knowledge.plan.lines():
        print(f"planned: {line}")
    u = knowledge.usage
    print(f"knowledge: {knowledge.scenario.shape[0]} scenarios and {knowledge.user.shape[0]} "
          f"users x {knowledge.scenario.shape[1]} dims; encoded {u.texts} prompts "
          f"({u.tokens} tokens, {u.seconds:.2f} s), one-off ${knowledge.one_off_usd:.4f}")
    k = result.k
    print(f"heads fitted on {result.n_fit:,} validation users, epoch chosen on {result.n_check:,} "
          f"(baseline check ndcg@{k} {result.check_baseline_ndcg:.4f}): " + "; ".join(
              f"{h.head} epoch {h.best_epoch}, {h.check_ndcg:.4f}" + (
                  "" if h.unproven_epoch is None else
                  f" (epoch {h.unproven_epoch} scored higher, gain not established: baseline "
                  "order kept)")
              for h in result.heads.values()))
    print(f"per scenario, test ndcg@{k} of every user's list against their items of that "
          "scenario:")
    table = result.by_scenario.copy()
    for col in ("baseline", *result.heads):
        table[col] = table[col].map(_fmt)
    print(table.drop(columns="scenario").to_string(index=False))
    kn, ids = result.remedy_runs(run, args.target)
    nd = f"gain_ndcg@{k}"
    print(f"{args.target.replace('_', ' ')} users with test items ({len(kn.per_user):,}): "
          f"ndcg@{k} gain, knowledge {kn.per_user[nd].mean():+.4f}, ids "
          f"{ids.per_user[nd].mean():+.4f}, random check "
          f"{kn.summary.settings['random_check_test_gain']:+.4f}")
    if args.save:
        runs = RunStore(workspace)
        for remedy in (kn, ids):
            info = runs.save_remedy(remedy, Path(args.run).resolve().name, run.dataset)
            print(f"saved {remedy.summary.kind} as {info.run_id}")
    return 0
