"""Step 1 on the command line: ``synth``, ``ingest`` and ``datasets``, and the flag readers
the other commands share (KEY=VALUE pairs, column names, the workspace)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence

from analysis.errors import AnalysisError

NAME_TAKEN_CLI = (
    "A dataset named {name!r} already exists in this workspace; pass --replace to replace "
    "it, --name to pick another name{reuse}."
)


def parse_kv(pairs: Sequence[str], flag: str) -> dict:
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


def intersect_pairs(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        parts = [p.strip() for p in value.split(",")]
        if len(parts) != 2 or not all(parts):
            raise AnalysisError(
                f"--intersect {value!r} must name two dimensions, e.g. --intersect inactive,gender."
            )
        pairs.append((parts[0], parts[1]))
    return tuple(pairs)


def column_mapping(args):
    from analysis.ingest import ColumnMapping

    return ColumnMapping(
        user=args.user_col,
        item=args.item_col,
        rating=args.rating_col,
        timestamp=args.timestamp_col,
        value_kind=args.value_kind,
        scenario=getattr(args, "scenario_col", None),
    )


def open_workspace(args):
    from analysis.workspace import Workspace

    return Workspace(args.workspace)


def ingest_as(args, name: str):
    """Ingest ``args.interactions`` as ``name``; a taken name needs ``--replace``."""
    from analysis.ingest import ingest
    from analysis.workspace import NAME_TAKEN

    workspace = open_workspace(args)
    try:
        return ingest(
            workspace,
            name,
            args.interactions,
            users=args.users,
            items=args.items,
            fmt=args.fmt,
            mapping=column_mapping(args),
            relevance_threshold=args.threshold,
            kcore=args.kcore,
            replace=bool(args.replace),
            delimiter=args.delimiter,
            header=args.header,
            quoting=args.quoting,
        )
    except AnalysisError as err:
        if str(err) != str(AnalysisError(NAME_TAKEN.format(name=name, path=workspace.path))):
            raise
        reuse = f", or --dataset {name} to use it" if args.command == "evaluate" else ""
        raise AnalysisError(NAME_TAKEN_CLI.format(name=name, reuse=reuse)) from err


def run_synth(args) -> int:
    from analysis.ingest.synthetic import generate_synthetic, write_synthetic

    started = time.perf_counter()
    data = generate_synthetic(
        args.users,
        args.items,
        seed=args.seed,
        mean_interactions=args.mean_interactions,
        niche_share=args.niche_share,
        n_scenarios=args.scenarios,
        hard_scenario=args.hard_scenario,
    )
    paths = write_synthetic(data, args.out)
    print(
        f"wrote {len(data.interactions):,} interactions, {len(data.users):,} users, "
        f"{len(data.items):,} items to {args.out} in {time.perf_counter() - started:.1f} s"
    )
    if data.scenarios is not None:
        sc = data.params["scenarios"]
        print(f"scenarios: {', '.join(sc['names'])} (planted hard: {sc['hard_scenario']})")
    for name, path in paths.items():
        print(f"  {name}: {path}")
    return 0


def scenario_line(report) -> str:
    """The ingest's scenario line: how many, from which column, pairs in several."""
    return (
        f"scenarios: {report.n_scenarios:,} from column {report.mapping.scenario!r}; "
        f"{report.pairs_in_several_scenarios:,} (user, item) pairs seen in several scenarios "
        f"keep their latest one's"
    )


def run_ingest(args) -> int:
    report = ingest_as(args, args.name)
    print(
        f"dataset {report.name!r}: {report.n_interactions:,} interactions, "
        f"{report.n_users:,} users, {report.n_items:,} items ({report.kind})"
    )
    if report.has_scenarios:
        print(scenario_line(report))
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def run_datasets(args) -> int:
    workspace = open_workspace(args)
    if args.action == "list":
        table = workspace.list_datasets()
        print(table.to_string(index=False) if len(table) else "(no datasets)")
    elif args.action == "rename":
        if len(args.names) != 2:
            raise AnalysisError("datasets rename takes two names: OLD NEW.")
        workspace.rename_dataset(*args.names)
        print(f"renamed {args.names[0]!r} to {args.names[1]!r}")
    else:
        if len(args.names) != 1:
            raise AnalysisError("datasets delete takes one name.")
        workspace.delete_dataset(args.names[0])
        print(f"deleted {args.names[0]!r}")
    return 0
