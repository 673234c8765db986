"""The command line's flags: one sub-command per step (synth, ingest, datasets, evaluate,
rerank, embed), one-line argument errors."""

from __future__ import annotations

import argparse
import sys

from analysis.cli.console import EXIT_USER_ERROR

#: --weak-metric / --metric choices -> per-user column (``ndcg`` gets ``@k``)
RULE_METRICS = {"ndcg": "ndcg", "auc": "auc", "auc-heldout": "auc@heldout"}


class ArgParser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message} (see: {self.prog} --help)\n")
        raise SystemExit(EXIT_USER_ERROR)


def add_workspace(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--workspace",
        metavar="PATH",
        default=None,
        help="DuckDB workspace file (default: $WEAKSPOT_WORKSPACE or data/workspace.duckdb)",
    )


def add_ingest_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--users", metavar="PATH", help="optional user attributes file")
    cmd.add_argument("--items", metavar="PATH", help="optional items file (title, genres)")
    cmd.add_argument(
        "--format",
        dest="fmt",
        default="auto",
        choices=["auto", "csv", "tsv", "parquet", "movielens"],
    )
    cmd.add_argument("--delimiter", help="field separator of a CSV/TSV file (default: detect)")
    cmd.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                     help="whether a text file's first line names its columns (default: "
                     "detect); --no-header maps the columns by position")
    cmd.add_argument("--quoting", action=argparse.BooleanOptionalAction, default=None,
                     help="process CSV quotes in a text file (default: for comma and "
                     "semicolon files only; tab, pipe and :: files are read literally)")
    cmd.add_argument("--user-col", help="name of the user id column (default: auto-detect)")
    cmd.add_argument("--item-col", help="name of the item id column (default: auto-detect)")
    cmd.add_argument("--rating-col",
                     help="name of the rating or count column (default: auto-detect)")
    cmd.add_argument("--timestamp-col", help="name of the timestamp column (default: auto-detect)")
    cmd.add_argument("--scenario-col",
                     help='name of the scenario (surface, domain, category) column (default: '
                     'auto-detect; "" for none)')
    cmd.add_argument(
        "--value-kind",
        default="auto",
        choices=["auto", "explicit", "count", "implicit"],
        help="what the rating column holds",
    )
    cmd.add_argument(
        "--threshold",
        type=float,
        default=4.0,
        help="explicit ratings >= this are relevant (default 4)",
    )
    cmd.add_argument("--kcore", type=int, default=0, help="keep only a k-core (default 0: off)")


def add_paper_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--paper-tp",
        type=float,
        default=None,
        metavar="T",
        help="paper preset: the AUC threshold t_p (default 0.5)",
    )
    cmd.add_argument(
        "--paper-auc",
        choices=["all", "heldout"],
        default=None,
        help="paper preset: AUC over all unseen items (default) or within the user's "
        "held-out rated items (see docs/kaur_shah_preset.md)",
    )


def add_weak_rule_options(cmd: argparse.ArgumentParser, prefix: str,
                          metric_default: str | None = "auc") -> None:
    """The weak-user rule's flags: ``{prefix}threshold``, ``{prefix}percentile`` or
    ``{prefix}preset`` (one of them), the paper preset's settings, ``{prefix}metric`` and
    ``{prefix}inactive`` (``--weak-`` on evaluate, ``--`` on rerank). ``metric_default``
    None: the command picks it from the run (rerank: ndcg for an imported run)."""
    weak = cmd.add_mutually_exclusive_group()
    weak.add_argument(f"{prefix}threshold", type=float, help="weak: validation metric <= T")
    weak.add_argument(f"{prefix}percentile", type=float,
                      help="weak: validation metric <= its P-th percentile (default 20)")
    weak.add_argument(f"{prefix}preset", choices=["paper"],
                      help="paper: Kaur & Shah's rule (AUC <= --paper-tp and inactive); not a "
                      "reproduction")
    add_paper_flags(cmd)
    cmd.add_argument(f"{prefix}metric", default=metric_default, choices=list(RULE_METRICS),
                     help="validation metric of the weak-user rule (default auc, as Kaur & "
                     "Shah; ndcg for an imported run, which has no AUC over all items; "
                     "auc-heldout: AUC within the user's held-out rated items)")
    cmd.add_argument(f"{prefix}inactive", action="store_true",
                     help="weak users must also be inactive")


