"""``sasrec-emb``: SASRec whose item table comes from item text embeddings (LLMEmb) against the
same SASRec with a random table, for a baseline run's weak users: per-subgroup and weak-user
NDCG@k beside the run's own, long-tail exposure and hit rate, the one-off embedding cost;
``--save`` lists both remedy runs under the baseline run."""

from __future__ import annotations

import math
from pathlib import Path

from analysis.cli.remedies import run_and_items

_NAMES = {"reference": "run", "sasrec_random": "SASRec random", "sasrec_text": "SASRec text"}


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4f}"  # NaN: no user


def run_sasrec_emb(args) -> int:
    from analysis.embeddings import encoder_label
    from analysis.remedies.text_init import MODELS, sasrec_text_remedy
    from analysis.runs.store import RunStore

    bars = args.bars
    run, workspace, items = run_and_items(args)
    params = {} if args.epochs is None else {"epochs": args.epochs}
    result = sasrec_text_remedy(
        run, items.vectors, encoder_id=items.plan.encoder_id, uses_llm=items.uses_llm,
        one_off_usd=items.catalogue_cost_usd, params=params, text_table=args.text_table,
        target=args.target, progress=lambda f, m: bars("sasrec", f, m))
    bars.close(clear=True)
    k, who = result.k, args.target.replace("_", " ")
    s = result.text.summary
    print(f"SASRec with its item table from {encoder_label(items.plan.encoder_id)} "
          f"({args.text_table}) vs "
          f"random, {run.dataset.name}, reference run {run.model_name} "
          f"(epochs {s.settings['epochs']}, factors {s.settings['factors']}, seed {s.seed}; "
          f"PCA keeps {s.settings['pca_explained']:.1%} of the text variance)")
    header = ["dimension", "group", "users", *(f"{_NAMES[m]} ndcg@{k}" for m in MODELS)]
    rows = [[str(r.dimension), str(r.group), f"{r.n_users:,}",
             *(_fmt(getattr(r, f"{m}_ndcg@{k}".replace("@", "_"), float("nan"))) for m in MODELS)]
            for r in result.by_subgroup.rename(columns=lambda c: c.replace("@", "_")).itertuples()]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    for line in [header, *rows]:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(line, widths, strict=True))))
    means = "; ".join(f"{_NAMES[m]} {_fmt(result.mean(m, 'target'))}" for m in MODELS)
    print(f"{who} users with test items ({len(result.text.per_user):,}): ndcg@{k} {means}; "
          f"gain of text over the run {result.text.mean_gain():+.4f}, of random "
          f"{result.random.mean_gain():+.4f}")
    for _, r in result.long_tail.iterrows():
        print(f"long tail, {_NAMES[r['model']]}, {r['users']}: exposure {_fmt(r['exposure'])}, "
              f"hit rate {_fmt(r['hit_rate'])} ({r['n_users_with_tail_truth']:,} users with a "
              "long-tail test item)")
    fit = result.fit_seconds
    print(f"fit: text {fit['sasrec_text']:.1f} s, random {fit['sasrec_random']:.1f} s")
    print(f"cost: ${items.catalogue_cost_usd:.4f} one-off for the catalogue with this encoder, "
          "nothing per user or per request")
    if args.save:
        store = RunStore(workspace)
        for remedy in (result.text, result.random):
            info = store.save_remedy(remedy, Path(args.run).resolve().name, run.dataset)
            print(f"saved {remedy.summary.kind} as {info.run_id}")
    return 0
