"""From a raw file to a costed decision: ``evaluate`` then the rerank dry run, from the CLI.

Each command runs as its own fresh process (as an analyst runs them), timed with its peak
RSS (``bench/_peak.py``):

  1. ``synth`` writes the dataset once (not part of the figure; reused from ``--data``);
  2. ``evaluate`` ingests the Parquet file into a fresh DuckDB workspace, splits, fits the
     baseline, scores every user and writes the run folder;
  3. ``rerank --dry-run`` reads the run back and prices the weak users' prompts.

Then, in this process, the dry run's **floor**: what any dry run must do, reading the run
back (``load_run``), selecting the weak users and building their candidates and chosen
history, against the whole plan (``plan_rerank``), so the report says how far the plan is
from it.

``--tree PATH`` runs the commands of another checkout of the project (for before/after
figures: ``git worktree add /tmp/before <rev>``), with this interpreter. Targets on 2
cores: 1M users from file to decision under 300 s; the dry run within 2x of its floor.

Usage:
    python bench/bench_decision.py [--users 1000000] [--items 20000]
        [--mean-interactions 20] [--model als] [--data DIR] [--tree PATH] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL = "claude-sonnet-4-5"


def _timed(tree: Path, cmd: list[str]) -> tuple[dict, str]:
    full = [sys.executable, str(REPO / "bench" / "_peak.py"), sys.executable, "-m", "analysis",
            "--quiet", *cmd]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(full, cwd=tree, capture_output=True, text=True, check=True, env=env)
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    if stats["returncode"] != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return stats, out.stdout


def _synth(tree: Path, data: Path, args) -> None:
    if (data / "interactions.parquet").is_file():
        return
    _timed(tree, ["synth", "--users", str(args.users), "--items", str(args.items),
                  "--mean-interactions", str(args.mean_interactions), "--seed", "0",
                  "--out", str(data)])


def _floor(tree: Path, run_dir: Path) -> dict:
    """Seconds of the dry run's unavoidable parts and of the whole plan, in this process."""
    sys.path.insert(0, str(tree))
    from analysis.gains.cost import PriceTable
    from analysis.rerank.cache import CallCache
    from analysis.rerank.candidates import realistic_candidates
    from analysis.rerank.config import RerankConfig
    from analysis.rerank.history import select_history
    from analysis.rerank.plan import plan_rerank
    from analysis.rerank.tokens import ApproxTokenCounter
    from analysis.runs.baseline import load_run
    from analysis.weak_users import select_weak_users
    from analysis.workspace import Workspace

    t0 = time.perf_counter()
    run = load_run(run_dir)
    t1 = time.perf_counter()
    cfg = RerankConfig(backend="anthropic", model=MODEL)
    weak = select_weak_users(run.per_user, cfg.rule)
    users = (weak.mask & run.per_user["evaluated"].to_numpy(bool)).nonzero()[0]
    cands = realistic_candidates(run.rankings, users, run.split.test,
                                 n_candidates=cfg.n_candidates, seed=cfg.seed)
    select_history(run.split, users, cfg.history)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cache = CallCache(Workspace(Path(tmp) / "calls.duckdb"))
        plan_rerank(run, cfg, ApproxTokenCounter("anthropic", MODEL), cache, PriceTable())
    t3 = time.perf_counter()
    return {"load_run": t1 - t0, "select": t2 - t1, "plan": t3 - t2, "users": len(users),
            "candidates": cands.items.shape}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--mean-interactions", type=float, default=20.0)
    ap.add_argument("--model", default="als")
    ap.add_argument("--data", default=None, help="synthetic data folder (made if missing)")
    ap.add_argument("--tree", default=str(REPO), help="checkout whose CLI is timed")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-floor", action="store_true", help="skip the in-process floor")
    args = ap.parse_args()
    tree = Path(args.tree).resolve()
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="weakspot-decision-") as tmp:
        tmp = Path(tmp)
        data = Path(args.data) if args.data else tmp / "data"
        _synth(tree, data, args)
        evals, drys, stages = [], [], []
        for rep in range(args.repeats):
            ws, run = tmp / f"ws{rep}.duckdb", tmp / f"run{rep}"
            ev, _ = _timed(tree, [
                "evaluate", "--interactions", str(data / "interactions.parquet"),
                "--users", str(data / "users.parquet"), "--items", str(data / "items.parquet"),
                "--model", args.model, "--workspace", str(ws), "--out", str(run)])
            dry, text = _timed(tree, ["rerank", "--run", str(run), "--backend", "anthropic",
                                      "--model", MODEL, "--dry-run", "--workspace", str(ws)])
            evals.append(ev)
            drys.append(dry)
            stages.append(json.loads((run / "summary.json").read_text())["timings_s"])
        last_dry = text.strip().splitlines()
        floor = None if args.no_floor else _floor(tree, run)
    load_after = os.getloadavg()

    def med(xs, key):
        return statistics.median(x[key] for x in xs)

    ev_s, dry_s = med(evals, "wall_s"), med(drys, "wall_s")
    rows.append(("evaluate (ingest, split, fit, score, write)", ev_s,
                 max(e["peak_rss_mb"] for e in evals)))
    rows.append(("rerank --dry-run (load the run, plan, price)", dry_s,
                 max(d["peak_rss_mb"] for d in drys)))
    rows.append(("**file to costed decision**", ev_s + dry_s, None))
    print(f"- command: `python bench/bench_decision.py --users {args.users} --items "
          f"{args.items} --mean-interactions {args.mean_interactions:g} --model {args.model}"
          f"{' --tree ' + str(tree) if tree != REPO else ''}`")
    print(f"- machine: nproc={os.cpu_count()}, {platform.machine()}, Python "
          f"{platform.python_version()}; load average (1, 5, 15 min) "
          f"{' '.join(f'{x:.2f}' for x in load)} before, "
          f"{' '.join(f'{x:.2f}' for x in load_after)} after")
    print(f"- repeats: {args.repeats} (medians)")
    print()
    print("| step | wall (s) | peak RSS (MB) |")
    print("|---|---:|---:|")
    for name, s, rss in rows:
        print(f"| {name} | {s:.1f} | {'' if rss is None else f'{rss:,.0f}'} |")
    keys = sorted({k for st in stages for k in st if k != "total"})
    print()
    print("evaluate stages (s, median): " + ", ".join(
        f"{k} {statistics.median(st.get(k, 0.0) for st in stages):.1f}" for k in keys))
    print("dry run said: " + " / ".join(line for line in last_dry if line.startswith(
        ("weak users:", "estimated cost:", "input tokens:"))))
    if floor is not None:
        fl = floor["load_run"] + floor["select"]
        print(f"dry-run floor (in process, {floor['users']:,} weak users): load_run "
              f"{floor['load_run']:.1f} s + weak users, candidates and history "
              f"{floor['select']:.1f} s = {fl:.1f} s; the whole plan after load "
              f"{floor['plan']:.1f} s: load + plan = {floor['load_run'] + floor['plan']:.1f} s "
              f"= {(floor['load_run'] + floor['plan']) / max(fl, 1e-9):.2f}x the floor")


if __name__ == "__main__":
    main()