def add_pairs_option(cmd: argparse.ArgumentParser, flag: str, what: str, example: str) -> None:
    """A repeatable ``KEY=VALUE`` flag (read by :func:`analysis.cli.data.parse_kv`)."""
    cmd.add_argument(flag, action="append", default=[], metavar="KEY=VALUE",
                     help=f"{what}, repeatable (e.g. {flag} {example})")


def add_evaluation_options(cmd: argparse.ArgumentParser, candidates_help: str) -> None:
    """How a run's lists are judged, for a trained (``evaluate``) or imported (``import-run``)
    run alike: ``--k``, ``--candidates``, the split, the seed, the weak-user rule
    (``--weak-*``) and the subgroup pairs reported jointly (``--intersect``)."""
    cmd.add_argument("--k", type=int, default=10)
    cmd.add_argument("--candidates", type=int, default=20, help=candidates_help)
    cmd.add_argument("--split", default="temporal", choices=["temporal", "random", "global"])
    add_pairs_option(cmd, "--split-param", "split parameter", "n_test=5")
    cmd.add_argument("--seed", type=int, default=0)
    add_weak_rule_options(cmd, "--weak-")
    cmd.add_argument("--intersect", action="append", default=None, metavar="DIM1,DIM2",
                     help="report two subgroup dimensions jointly, repeatable (default: "
                     "inactive,mainstream)")


def add_remedy_options(cmd: argparse.ArgumentParser) -> None:
    """What every remedy command reads: the baseline run, the users it serves, the item-text
    encoder and the workspace holding the run's dataset and the cached vectors."""
    cmd.add_argument("--run", required=True, metavar="DIR", help="a baseline run folder")
    cmd.add_argument("--target", default="weak", choices=["weak", "inactive", "weak_or_inactive"],
                     help="the users the remedy serves (default: the run's weak users)")
    add_encoder_options(cmd)
    cmd.add_argument("--workspace", metavar="PATH", default=None,
                     help="DuckDB workspace (default: the one the run names)")


