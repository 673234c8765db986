"""Command line: ``python -m analysis {synth,ingest,datasets,evaluate,rerank} ...``.

A user error prints one line (``error: ...``, the message with the CLI's flag hints, see
:func:`analysis.errors.surface_hints`) on stderr and exits with code 2, never a traceback; a
rerank that left weak users without an answer exits with 3, its reason last. Long steps show
a progress bar on stderr (``--quiet`` hides it).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from analysis.errors import AnalysisError

EXIT_USER_ERROR = 2
#: a rerank that left weak users without an answer (the cap, failures): outputs written
EXIT_INCOMPLETE = 3

NAME_TAKEN_CLI = (
    "A dataset named {name!r} already exists in this workspace; pass --replace to replace "
    "it, --name to pick another name{reuse}."
)


class _ArgParser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see: {self.prog} --help)\n")
        raise SystemExit(EXIT_USER_ERROR)


class _Warnings:
    """Library warnings (``logging`` records at WARNING and above, ``warnings.warn``) said
    once each on stderr as ``warning: ...``: a repeat of the same warning is counted, not
    printed, and the count is said in one line when the command ends, before its error
    line, so a failing command's error stays the last line it prints."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], int] = {}
        self.first: dict[tuple[str, str], str] = {}
        self.handler = logging.Handler(logging.WARNING)
        self.handler.emit = self._emit  # type: ignore[method-assign]
        self._showwarning = warnings.showwarning

    def __enter__(self) -> Self:
        logging.getLogger().addHandler(self.handler)
        warnings.showwarning = self._show
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self.handler)
        warnings.showwarning = self._showwarning

    def _say(self, key: tuple[str, str], text: str) -> None:
        n = self.seen.get(key, 0)
        self.seen[key] = n + 1
        if n == 0:
            self.first[key] = " ".join(text.split())
            print(f"warning: {self.first[key]}", file=sys.stderr)

    def _emit(self, record: logging.LogRecord) -> None:
        self._say((record.name, str(record.msg)), record.getMessage())

    def _show(self, message, category, filename, lineno, file=None, line=None) -> None:
        self._say((category.__name__, str(message)), str(message))

    def flush(self) -> None:
        """Say how often each repeated warning came back (once per warning)."""
        for key, n in self.seen.items():
            if n > 1:
                like = self.first[key]
                like = like if len(like) <= 60 else like[:57] + "..."
                print(f"warning: {n - 1:,} more like '{like}' not shown", file=sys.stderr)
        self.seen = {k: 1 for k in self.seen}


