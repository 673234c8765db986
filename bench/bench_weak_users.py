"""Benchmark weak-user selection on a random 1M-user table with 4 breakdown dimensions.

Run: ``.venv/bin/python bench/bench_weak_users.py [--users 1000000] [--repeats 50]``
Prints a markdown table (median and p90 over repeats) plus the machine and command.
Not collected by pytest (no ``test_`` prefix, lives outside tests/).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.subgroups import subgroup_report
from analysis.weak_users import WeakRule, WeakUserSelector


def make_table(n: int, seed: int = 0) -> pd.DataFrame:
    """Random per-user table: metrics with ~5% NaN, 4 categorical dimensions."""
    rng = np.random.default_rng(seed)
    n_train = rng.negative_binomial(2, 0.05, n) + 1
    val = rng.beta(2, 3, n)
    val[rng.random(n) < 0.05] = np.nan
    test = np.clip(val + 0.1 * rng.standard_normal(n), 0, 1)
    test[rng.random(n) < 0.05] = np.nan
    act_codes = np.searchsorted(np.quantile(n_train, [0.25, 0.5, 0.75]), n_train, side="left")
    return pd.DataFrame(
        {
            "user_idx": np.arange(n, dtype=np.int32),
            "n_train": n_train,
            "val_ndcg@10": val,
            "ndcg@10": test,
            "val_auc": rng.random(n),
            "auc": rng.random(n),
            "inactive": n_train < n_train.mean(),
            "activity": pd.Categorical.from_codes(
                act_codes, ["Q1", "Q2", "Q3", "Q4"], ordered=True
            ),
            "mainstream": pd.Categorical.from_codes(
                rng.integers(0, 3, n), ["niche", "mid", "mainstream"], ordered=True
            ),
            "country": pd.Categorical(rng.choice([f"c{i}" for i in range(30)], n)),
            "gender": pd.Categorical(rng.choice(["F", "M", "unknown"], n, p=[0.45, 0.45, 0.1])),
        }
    )


def _time(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up (first call fills the selector's lazy caches)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e3, float(np.percentile(ts, 90)) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    dims = ["activity", "mainstream", "country", "gender"]
    table = make_table(args.users)

    rows = []
    ctor = _time(lambda: WeakUserSelector(table, dims), max(3, args.repeats // 10))
    rows.append(("WeakUserSelector(table, 4 dims)", *ctor))

    def cold() -> None:  # first selection on a metric sorts its validation column once
        WeakUserSelector(table, dims).select(WeakRule(percentile=20))

    rows.append(
        ("constructor + first select (cold caches)", *_time(cold, max(3, args.repeats // 10)))
    )
    sel = WeakUserSelector(table, dims)
    rules = {
        "select: absolute (ndcg <= 0.2)": WeakRule(threshold=0.2),
        "select: percentile (p20)": WeakRule(percentile=20),
        "select: paper (AUC <= 0.5 & inactive)": WeakRule.paper(),
    }
    for name, rule in rules.items():
        rows.append((name, *_time(lambda r=rule: sel.select(r), args.repeats)))
    weak = sel.select(WeakRule(percentile=20)).mask
    rep = _time(lambda: subgroup_report(table, "ndcg@10", "country", weak=weak), 3)
    rows.append(("subgroup_report(country, 30 groups, n_boot=1000)", *rep))
    rep2 = _time(lambda: subgroup_report(table, "ndcg@10", ("country", "gender")), 3)
    rows.append(("subgroup_report(country × gender, 90 groups)", *rep2))

    print(f"Users: {args.users:,}; breakdown dimensions: {', '.join(dims)}\n")
    print("| operation | median ms | p90 ms |")
    print("|---|---:|---:|")
    for name, med, p90 in rows:
        print(f"| {name} | {med:.1f} | {p90:.1f} |")
    print(
        f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}"
    )
    print(f"Command: {' '.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