def add_encoder_options(cmd: argparse.ArgumentParser, extra: tuple[str, ...] = ()) -> None:
    """The item-text encoder's flags (``embed`` and the remedies that use embeddings);
    ``extra``: further ``--encoder`` choices (``taste``'s ``factors``)."""
    cmd.add_argument("--encoder", required=True,
                     choices=["tfidf", "transformers", "openai", *extra])
    cmd.add_argument("--model", default=None,
                     help="local model folder (transformers) or served model name (openai)")
    cmd.add_argument("--base-url", default=None, help="embeddings server URL (openai)")
    cmd.add_argument("--dim", type=int, default=None,
                     help="vector length (tfidf: SVD components, default 64; openai: "
                     "'dimensions', default the model's)")
    cmd.add_argument("--batch-size", type=int, default=32, help="texts per batch or request")
    cmd.add_argument("--max-length", type=int, default=128,
                     help="tokens kept per text (transformers)")
    cmd.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (transformers)")
    cmd.add_argument("--item-chars", type=int, default=1000, help="item text length cap")
    cmd.add_argument("--usd-per-mtok", type=float, default=0.0,
                     help="price per million input tokens (openai)")
    cmd.add_argument("--gpu-usd-per-hour", type=float, default=0.0,
                     help="price of local GPU time (transformers)")
    cmd.add_argument("--tokens-per-s", type=float, default=None,
                     help="throughput the dry run assumes (default: a per-encoder guess)")
    cmd.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = ArgParser(
        prog="python -m analysis", description="Weakspot: find the users a recommender fails."
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgParser)

    cmd = sub.add_parser("synth", help="write a synthetic dataset (Parquet)")
    cmd.add_argument("--users", type=int, default=5000)
    cmd.add_argument("--items", type=int, default=2000)
    cmd.add_argument("--mean-interactions", type=float, default=20.0)
    cmd.add_argument("--niche-share", type=float, default=0.1)
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--scenarios", type=int, default=0,
                     help="plant this many scenarios (home, search, email, ...; default 0)")
    cmd.add_argument("--hard-scenario", default=None,
                     help="the scenario planted hard for a shared model (default: the last)")
    cmd.add_argument("--out", required=True, metavar="PATH")

    cmd = sub.add_parser("ingest", help="load a dataset into the workspace")
    cmd.add_argument("--interactions", required=True, metavar="PATH")
    cmd.add_argument("--name", required=True)
    cmd.add_argument("--replace", action="store_true", help="replace a dataset of the same name")
    add_ingest_options(cmd)
    add_workspace(cmd)

    cmd = sub.add_parser("datasets", help="list, rename or delete workspace datasets")
    cmd.add_argument("action", nargs="?", default="list", choices=["list", "rename", "delete"])
    cmd.add_argument("names", nargs="*")
    add_workspace(cmd)

    cmd = sub.add_parser("evaluate", help="train a baseline and measure every user")
    src = cmd.add_mutually_exclusive_group(required=True)
    src.add_argument("--interactions", metavar="PATH", help="file, folder or zip to ingest")
    src.add_argument("--dataset", metavar="NAME", help="a dataset already in the workspace")
    cmd.add_argument("--name", help="workspace name for --interactions (default: file name)")
    cmd.add_argument(
        "--replace", action="store_true", help="replace a dataset of the same name (--interactions)"
    )
    add_ingest_options(cmd)
    add_workspace(cmd)
    cmd.add_argument("--model", default="als",
                     choices=["als", "bpr", "lmf", "itemknn", "pop", "sasrec"])
    add_pairs_option(cmd, "--param", "model hyperparameter", "factors=128")
    add_evaluation_options(cmd, "candidate list length C")
    sample = cmd.add_mutually_exclusive_group()  # a stratified user sample (issue 13, point 3)
    sample.add_argument("--sample-size", type=int, metavar="N",
                        help="evaluate a stratified sample of N users, with design-based CIs")
    sample.add_argument("--sample-fraction", type=float, metavar="F",
                        help="evaluate a stratified sample of this share of the users")
    cmd.add_argument("--sample-by", default="activity", metavar="DIM[,DIM]",
                     help="subgroup dimensions whose levels are the strata (default: activity)")
    cmd.add_argument("--sample-seed", type=int, default=None,
                     help="seed of the sample (default: --seed)")
    cmd.add_argument("--out", required=True, metavar="DIR")

    cmd = sub.add_parser("rerank", help="rerank the weak users of a run with an LLM")
    cmd.add_argument("--run", required=True, metavar="DIR", help="output folder of evaluate")
    cmd.add_argument("--backend", required=True, choices=["anthropic", "transformers", "openai"])
    cmd.add_argument("--model", required=True, help="model name, or a local path (transformers)")
    add_weak_rule_options(cmd, "--", metric_default=None)
    cmd.add_argument("--candidates", type=int, default=20, help="candidate list length C")
    cmd.add_argument(
        "--protocol",
        default="realistic",
        choices=["realistic", "paper"],
        help="realistic: the baseline's top C; paper: Kaur & Shah's offline replication "
        "protocol (held-out items plus sampled unseen items)",
    )
    cmd.add_argument(
        "--negatives",
        default="popularity",
        choices=["popularity", "uniform"],
        help="the paper protocol's sampled items: matched to the test items' popularity "
        "(default) or uniform (easy: popularity alone finds the test items)",
    )
    cmd.add_argument("--history", default="recent", choices=["recent", "paper", "long-short"])
    cmd.add_argument("--template", default="paper", help="paper, llmrank, rankgpt or a file")
    cmd.add_argument("--taste", default="off", choices=["off", "beside", "instead"],
                     help="the user's taste categories in the prompt: one line beside the "
                     "history, or instead of its second (older) half (default off)")
    cmd.add_argument("--taste-categories", type=int, default=8,
                     help="number of taste categories (default 8)")
    cmd.add_argument("--taste-source", default="tfidf", choices=["tfidf", "factors"],
                     help="item vectors of the taste categories: TF-IDF of the item texts "
                     "(default) or the baseline's item factors")
    cmd.add_argument("--item-chars", type=int, default=80, help="item text length cap")
    cmd.add_argument("--mode", default="generate", choices=["generate", "likelihood"])
    cmd.add_argument("--max-tokens", type=int, default=None)
    cmd.add_argument("--temperature", type=float, default=0.0)
    cmd.add_argument("--budget-usd", type=float, default=None, help="hard cap on dollars")
    cmd.add_argument("--dry-run", action="store_true", help="estimate the cost, spend nothing")
    cmd.add_argument(
        "--pilot",
        type=int,
        nargs="?",
        const=50,
        default=None,
        metavar="N",
        help="rerank a seeded random sample of N weak users (default 50) and project its net "
        "gain and cost to all of them",
    )
    cmd.add_argument("--batch", action="store_true", help="Anthropic Message Batches (half price)")
    cmd.add_argument("--prompt-cache", action="store_true", help="cache the shared instructions")
    cmd.add_argument("--concurrency", type=int, default=8)
    cmd.add_argument("--base-url", default=None, help="server URL (openai; optional anthropic)")
    cmd.add_argument(
        "--gpu-usd-per-hour", type=float, default=0.0, help="price of local GPU time (transformers)"
    )
    cmd.add_argument("--batch-size", type=int, default=8, help="local generation batch size")
    cmd.add_argument("--prices", default=None, metavar="FILE", help="JSON price table overrides")
    cmd.add_argument("--seed", type=int, default=0)
    add_workspace(cmd)
    cmd.add_argument("--out", metavar="DIR", help="output folder (required unless --dry-run)")

    cmd = sub.add_parser("embed", help="embed a dataset's item texts (cached in the workspace)")
    cmd.add_argument("--dataset", required=True, metavar="NAME", help="a workspace dataset")
    add_encoder_options(cmd)
    cmd.add_argument("--dry-run", action="store_true",
                     help="say what would be encoded and what it would cost, encode nothing")
    add_workspace(cmd)

    cmd = sub.add_parser("blend", help="blend a content score into a run's ranking for its weak "
                         "users (weight chosen on validation)")
    add_remedy_options(cmd)
    cmd.add_argument("--out", metavar="DIR", default=None,
                     help="write the remedy's folder here (for `remedies --remedy DIR`)")

    cmd = sub.add_parser("sasrec-emb", help="SASRec with its item table from text embeddings "
                         "(LLMEmb) vs random, for a run's weak users")
    add_remedy_options(cmd)
    cmd.add_argument("--text-table", default="frozen", choices=["frozen", "trainable"],
                     help="frozen: only the adapter over the PCA table trains; trainable: the "
                     "table too (default frozen)")
    cmd.add_argument("--epochs", type=int, default=None, help="SASRec epochs (default 20)")
    cmd.add_argument("--save", action="store_true",
                     help="list both remedy runs under the baseline run in the workspace")

    cmd = sub.add_parser("remedies", help="compare every remedy run for a baseline run's weak "
                         "users: gain, net gain, long tail, cost")
    cmd.add_argument("--run", required=True, metavar="DIR", help="a baseline run folder")
    cmd.add_argument("--rerank", action="append", default=[], metavar="DIR",
                     help="a rerank run folder of this run (repeatable)")
    cmd.add_argument("--remedy", action="append", default=[], metavar="DIR",
                     help="a remedy folder of this run (`blend --out`, repeatable)")
    cmd.add_argument("--users-per-month", type=float, default=100_000.0, metavar="N",
                     help="users served a month, for the cost projection (default 100000)")
    cmd.add_argument("--refreshes-per-month", type=float, default=4.0, metavar="R",
                     help="list refreshes per user a month (default 4)")
    cmd.add_argument("--target-gain", type=float, default=None, metavar="G",
                     help="name the cheapest remedy whose net NDCG gain on its users reaches G")
    cmd.add_argument("--workspace", metavar="PATH", default=None,
                     help="DuckDB workspace whose saved runs of this run are added (default: "
                     "the one the run names)")

    cmd = sub.add_parser("taste", help="cluster a run's items into taste categories and report "
                         "NDCG across each user's dominant category and taste focus")
    cmd.add_argument("--run", required=True, metavar="DIR", help="a baseline run folder")
    add_encoder_options(cmd, extra=("factors",))
    cmd.add_argument("--categories", type=int, default=8,
                     help="number of taste categories (k-means clusters, default 8)")
    cmd.add_argument("--workspace", metavar="PATH", default=None,
                     help="DuckDB workspace (default: the one the run names)")
    add_import_run(sub)
    add_analyse_export(sub)
    add_scenarios(sub)
    add_msr(sub)
    return parser


