"""Benchmark: the scoring-and-ranking stage of ``evaluate`` (issue 10, point 4), old vs new.

Run from the repository root (not collected by pytest; tests/test_bench_scripts.py runs it
untimed on tiny data)::

    .venv/bin/python bench/bench_eval_stage.py [--users 100000] [--items 20000] \\
        [--factors 32] [--repeats 3]

Synthetic data (seeded): random user and item factors (float32, ``--factors`` wide), so a
block's scores are one dense matrix product, as for ALS; per user ~16 training items, ~2
relevant and ~1 non-relevant validation items, ~2 relevant and ~1 non-relevant test items
(Poisson). Blocks are ``batch_size_for(n_items)`` users, as in ``evaluate_recommender``.

Three shapes of the stage per block, each timed on one block (median of ``--repeats`` x 5)
and on the whole run at ``--users`` (median of ``--repeats``), the scoring included:

* **old**: the previous loop: ``mask_rows(train)``, top-k, AUC, auc@heldout, then
  ``mask_rows(val_seen)``, top-C, AUC, auc@heldout, with the previous kernels (copied below:
  item-by-item top-k that re-reads the k-th score, AUC that reads a row 1 + n_pos times);
* **new**: ``mask_rows(train)``, one fused kernel for both splits' top lists and AUCs
  (:func:`analysis.metrics.evaluate._rank_block`), both auc@heldout, ``mask_rows(val_seen)``;
* **floor**: the matrix product plus one read pass over the block (``np.max(axis=1)``),
  what no ranking of these scores can beat.

The first block's outputs are asserted equal (old vs new) before anything is timed. Prints a
markdown table with seconds per block, per 1M users extrapolated from the block, and the
whole run measured (and scaled to 1M users), with the load average before and after; then
the two public kernels alone on one training-masked block, old vs new (``topk_rows`` at C,
``auc_from_scores`` on the validation positives) beside one read pass.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.metrics import auc_from_scores, auc_heldout_from_scores
from analysis.metrics.evaluate import _rank_block
from models.topk import batch_size_for, mask_rows, topk_rows
from tests.reference_kernels import old_auc_from_scores as old_auc
from tests.reference_kernels import old_topk_rows

K, C = 10, 20


# --- data and the three shapes ------------------------------------------------------------


def _csr(rng: np.random.Generator, n_users: int, n_items: int, mean: float) -> sp.csr_matrix:
    rows = np.repeat(np.arange(n_users), rng.poisson(mean, n_users))
    m = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, rng.integers(0, n_items, rows.size))),
                      shape=(n_users, n_items))
    m.data[:] = 1.0
    return m


def make_data(n_users: int, n_items: int, factors: int, seed: int = 0) -> dict:
    """Factors and the train / validation / test matrices described in the docstring."""
    rng = np.random.default_rng(seed)
    user_f = rng.standard_normal((n_users, factors), dtype=np.float32)
    item_f = rng.standard_normal((n_items, factors), dtype=np.float32)
    train = _csr(rng, n_users, n_items, 16.0)
    val, val_neg = _csr(rng, n_users, n_items, 2.0), _csr(rng, n_users, n_items, 1.0)
    test, test_neg = _csr(rng, n_users, n_items, 2.0), _csr(rng, n_users, n_items, 1.0)
    # held-out items are disjoint from training and from each other (one label per item)
    val_neg = (val_neg - val_neg.multiply(val)).tocsr()
    test = (test - test.multiply(train + val + val_neg)).tocsr()
    test_neg = (test_neg - test_neg.multiply(train + val + val_neg + test)).tocsr()
    for m in (val_neg, test, test_neg):
        m.eliminate_zeros()
        m.data[:] = 1.0
    val_seen = (val + val_neg).tocsr()
    val_seen.data[:] = 1.0
    return {"user_f": user_f, "item_f_t": np.ascontiguousarray(item_f.T), "train": train,
            "val": val, "val_neg": val_neg, "val_seen": val_seen, "test": test,
            "test_neg": test_neg}


def _scores(d: dict, batch: np.ndarray) -> np.ndarray:
    return d["user_f"][batch] @ d["item_f_t"]


def old_stage(d: dict, batch: np.ndarray, scores: np.ndarray) -> tuple:
    mask_rows(scores, d["train"][batch])
    val_items, _ = old_topk_rows(scores, K)
    val_auc = old_auc(scores, d["val"][batch])
    val_h = auc_heldout_from_scores(scores, d["val"][batch], d["val_neg"][batch])
    mask_rows(scores, d["val_seen"][batch])
    items, sc = old_topk_rows(scores, C)
    test_auc = old_auc(scores, d["test"][batch])
    test_h = auc_heldout_from_scores(scores, d["test"][batch], d["test_neg"][batch])
    return val_items, items, sc, val_auc, test_auc, val_h, test_h


def new_stage(d: dict, batch: np.ndarray, scores: np.ndarray) -> tuple:
    mask_rows(scores, d["train"][batch])
    val, seen, test = d["val"][batch], d["val_seen"][batch], d["test"][batch]
    val_items, items, sc, val_auc, test_auc = _rank_block(scores, K, C, val, seen, test)
    val_h = auc_heldout_from_scores(scores, val, d["val_neg"][batch])
    mask_rows(scores, seen)
    test_h = auc_heldout_from_scores(scores, test, d["test_neg"][batch])
    return val_items, items, sc, val_auc, test_auc, val_h, test_h


def floor_stage(d: dict, batch: np.ndarray, scores: np.ndarray) -> tuple:
    return (np.max(scores, axis=1),)


SHAPES = {"old": old_stage, "new": new_stage, "floor": floor_stage}


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _run(d: dict, stage, n_users: int, bs: int) -> None:
    for start in range(0, n_users, bs):
        batch = np.arange(start, min(start + bs, n_users))
        stage(d, batch, _scores(d, batch))


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((ln.split(":", 1)[1].strip() for ln in f
                         if ln.startswith("model name")), platform.processor())
    except OSError:
        return platform.processor()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--factors", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    load_before = _load()
    d = make_data(args.users, args.items, args.factors)
    bs = min(batch_size_for(args.items), args.users)
    block = np.arange(bs)
    base = _scores(d, block)

    # warm up (numba compilation) and check old == new on the first block, bit for bit
    old = old_stage(d, block, base.copy())
    new = new_stage(d, block, base.copy())
    for o, n in zip(old, new):
        np.testing.assert_array_equal(o, n)

    per_block: dict[str, float] = {}
    matmul = _median_time(lambda: _scores(d, block), 5 * args.repeats)
    for name, stage in SHAPES.items():
        # the stage alone, on a fresh copy of the block each time (copy not timed)
        times = []
        for _ in range(5 * args.repeats):
            s = base.copy()
            t0 = time.perf_counter()
            stage(d, block, s)
            times.append(time.perf_counter() - t0)
        per_block[name] = matmul + statistics.median(times)
    masked = base.copy()
    mask_rows(masked, d["train"][block])
    val_b = d["val"][block]
    kernels = {
        f"top-{C} (`topk_rows`)": (lambda: old_topk_rows(masked, C), lambda: topk_rows(masked, C)),
        "AUC, validation (`auc_from_scores`)": (lambda: old_auc(masked, val_b),
                                                lambda: auc_from_scores(masked, val_b)),
    }
    kernel_times = {name: tuple(_median_time(f, 5 * args.repeats) for f in pair)
                    for name, pair in kernels.items()}
    read_pass = _median_time(lambda: np.max(masked, axis=1), 5 * args.repeats)
    whole = {name: _median_time(lambda st=stage: _run(d, st, args.users, bs), args.repeats)
             for name, stage in SHAPES.items()}
    load_after = _load()

    scale = 1_000_000 / bs
    rows = []
    for name in SHAPES:
        rows.append((name, per_block[name], per_block[name] * scale, whole[name],
                     whole[name] * 1_000_000 / args.users))
    command = " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        (f"Machine: {os.cpu_count()} cores ({numba.get_num_threads()} numba threads), "
         f"{_cpu()}; Python {platform.python_version()}, numba {numba.__version__}"),
        f"Command: python bench/bench_eval_stage.py {command}",
        ("BLAS threads: OPENBLAS_NUM_THREADS="
         f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, OMP_NUM_THREADS="
         f"{os.environ.get('OMP_NUM_THREADS', 'unset')} (OpenBLAS threads that spin after a "
         "product slow the numba kernels that follow it)"),
        f"Load average (1, 5, 15 min): before {load_before}; after {load_after}",
        (f"Block: {bs} users x {args.items:,} items, {args.factors} factors, k = {K}, "
         f"C = {C}; matrix product alone {matmul * 1e3:.1f} ms per block"),
        "",
        (f"| shape | per block (ms) | per 1M users, from the block (s) | "
         f"whole run, {args.users:,} users (s) | per 1M users, from the run (s) |"),
        "|---|---:|---:|---:|---:|",
    ]
    for name, blk, blk_m, run, run_m in rows:
        lines.append(f"| {name} | {blk * 1e3:.1f} | {blk_m:.1f} | {run:.2f} | {run_m:.1f} |")
    old_t, new_t, floor_t = (whole[n] for n in ("old", "new", "floor"))
    lines.append("")
    lines.append(f"new vs old: {old_t / new_t:.2f}x faster (whole run); above the floor: old "
                 f"+{old_t - floor_t:.2f} s, new +{new_t - floor_t:.2f} s")
    lines += ["", "| kernel, one block (ms) | old | new | one read pass (`np.max`) |",
              "|---|---:|---:|---:|"]
    for name, (t_old, t_new) in kernel_times.items():
        lines.append(f"| {name} | {t_old * 1e3:.1f} | {t_new * 1e3:.1f} | "
                     f"{read_pass * 1e3:.1f} |")
    text = "\n".join(lines)
    print(text)
    return {"per_block": per_block, "whole": whole, "kernels": kernel_times, "batch_size": bs,
            "text": text}


if __name__ == "__main__":
    main()
