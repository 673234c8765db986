"""Steps 7-8 on the command line: ``rerank`` a baseline run's weak users (or its dry run),
then print the gains, the net gain over the no-LLM controls and the spend."""

from __future__ import annotations

import argparse
import sys

from analysis.cli.console import EXIT_INCOMPLETE
from analysis.cli.evaluate import weak_rule_from
from analysis.errors import AnalysisError


def backend_choice(args):
    """The backend the flags name, with their options (one builder with the app's: see
    :mod:`analysis.rerank.settings`)."""
    from analysis.rerank.settings import BackendChoice

    return BackendChoice(
        args.backend,
        args.model,
        base_url=args.base_url,
        batch=args.batch,
        prompt_cache=args.prompt_cache,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        gpu_usd_per_hour=args.gpu_usd_per_hour,
    )


def run_rerank(args) -> int:
    from analysis.gains.cost import load_price_table
    from analysis.rerank.budget import SpendLedger
    from analysis.rerank.cache import CallCache
    from analysis.rerank.execute import execute_rerank
    from analysis.rerank.plan import plan_rerank
    from analysis.rerank.settings import estimate_backend, make_rerank_backend, rerank_config
    from analysis.runs.baseline import load_run
    from analysis.runs.rerank import write_rerank_outputs
    from analysis.workspace import Workspace

    if not args.dry_run and not args.out:
        raise AnalysisError("rerank needs --out DIR (or --dry-run to only see the estimate).")
    bars = args.bars
    bars("load", 0.0, args.run)
    run = load_run(args.run)
    workspace = Workspace(args.workspace or run.summary.source.workspace)
    rule_args = argparse.Namespace(
        weak_preset=args.preset,
        paper_tp=args.paper_tp,
        paper_auc=args.paper_auc,
        weak_metric=args.metric or ("ndcg" if run.summary.is_imported else "auc"),
        weak_threshold=args.threshold,
        weak_percentile=args.percentile,
        weak_inactive=args.inactive,
    )
    choice = backend_choice(args)
    cfg = rerank_config(
        choice,
        weak_rule_from(rule_args, run.k),
        protocol=args.protocol,
        n_candidates=args.candidates,
        history=args.history,
        template=args.template,
        item_chars=args.item_chars,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        mode=args.mode,
        budget_usd=args.budget_usd,
        seed=args.seed,
        pilot_users=args.pilot,
        negatives=args.negatives,
        taste=args.taste,
        taste_params=({"n_categories": args.taste_categories, "source": args.taste_source}
                      if args.taste != "off" else {}),
    )
    prices = load_price_table(args.prices)
    # a dry run needs no key: without one it counts tokens approximately
    backend = estimate_backend(choice) if args.dry_run else make_rerank_backend(choice)
    cache = CallCache(workspace)
    from analysis.gains.sampled import population_bill

    bars("plan", 0.0, "prompts and estimate")
    plan = plan_rerank(run, cfg, backend, cache, prices)
    bars.close()
    est = plan.estimate
    if cfg.protocol == "paper":
        from analysis.gains.controls import PAPER_PROTOCOL_NOTE

        print(PAPER_PROTOCOL_NOTE)
    pilot = len(plan.users) < plan.n_population
    sample = f"a pilot of {len(plan.users):,} of them, " if pilot else ""
    print(
        f"weak users: {plan.n_weak_all:,} ({plan.weak.rule.metric} <= "
        f"{plan.weak.threshold_value:.4f} on validation); a deployment pays for all of them "
        f"(~${plan.deployment_usd:,.4f} expected); {plan.n_population:,} have test items and "
        f"are sent and evaluated here ({sample}{plan.n_weak_without_test:,} without)"
    )
    print_bracket(plan.controls)
    print(
        f"answers already in the workspace cache: {est.n_cached:,}; calls to make: {est.n_calls:,}"
    )
    exactness = "exact" if est.exact_tokens else "approximate"
    if plan.token_count_note:
        exactness = f"approximate: {plan.token_count_note}"
    elif plan.calibration is not None:
        exactness = f"approximate: {plan.calibration.describe()}"
    print(
        f"input tokens: {est.input_tokens:,} ({exactness})"
        f"; output tokens: ~{est.expected_output_tokens:,} expected, at most "
        f"{est.max_output_tokens:,}"
    )
    print(
        f"estimated cost: ${est.expected_usd:,.4f} expected, ${est.upper_bound_usd:,.4f} at "
        f"most (${est.per_user_usd:,.5f} per user; {est.note})"
    )
    try:  # a model without a price (a local server) gets no projection, not an error
        bill = population_bill(run, plan, None if cfg.local else prices.price(cfg.model),
                               batch=cfg.batch)
    except AnalysisError:
        bill = None
    if bill is not None:  # a sampled run: what every user's weak users would cost
        w, usd = bill.weak, bill.usd
        print(f"sampled run ({bill.n_sampled:,} of {bill.n_frame:,} users): every user's weak "
              f"users ~{w.value:,.0f} (95% CI {w.low:,.0f} to {w.high:,.0f}), reranking them "
              f"~${usd.value:,.2f} (95% CI ${usd.low:,.2f} to ${usd.high:,.2f})")
    for row in plan.history_tokens.itertuples():
        mark = " (chosen)" if row.chosen else ""
        print(f"  history {row.strategy}: ~{row.prompt_tokens:,.0f} prompt tokens per user{mark}")
    ledger = SpendLedger(workspace)
    job = ledger.job(plan.job_key) if ledger.has_jobs(cfg.backend, cfg.model) else None
    if job is not None:
        cap = "no cap" if job.cap_usd is None else f"its cap ${job.cap_usd:,.4f}"
        print(f"this job has run before: ${job.spent_before_usd:,.4f} charged or reserved "
              f"so far, {cap} (a run without --budget-usd keeps it)")
    if args.dry_run:
        return 0

    def show(now) -> None:
        eta = "" if now.eta_s is None else f", ~{now.eta_s:,.0f} s left"
        bars(
            "rerank",
            now.done / max(now.total, 1),
            f"{now.done}/{now.total} users, {now.fallen_back} fell back, ${now.usd:,.4f}{eta}"
            + (f", {now.batches_note}" if now.batches_note else ""),
        )

    result = execute_rerank(plan, run, backend, cache, prices, progress=show)
    bars.close()
    write_rerank_outputs(result, args.out)
    return print_rerank_result(result, args, run.k)