def add_import_run(sub) -> None:
    """``import-run``: an external recommender's rankings into a baseline run folder."""
    cmd = sub.add_parser("import-run", help="analyse an external recommender's rankings "
                         "(TREC, CSV or Parquet) like a trained baseline")
    cmd.add_argument("--dataset", required=True, metavar="NAME",
                     help="the workspace dataset the run ranked")
    cmd.add_argument("--test", required=True, metavar="FILE", help="the test period's run")
    cmd.add_argument("--validation", metavar="FILE", default=None,
                     help="the validation period's run (selects the weak users)")
    cmd.add_argument("--selection-half", action="store_true",
                     help="only a test run: choose the weak-user threshold on a seeded random "
                     "half of the users and judge the other half")
    cmd.add_argument("--format", dest="fmt", default="auto",
                     choices=["auto", "trec", "csv", "parquet"])
    for role in ("user", "item", "rank", "score"):
        cmd.add_argument(f"--{role}-col", default=None,
                         help=f"the {role} column of a CSV/Parquet run (default: by name)")
    cmd.add_argument("--name", default="imported", help="the model's name, e.g. prod-ranker-v7")
    cmd.add_argument("--heldout", metavar="FILE", default=None,
                     help="held-out test interactions (user_id, item_id[, rating]); default: "
                     "the workspace split (--split)")
    cmd.add_argument("--heldout-validation", metavar="FILE", default=None,
                     help="held-out validation interactions (with --heldout)")
    add_evaluation_options(cmd, "list length C kept")
    cmd.set_defaults(weak_metric="ndcg")  # AUC over all items needs a score for every item
    add_workspace(cmd)
    cmd.add_argument("--out", required=True, metavar="DIR")