class _Bars:
    """One tqdm bar per stage, on stderr, when stderr is a terminal (and not ``--quiet``)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet or not sys.stderr.isatty()
        self.bar = None
        self.stage = None

    def __call__(self, stage: str, fraction: float, message: str) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if stage != self.stage:
            self.close()
            if stage == "done":
                return
            self.stage = stage
            self.bar = tqdm(
                total=1000,
                desc=stage,
                file=sys.stderr,
                leave=True,
                bar_format="{desc:<10} {percentage:3.0f}%|{bar:30}| {elapsed} {postfix}",
            )
        self.bar.n = int(round(1000 * max(0.0, min(1.0, fraction))))
        self.bar.set_postfix_str(message, refresh=False)
        self.bar.refresh()

    def close(self, clear: bool = False) -> None:
        if self.bar is not None:
            if clear:
                self.bar.leave = False
            self.bar.close()
            self.bar = None
        self.stage = None


def _add_workspace(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workspace",
        metavar="PATH",
        default=None,
        help="DuckDB workspace file (default: $WEAKSPOT_WORKSPACE or data/workspace.duckdb)",
    )


def _add_ingest_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--users", metavar="PATH", help="optional user attributes file")
    p.add_argument("--items", metavar="PATH", help="optional items file (title, genres)")
    p.add_argument(
        "--format",
        dest="fmt",
        default="auto",
        choices=["auto", "csv", "tsv", "parquet", "movielens"],
    )
    p.add_argument("--delimiter", help="field separator of a CSV/TSV file (default: detect)")
    p.add_argument("--user-col", help="name of the user id column (default: auto-detect)")
    p.add_argument("--item-col", help="name of the item id column (default: auto-detect)")
    p.add_argument("--rating-col", help="name of the rating or count column (default: auto-detect)")
    p.add_argument("--timestamp-col", help="name of the timestamp column (default: auto-detect)")
    p.add_argument(
        "--value-kind",
        default="auto",
        choices=["auto", "explicit", "count", "implicit"],
        help="what the rating column holds",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=4.0,
        help="explicit ratings >= this are relevant (default 4)",
    )
    p.add_argument("--kcore", type=int, default=0, help="keep only a k-core (default 0: off)")


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgParser(
        prog="python -m analysis", description="Weakspot: find the users a recommender fails."
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_ArgParser)

    p = sub.add_parser("synth", help="write a synthetic dataset (Parquet)")
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--items", type=int, default=2000)
    p.add_argument("--mean-interactions", type=float, default=20.0)
    p.add_argument("--niche-share", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="PATH")

    p = sub.add_parser("ingest", help="load a dataset into the workspace")
    p.add_argument("--interactions", required=True, metavar="PATH")
    p.add_argument("--name", required=True)
    p.add_argument("--replace", action="store_true", help="replace a dataset of the same name")
    _add_ingest_options(p)
    _add_workspace(p)

    p = sub.add_parser("datasets", help="list, rename or delete workspace datasets")
    p.add_argument("action", nargs="?", default="list", choices=["list", "rename", "delete"])
    p.add_argument("names", nargs="*")
    _add_workspace(p)

    p = sub.add_parser("evaluate", help="train a baseline and measure every user")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--interactions", metavar="PATH", help="file, folder or zip to ingest")
    src.add_argument("--dataset", metavar="NAME", help="a dataset already in the workspace")
    p.add_argument("--name", help="workspace name for --interactions (default: file name)")
    p.add_argument(
        "--replace", action="store_true", help="replace a dataset of the same name (--interactions)"
    )
    _add_ingest_options(p)
    _add_workspace(p)
    p.add_argument("--model", default="als", choices=["als", "bpr", "lmf", "itemknn", "pop"])
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model hyperparameter, repeatable (e.g. --param factors=128)",
    )
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--candidates", type=int, default=20, help="candidate list length C")
    p.add_argument("--split", default="temporal", choices=["temporal", "random", "global"])
    p.add_argument(
        "--split-param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="split parameter, repeatable (e.g. --split-param n_test=5)",
    )
    p.add_argument("--seed", type=int, default=0)
    weak = p.add_mutually_exclusive_group()
    weak.add_argument("--weak-threshold", type=float, help="weak: validation metric <= T")
    weak.add_argument(
        "--weak-percentile",
        type=float,
        help="weak: validation metric <= its P-th percentile (default 20)",
    )
    weak.add_argument(
        "--weak-preset",
        choices=["paper"],
        help="paper: Kaur & Shah's rule (AUC <= --paper-tp and inactive); not a reproduction",
    )
    _paper_flags(p)
    p.add_argument(
        "--weak-metric",
        default="auc",
        choices=list(_METRICS),
        help="validation metric of the weak-user rule (default auc, as Kaur & Shah; "
        "auc-heldout: AUC within the user's held-out rated items)",
    )
    p.add_argument("--weak-inactive", action="store_true", help="weak users must also be inactive")
    p.add_argument(
        "--intersect",
        action="append",
        default=None,
        metavar="DIM1,DIM2",
        help="report two subgroup dimensions jointly, repeatable (default: inactive,mainstream)",
    )
    p.add_argument("--out", required=True, metavar="DIR")

    p = sub.add_parser("rerank", help="rerank the weak users of a run with an LLM")
    p.add_argument("--run", required=True, metavar="DIR", help="output folder of evaluate")
    p.add_argument("--backend", required=True, choices=["anthropic", "transformers", "openai"])
    p.add_argument("--model", required=True, help="model name, or a local path (transformers)")
    weak = p.add_mutually_exclusive_group()
    weak.add_argument("--threshold", type=float, help="weak: validation metric <= T")
    weak.add_argument(
        "--percentile",
        type=float,
        help="weak: validation metric <= its P-th percentile (default 20)",
    )
    weak.add_argument("--preset", choices=["paper"], help="paper: AUC <= --paper-tp and inactive")
    _paper_flags(p)
    p.add_argument("--metric", default="auc", choices=list(_METRICS))
    p.add_argument("--inactive", action="store_true", help="weak users must also be inactive")
    p.add_argument("--candidates", type=int, default=20, help="candidate list length C")
    p.add_argument(
        "--protocol",
        default="realistic",
        choices=["realistic", "paper"],
        help="realistic: the baseline's top C; paper: Kaur & Shah's offline replication "
        "protocol (held-out items plus sampled unseen items)",
    )
    p.add_argument(
        "--negatives",
        default="popularity",
        choices=["popularity", "uniform"],
        help="the paper protocol's sampled items: matched to the test items' popularity "
        "(default) or uniform (easy: popularity alone finds the test items)",
    )
    p.add_argument("--history", default="recent", choices=["recent", "paper", "long-short"])
    p.add_argument("--template", default="paper", help="paper, llmrank, rankgpt or a file")
    p.add_argument("--item-chars", type=int, default=80, help="item text length cap")
    p.add_argument("--mode", default="generate", choices=["generate", "likelihood"])
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--budget-usd", type=float, default=None, help="hard cap on dollars")
    p.add_argument("--dry-run", action="store_true", help="estimate the cost, spend nothing")
    p.add_argument(
        "--pilot",
        type=int,
        nargs="?",
        const=50,
        default=None,
        metavar="N",
        help="rerank a seeded random sample of N weak users (default 50) and project its net "
        "gain and cost to all of them",
    )
    p.add_argument("--batch", action="store_true", help="Anthropic Message Batches (half price)")
    p.add_argument("--prompt-cache", action="store_true", help="cache the shared instructions")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--base-url", default=None, help="server URL (openai; optional anthropic)")
    p.add_argument(
        "--gpu-usd-per-hour", type=float, default=0.0, help="price of local GPU time (transformers)"
    )
    p.add_argument("--batch-size", type=int, default=8, help="local generation batch size")
    p.add_argument("--prices", default=None, metavar="FILE", help="JSON price table overrides")
    p.add_argument("--seed", type=int, default=0)
    _add_workspace(p)
    p.add_argument("--out", metavar="DIR", help="output folder (required unless --dry-run)")
    return parser


def _parse_kv(pairs: Sequence[str], flag: str) -> dict:
    out: dict = {}
    for pair in pairs:
        if "=" not in pair:
            raise AnalysisError(f"{flag} {pair!r} is not KEY=VALUE (e.g. {flag} factors=128).")
        key, raw = pair.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out


def _pairs(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for v in values:
        parts = [p.strip() for p in v.split(",")]
        if len(parts) != 2 or not all(parts):
            raise AnalysisError(
                f"--intersect {v!r} must name two dimensions, e.g. --intersect inactive,gender."
            )
        pairs.append((parts[0], parts[1]))
    return tuple(pairs)


def _mapping(args):
    from analysis.ingest import ColumnMapping

    return ColumnMapping(
        user=args.user_col,
        item=args.item_col,
        rating=args.rating_col,
        timestamp=args.timestamp_col,
        value_kind=args.value_kind,
    )


def _workspace(args):
    from analysis.workspace import Workspace

    return Workspace(args.workspace)


def _ingest(args, name: str):
    """Ingest ``args.interactions`` as ``name``; a taken name needs ``--replace``."""
    from analysis.ingest import ingest
    from analysis.workspace import NAME_TAKEN

    ws = _workspace(args)
    try:
        return ingest(
            ws,
            name,
            args.interactions,
            users=args.users,
            items=args.items,
            fmt=args.fmt,
            mapping=_mapping(args),
            relevance_threshold=args.threshold,
            kcore=args.kcore,
            replace=bool(args.replace),
            delimiter=args.delimiter,
        )
    except AnalysisError as err:
        if str(err) != str(AnalysisError(NAME_TAKEN.format(name=name, path=ws.path))):
            raise
        reuse = f", or --dataset {name} to use it" if args.command == "evaluate" else ""
        raise AnalysisError(NAME_TAKEN_CLI.format(name=name, reuse=reuse)) from err


def _cmd_synth(args) -> int:
    from analysis.ingest.synthetic import generate_synthetic, write_synthetic

    t0 = time.perf_counter()
    data = generate_synthetic(
        args.users,
        args.items,
        seed=args.seed,
        mean_interactions=args.mean_interactions,
        niche_share=args.niche_share,
    )
    paths = write_synthetic(data, args.out)
    print(
        f"wrote {len(data.interactions):,} interactions, {len(data.users):,} users, "
        f"{len(data.items):,} items to {args.out} in {time.perf_counter() - t0:.1f} s"
    )
    for name, path in paths.items():
        print(f"  {name}: {path}")
    return 0


def _cmd_ingest(args) -> int:
    report = _ingest(args, args.name)
    print(
        f"dataset {report.name!r}: {report.n_interactions:,} interactions, "
        f"{report.n_users:,} users, {report.n_items:,} items ({report.kind})"
    )
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def _cmd_datasets(args) -> int:
    ws = _workspace(args)
    if args.action == "list":
        table = ws.list_datasets()
        print(table.to_string(index=False) if len(table) else "(no datasets)")
    elif args.action == "rename":
        if len(args.names) != 2:
            raise AnalysisError("datasets rename takes two names: OLD NEW.")
        ws.rename_dataset(*args.names)
        print(f"renamed {args.names[0]!r} to {args.names[1]!r}")
    else:
        if len(args.names) != 1:
            raise AnalysisError("datasets delete takes one name.")
        ws.delete_dataset(args.names[0])
        print(f"deleted {args.names[0]!r}")
    return 0


#: --weak-metric / --metric choices -> per-user column (``ndcg`` gets ``@k``)
_METRICS = {"ndcg": "ndcg", "auc": "auc", "auc-heldout": "auc@heldout"}
PAPER_FLAGS_ALONE = (
    "--paper-tp and --paper-auc set the paper preset: add --weak-preset paper "
    "(rerank: --preset paper), or drop them."
)


def _paper_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--paper-tp",
        type=float,
        default=None,
        metavar="T",
        help="paper preset: the AUC threshold t_p (default 0.5)",
    )
    p.add_argument(
        "--paper-auc",
        choices=["all", "heldout"],
        default=None,
        help="paper preset: AUC over all unseen items (default) or within the user's "
        "held-out rated items (see docs/kaur_shah_preset.md)",
    )


def _weak_rule(args, k: int):
    from analysis.weak_users import DEFAULT_PERCENTILE, WeakRule

    tp, auc = getattr(args, "paper_tp", None), getattr(args, "paper_auc", None)
    if args.weak_preset == "paper":
        return WeakRule.paper(0.5 if tp is None else tp, auc or "all")
    if tp is not None or auc is not None:
        raise AnalysisError(PAPER_FLAGS_ALONE)
    metric = f"ndcg@{k}" if args.weak_metric == "ndcg" else _METRICS[args.weak_metric]
    if args.weak_threshold is not None:
        return WeakRule(
            metric=metric, threshold=args.weak_threshold, require_inactive=args.weak_inactive
        )
    pct = DEFAULT_PERCENTILE if args.weak_percentile is None else args.weak_percentile
    return WeakRule(metric=metric, percentile=pct, require_inactive=args.weak_inactive)


def _cmd_evaluate(args) -> int:
    from analysis.ingest import load_dataset
    from analysis.pipeline import EvaluateConfig, run_pipeline
    from analysis.runs.baseline_folder import write_run_outputs

    bars = args.bars
    t0 = time.perf_counter()
    if args.interactions:
        name = args.name or Path(args.interactions).name.split(".")[0] or "dataset"
        bars("ingest", 0.0, args.interactions)
        _ingest(args, name)
    else:
        name = args.dataset
    bars("load", 0.0, name)
    dataset = load_dataset(_workspace(args), name)
    t_load = time.perf_counter() - t0
    config = EvaluateConfig(
        model=args.model,
        model_params=_parse_kv(args.param, "--param"),
        k=args.k,
        n_candidates=args.candidates,
        split=args.split,
        split_params=_parse_kv(args.split_param, "--split-param"),
        seed=args.seed,
        weak_rule=_weak_rule(args, args.k),
        **({} if args.intersect is None else {"intersections": _pairs(args.intersect)}),
    )
    result = run_pipeline(dataset, config, progress=bars)
    result.timings["ingest_and_load"] = t_load
    bars.close()
    result.timings["total"] = time.perf_counter() - t0
    ws = _workspace(args)
    write_run_outputs(
        result,
        args.out,
        workspace=None if ws.in_memory else str(Path(ws.path).resolve()),
        command=args.argv,
    )
    ov = result.evaluation.overall()
    k = args.k
    print(
        f"{name}: {dataset.n_users:,} users, {dataset.n_items:,} items, "
        f"{dataset.n_interactions:,} interactions; model {args.model}, split {args.split}"
    )
    print(
        f"NDCG@{k} {ov[f'ndcg@{k}']:.4f}  Recall@{k} {ov[f'recall@{k}']:.4f}  "
        f"AUC {ov['auc']:.4f}  evaluated users {ov['n_evaluated']:,} "
        f"(excluded {ov['n_excluded']:,} without test items)"
    )
    w = result.weak
    print(
        f"weak users: {w.n_weak:,} ({w.share:.1%}; {w.rule.metric} <= {w.threshold_value:.4f} "
        f"on validation), test {w.rule.metric} {w.test_mean_weak:.4f} "
        f"vs {w.test_mean_rest:.4f} for the rest"
    )
    print(f"wrote {args.out} in {result.timings['total']:.1f} s")
    return 0


def _rerank_backend(args):
    from models.llm import make_backend

    if args.backend == "anthropic":
        opts = dict(
            concurrency=args.concurrency,
            batch=args.batch,
            prompt_cache=args.prompt_cache,
            base_url=args.base_url,
        )
    elif args.backend == "openai":
        if not args.base_url:
            raise AnalysisError(
                "--backend openai needs --base-url (e.g. http://localhost:8000/v1 "
                "for `vllm serve`)."
            )
        opts = dict(base_url=args.base_url, concurrency=args.concurrency)
    else:
        opts = dict(batch_size=args.batch_size, gpu_usd_per_hour=args.gpu_usd_per_hour)
    try:
        return make_backend(args.backend, model=args.model, **opts)
    except AnalysisError:
        if not args.dry_run or args.backend == "transformers":
            raise
        from analysis.rerank.plan import ApproxTokenCounter  # an estimate needs no key

        return ApproxTokenCounter(args.backend, args.model)


def _cmd_rerank(args) -> int:
    from analysis.gains.cost import load_price_table
    from analysis.rerank.budget import SpendLedger
    from analysis.rerank.cache import CallCache
    from analysis.rerank.execute import execute_rerank
    from analysis.rerank.plan import RerankConfig, plan_rerank
    from analysis.runs.baseline import load_run
    from analysis.runs.rerank import write_rerank_outputs
    from analysis.workspace import Workspace

    if not args.dry_run and not args.out:
        raise AnalysisError("rerank needs --out DIR (or --dry-run to only see the estimate).")
    bars = args.bars
    bars("load", 0.0, args.run)
    run = load_run(args.run)
    ws = Workspace(args.workspace or run.summary.source.workspace)
    rule_args = argparse.Namespace(
        weak_preset=args.preset,
        paper_tp=args.paper_tp,
        paper_auc=args.paper_auc,
        weak_metric=args.metric,
        weak_threshold=args.threshold,
        weak_percentile=args.percentile,
        weak_inactive=args.inactive,
    )
    cfg = RerankConfig(
        backend=args.backend,
        model=args.model,
        rule=_weak_rule(rule_args, run.k),
        protocol=args.protocol,
        n_candidates=args.candidates,
        history=args.history,
        template=args.template,
        item_chars=args.item_chars,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        mode=args.mode,
        budget_usd=args.budget_usd,
        batch=args.batch,
        gpu_usd_per_hour=args.gpu_usd_per_hour,
        seed=args.seed,
        pilot_users=args.pilot,
        negatives=args.negatives,
    )
    prices = load_price_table(args.prices)
    backend = _rerank_backend(args)
    cache = CallCache(ws)
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
    _print_bracket(plan.controls)
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
    for row in plan.history_tokens.itertuples():
        mark = " (chosen)" if row.chosen else ""
        print(f"  history {row.strategy}: ~{row.prompt_tokens:,.0f} prompt tokens per user{mark}")
    ledger = SpendLedger(ws)
    job = ledger.job(plan.job_key) if ledger.has_jobs(cfg.backend, cfg.model) else None
    if job is not None:
        cap = "no cap" if job.cap_usd is None else f"its cap ${job.cap_usd:,.4f}"
        print(f"this job has run before: ${job.spent_before_usd:,.4f} charged or reserved "
              f"so far, {cap} (a run without --budget-usd keeps it)")
    if args.dry_run:
        return 0

    def show(pr) -> None:
        eta = "" if pr.eta_s is None else f", ~{pr.eta_s:,.0f} s left"
        bars(
            "rerank",
            pr.done / max(pr.total, 1),
            f"{pr.done}/{pr.total} users, {pr.fallen_back} fell back, ${pr.usd:,.4f}{eta}",
        )

    result = execute_rerank(plan, run, backend, cache, prices, progress=show)
    bars.close()
    write_rerank_outputs(result, args.out)
    return _print_rerank_result(result, args, run.k)


def _print_bracket(controls) -> None:
    """The free bracket of any LLM's gain: the controls below, the ceiling above."""
    from analysis.gains.controls import bracket

    b = bracket(controls)
    print(
        f"gain bracket on these candidates (NDCG@{controls.k}, free): baseline order "
        f"{b['baseline']:.4f}; best no-LLM control ({b['best']}) {b['best_value']:.4f}; "
        f"ceiling (perfect order of the top C) {b['ceiling']:.4f}"
    )