def print_bracket(controls) -> None:
    """The free bracket of any LLM's gain: the controls below, the ceiling above."""
    from analysis.gains.controls import bracket

    bounds = bracket(controls)
    print(
        f"gain bracket on these candidates (NDCG@{controls.k}, free): baseline order "
        f"{bounds['baseline']:.4f}; best no-LLM control ({bounds['best']}) "
        f"{bounds['best_value']:.4f}; "
        f"ceiling (perfect order of the top C) {bounds['ceiling']:.4f}"
    )


def _count(n: int | None) -> str:
    """A count, or ``not recomputed`` where a figure after reranking is unknown."""
    return "not recomputed" if n is None else f"{n:,}"


def print_rerank_result(result, args, k: int) -> int:
    """The rerank's headline lines; exit 0 when every weak user got an answer, else
    :data:`EXIT_INCOMPLETE` with the reason as the last line."""
    summary = result.summary
    gains = summary.gains
    ndcg = f"ndcg@{k}"
    print(
        f"reranked {summary.n_reranked:,} of {summary.n_requests:,} weak users "
        f"({summary.n_cached:,} answers from cache); fell back: {summary.fallback or 'none'}"
    )
    print(
        f"{ndcg} gain of the reranked weak users {gains['mean_gain_selected'][ndcg]:+.4f}; "
        f"all users "
        f"{gains['mean_before'][ndcg]:.4f} -> {gains['mean_after'][ndcg]:.4f}; Wilcoxon p = "
        f"{gains['wilcoxon_p']:.3g}"
    )
    net = summary.net_gain
    low, high = net["ci95"]
    print(
        f"net of the best no-LLM control ({net['control']}) on the same candidates: "
        f"{net['mean']:+.4f} per weak user (95% CI {low:+.4f} to {high:+.4f}"
        f"{', includes zero' if net['ci_includes_zero'] else ''}), Wilcoxon p = "
        f"{net['wilcoxon_p']:.3g}; ceiling {net['means'].get('oracle', float('nan')):.4f}"
    )
    pilot = summary.pilot
    if pilot:
        projected = pilot["projected"]
        print(
            f"pilot of {pilot['n_sample']:,} of {pilot['n_population']:,} weak users with test "
            f"items: all of them would move mean {ndcg} by "
            f"{projected['net_gain_over_all_users']:+.4f} "
            f"net (95% CI {projected['ci95'][0]:+.4f} to {projected['ci95'][1]:+.4f}) for about "
            f"${projected['cost_all_weak_usd']:,.4f} ({pilot['n_weak_all']:,} weak users); "
            f"{pilot['verdict']}"
        )
    remaining = gains["weak_remaining"]
    print(
        f"weak on test ({remaining['metric']} <= {remaining['threshold']:.4f}): "
        f"{remaining['selected_before']:,} "
        f"-> {_count(remaining['selected_after'])} of the reranked users"
    )
    spend = summary.spend
    cap = "no cap" if spend["cap_usd"] is None else f"cap ${spend['cap_usd']:,.4f}"
    print(
        f"spent ${summary.usd_spent_this_job:,.4f} in this run over {spend['attempts']:,} attempts "
        f"(job total ${spend['job_total_usd']:,.4f}, {cap}; "
        f"${summary.usd_total_including_cached:,.4f} with cached answers); "
        f"wrote {args.out} in {summary.wall_s:.1f} s"
    )
    if summary.status == "complete":
        return 0
    left = spend["n_without_answer"]
    why = spend["stopped"] or "their calls failed after every retry (see rerank_calls.csv)"
    print(
        f"incomplete: {left:,} of {summary.n_requests:,} weak users have no answer and keep the "
        f"baseline ranking. {why}".replace("Raise the budget", "Raise --budget-usd"),
        file=sys.stderr,
    )
    return EXIT_INCOMPLETE