def add_analyse_export(sub) -> None:
    """``analyse-export``: an export too big for memory, analysed in place end to end."""
    cmd = sub.add_parser("analyse-export", help="analyse an external recommender's export too "
                         "big for memory (Parquet folders, read in place by DuckDB)")
    cmd.add_argument("--test-run", required=True, metavar="PATH",
                     help="user_id, item_id, rank of the test period (file, folder or glob)")
    cmd.add_argument("--test-heldout", required=True, metavar="PATH",
                     help="user_id, item_id, gain: held-out test interactions")
    cmd.add_argument("--validation-run", metavar="PATH", default=None,
                     help="the validation period's run (selects the weak users)")
    cmd.add_argument("--validation-heldout", metavar="PATH", default=None)
    cmd.add_argument("--history", metavar="PATH", default=None,
                     help="earlier interactions user_id, item_id[, rating][, timestamp]: "
                     "activity and the prompts' history")
    cmd.add_argument("--users", metavar="PATH", default=None,
                     help="user attributes: user_id and one column per attribute")
    cmd.add_argument("--items", metavar="PATH", default=None,
                     help="item_id, title[, genres]: the prompts' item texts")
    cmd.add_argument("--name", default="imported", help="the model's name, e.g. prod-ranker-v7")
    cmd.add_argument("--k", type=int, default=10)
    cmd.add_argument("--candidates", type=int, default=20,
                     help="the LLM's candidates: the run's top C (default 20)")
    weak = cmd.add_mutually_exclusive_group()
    weak.add_argument("--weak-threshold", type=float, help="weak: validation metric <= T")
    weak.add_argument("--weak-percentile", type=float,
                      help="weak: validation metric <= its P-th percentile (default 20)")
    cmd.add_argument("--weak-metric", default="ndcg",
                     choices=["ndcg", "ndcg_graded", "recall", "precision", "hit", "mrr", "ap"])
    cmd.add_argument("--seed", type=int, default=0,
                     help="the random half's seed (without a validation run) and the bootstrap's")
    cmd.add_argument("--min-group-size", type=int, default=20)
    cmd.add_argument("--model", default="claude-haiku-4-5", help="the LLM priced in the dry run")
    cmd.add_argument("--batch", action="store_true", help="price at the batch discount")
    cmd.add_argument("--prices", default=None, metavar="FILE", help="JSON price table overrides")
    cmd.add_argument("--memory-limit", default="2GB",
                     help="DuckDB's memory limit; sorts and joins spill to disk past it")
    cmd.add_argument("--block-users", type=int, default=100_000,
                     help="users measured at once (lower it for long lists)")
    cmd.add_argument("--threads", type=int, default=None)
    cmd.add_argument("--out", required=True, metavar="DIR", help="a new or empty folder")