def _count(n: int | None) -> str:
    """A count, or ``not recomputed`` where a figure after reranking is unknown."""
    return "not recomputed" if n is None else f"{n:,}"


def _print_rerank_result(result, args, k: int) -> int:
    """The rerank's headline lines; exit 0 when every weak user got an answer, else
    :data:`EXIT_INCOMPLETE` with the reason as the last line."""
    summary = result.summary
    gains = summary.gains
    nd = f"ndcg@{k}"
    print(
        f"reranked {summary.n_reranked:,} of {summary.n_requests:,} weak users "
        f"({summary.n_cached:,} answers from cache); fell back: {summary.fallback or 'none'}"
    )
    print(
        f"{nd} gain of the reranked weak users {gains['mean_gain_selected'][nd]:+.4f}; all users "
        f"{gains['mean_before'][nd]:.4f} -> {gains['mean_after'][nd]:.4f}; Wilcoxon p = "
        f"{gains['wilcoxon_p']:.3g}"
    )
    net = summary.net_gain
    lo, hi = net["ci95"]
    print(
        f"net of the best no-LLM control ({net['control']}) on the same candidates: "
        f"{net['mean']:+.4f} per weak user (95% CI {lo:+.4f} to {hi:+.4f}"
        f"{', includes zero' if net['ci_includes_zero'] else ''}), Wilcoxon p = "
        f"{net['wilcoxon_p']:.3g}; ceiling {net['means'].get('oracle', float('nan')):.4f}"
    )
    pilot = summary.pilot
    if pilot:
        pr = pilot["projected"]
        print(
            f"pilot of {pilot['n_sample']:,} of {pilot['n_population']:,} weak users with test "
            f"items: all of them would move mean {nd} by {pr['net_gain_over_all_users']:+.4f} "
            f"net (95% CI {pr['ci95'][0]:+.4f} to {pr['ci95'][1]:+.4f}) for about "
            f"${pr['cost_all_weak_usd']:,.4f} ({pilot['n_weak_all']:,} weak users); "
            f"{pilot['verdict']}"
        )
    wr = gains["weak_remaining"]
    print(
        f"weak on test ({wr['metric']} <= {wr['threshold']:.4f}): {wr['selected_before']:,} "
        f"-> {_count(wr['selected_after'])} of the reranked users"
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


_COMMANDS = {
    "synth": _cmd_synth,
    "ingest": _cmd_ingest,
    "datasets": _cmd_datasets,
    "evaluate": _cmd_evaluate,
    "rerank": _cmd_rerank,
}


def _terminated(signum, frame) -> None:
    """SIGTERM handler: unwind like Ctrl-C, so ``finally`` blocks remove temporary files."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 on a user error, 130 when interrupted).

    SIGTERM is handled as Ctrl-C while a command runs: the command unwinds, its temporary
    files (a zip's extraction, a run's partial output folder) are removed, and the exit
    code is 130.
    """
    args = build_parser().parse_args(argv)
    args.argv = [sys.executable, "-m", "analysis", *(sys.argv[1:] if argv is None else argv)]
    args.bars = _Bars(args.quiet)
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _terminated)
    except ValueError:  # not the main thread: leave signals alone
        pass
    said = _Warnings()
    try:
        with said:
            code = _COMMANDS[args.command](args)
        said.flush()
        return code
    except AnalysisError as err:
        args.bars.close(clear=True)
        said.flush()
        print(f"error: {err.render('cli')}", file=sys.stderr)  # with the CLI's flag hints
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        args.bars.close(clear=True)
        said.flush()
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
