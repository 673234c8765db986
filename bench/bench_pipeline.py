"""Benchmark the whole ``python -m analysis evaluate`` pipeline, with peak memory.

Runs, each as a fresh process (so peak RSS is that command's own):
  1. ``evaluate`` on MovieLens 100K (needs WEAKSPOT_DATASETS or --ml100k);
  2. ``synth`` of a 1M-user, 20M-interaction dataset, then ``evaluate`` on it (ingest into a
     fresh DuckDB workspace included).

Usage:
    python bench/bench_pipeline.py [--ml100k PATH] [--users 1000000] [--items 20000]
        [--mean-interactions 20] [--model als] [--skip-large]

Prints a markdown table (targets on a 2-core machine: MovieLens 100K < 15 s; 1M users
< 5 min with peak RSS < 8 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _timed(cmd: list[str]) -> dict:
    full = [
        sys.executable,
        str(REPO / "bench" / "_peak.py"),
        sys.executable,
        "-m",
        "analysis",
        "--quiet",
        *cmd,
    ]
    out = subprocess.run(full, cwd=REPO, capture_output=True, text=True, check=True)
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    if stats["returncode"] != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{out.stderr}")
    return stats


def _stages(run_dir: Path) -> str:
    s = json.loads((run_dir / "summary.json").read_text())
    keep = ["ingest_and_load", "split", "fit", "evaluate", "features", "subgroups", "cohorts"]
    return ", ".join(f"{k} {s['timings_s'][k]:.1f}" for k in keep if k in s["timings_s"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ml100k", default=None)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--mean-interactions", type=float, default=20.0)
    ap.add_argument("--model", default="als")
    ap.add_argument("--skip-large", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ml = args.ml100k or (
            os.path.join(os.environ["WEAKSPOT_DATASETS"], "ml-100k")
            if os.environ.get("WEAKSPOT_DATASETS")
            else None
        )
        if ml and Path(ml).exists():
            st = _timed(
                [
                    "evaluate",
                    "--interactions",
                    ml,
                    "--model",
                    args.model,
                    "--workspace",
                    str(tmp / "ml.duckdb"),
                    "--out",
                    str(tmp / "ml_run"),
                ]
            )
            rows.append(
                (
                    "evaluate, MovieLens 100K (943 users, 100k ratings)",
                    st,
                    _stages(tmp / "ml_run"),
                    "< 15 s",
                )
            )
        if not args.skip_large:
            data = tmp / "synth"
            st = _timed(
                [
                    "synth",
                    "--users",
                    str(args.users),
                    "--items",
                    str(args.items),
                    "--mean-interactions",
                    str(args.mean_interactions),
                    "--seed",
                    "0",
                    "--out",
                    str(data),
                ]
            )
            import pyarrow.parquet as pq

            n = pq.ParquetFile(data / "interactions.parquet").metadata.num_rows
            rows.append(
                (
                    f"synth, {args.users:,} users x {args.items:,} items ({n:,} interactions)",
                    st,
                    "",
                    "",
                )
            )
            st = _timed(
                [
                    "evaluate",
                    "--interactions",
                    str(data / "interactions.parquet"),
                    "--users",
                    str(data / "users.parquet"),
                    "--items",
                    str(data / "items.parquet"),
                    "--model",
                    args.model,
                    "--workspace",
                    str(tmp / "big.duckdb"),
                    "--out",
                    str(tmp / "big_run"),
                ]
            )
            rows.append(
                (
                    f"evaluate, synthetic {args.users:,} users ({n:,} interactions)",
                    st,
                    _stages(tmp / "big_run"),
                    "< 300 s, RSS < 8 GB",
                )
            )
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    print(f"Machine: {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}")
    print(f"Command: python bench/bench_pipeline.py {' '.join(sys.argv[1:])}\n")
    print("| run | wall (s) | peak RSS (MB) | stages (s) | target |")
    print("|---|---:|---:|---|---|")
    for name, st, stages, target in rows:
        print(f"| {name} | {st['wall_s']:.1f} | {st['peak_rss_mb']:,.0f} | {stages} | {target} |")


if __name__ == "__main__":
    main()