def add_scenarios(sub) -> None:
    """``scenarios``: a run's per-scenario report (issue 14)."""
    cmd = sub.add_parser("scenarios", help="a run's metrics per scenario, cross-scenario users "
                         "and weak (user, scenario) pairs")
    cmd.add_argument("--run", required=True, metavar="DIR", help="a baseline run folder")
    cmd.add_argument("--mode", default="catalogue", choices=["catalogue", "scenario"],
                     help="lists: the run's own top-k (catalogue) or its top-C candidates "
                     "filtered to the scenario's items (scenario)")
    cmd.add_argument("--by", default="activity", help="the heat map's user dimension")
    weak = cmd.add_mutually_exclusive_group()
    weak.add_argument("--weak-threshold", type=float, help="weak pair: validation NDCG <= T")
    weak.add_argument("--weak-percentile", type=float,
                      help="weak pair: validation NDCG <= its P-th percentile (default: the "
                      "run's rule)")
    cmd.add_argument("--min-group-size", type=int, default=None,
                     help="smallest scenario or cell named worst (default: the run's)")


def add_msr(sub) -> None:
    """``msr``: the LLM4MSR-style scenario-aware re-scorer for a run with scenarios."""
    cmd = sub.add_parser("msr", help="scenario and user knowledge from a frozen encoder, a "
                         "rescoring head over the run's candidates vs learned ids (LLM4MSR)")
    add_remedy_options(cmd)
    cmd.add_argument("--dry-run", action="store_true",
                     help="say how many prompts, their tokens and the one-off cost; encode "
                     "nothing")
    cmd.add_argument("--top-items", type=int, default=10,
                     help="popular items named in a scenario prompt (default 10)")
    cmd.add_argument("--recent-items", type=int, default=5,
                     help="recent items per scenario in a user prompt (default 5)")
    cmd.add_argument("--epochs", type=int, default=None, help="head epochs (default 40)")
    cmd.add_argument("--save", action="store_true",
                     help="list the head and its id control under the baseline run")
