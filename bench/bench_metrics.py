"""Benchmark: per-user ranking metrics, ours vs ranx vs a plain per-user Python loop.

Run from the repository root (not collected by pytest)::

    .venv/bin/python bench/bench_metrics.py [--sizes 100000 1000000] \
        [--write docs/benchmarks_metrics.md]

Random data (seeded): n users, ``n_items`` = 20,000, ~10 held-out relevant items per user
(Poisson, graded gains 1..5), k = 10 recommendations per user of which ~30 % are drawn from
the user's relevant items (so hits, repeats and misses all occur), a few rows ``-1`` padded.
Times: our :func:`compute_user_metrics` (all metrics); ranx ``evaluate(..., return_mean=False)``
on ndcg/recall/precision/hit_rate/mrr/map at k (Qrels/Run construction timed separately,
numba compilation warmed up first); a per-user Python loop computing the same metrics
(run fully when its projected time is under ``--loop-budget`` seconds, else extrapolated
linearly from the smallest size). Also times :func:`auc_from_scores` on a 4096 x 20k batch.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.metrics import auc_from_scores, compute_user_metrics  # noqa: E402

N_ITEMS = 20_000
K = 10


def make_data(n_users: int, seed: int = 0) -> tuple[np.ndarray, sp.csr_matrix]:
    """Random (recommendations, truth) pair as described in the module docstring."""
    rng = np.random.default_rng(seed)
    n_rel = rng.poisson(10, n_users)
    rows = np.repeat(np.arange(n_users), n_rel)
    cols = rng.integers(0, N_ITEMS, rows.size)
    gains = rng.integers(1, 6, rows.size).astype(np.float32)
    truth = sp.coo_matrix((gains, (rows, cols)), shape=(n_users, N_ITEMS)).tocsr()
    truth.sum_duplicates()
    truth.data = np.minimum(truth.data, 5)
    recs = rng.integers(0, N_ITEMS, (n_users, K)).astype(np.int32)
    n_rel = np.diff(truth.indptr)
    pick = (rng.random((n_users, K)) < 0.3) & (n_rel[:, None] > 0)
    r, c = np.nonzero(pick)
    recs[r, c] = truth.indices[truth.indptr[r] + rng.integers(0, 1 << 30, r.size) % n_rel[r]]
    short = rng.random(n_users) < 0.02
    recs[short, K // 2 :] = -1
    return recs, truth


def loop_reference(recs: np.ndarray, truth: sp.csr_matrix, k: int) -> dict[str, np.ndarray]:
    """The obvious per-user implementation (reference point for speed)."""
    n = recs.shape[0]
    out = {m: np.full(n, np.nan) for m in ("ndcg", "ndcg_graded", "recall", "precision",
                                            "hit", "mrr", "ap")}
    indptr, indices, data = truth.indptr, truth.indices, truth.data
    recs_l = recs[:, :k].tolist()
    disc = [1.0 / math.log2(r + 2) for r in range(k)]
    for u in range(n):
        rel = dict(zip(indices[indptr[u] : indptr[u + 1]].tolist(),
                       data[indptr[u] : indptr[u + 1]].tolist()))
        if not rel:
            continue
        seen, hits, dcg, dcg_g, first, ap_sum = set(), 0, 0.0, 0.0, 0, 0.0
        for r, item in enumerate(recs_l[u]):
            if item < 0 or item in seen:
                continue
            seen.add(item)
            g = rel.get(item)
            if g is not None:
                hits += 1
                dcg += disc[r]
                dcg_g += g * disc[r]
                first = first or r + 1
                ap_sum += hits / (r + 1)
        cut = min(k, len(rel))
        ideal = sorted(rel.values(), reverse=True)[:cut]
        out["ndcg"][u] = dcg / sum(disc[:cut])
        out["ndcg_graded"][u] = dcg_g / sum(g * d for g, d in zip(ideal, disc))
        out["recall"][u] = hits / len(rel)
        out["precision"][u] = hits / k
        out["hit"][u] = float(hits > 0)
        out["mrr"][u] = 1.0 / first if first else 0.0
        out["ap"][u] = ap_sum / cut
    return out


def ranx_inputs(recs: np.ndarray, truth: sp.csr_matrix):
    """Qrels/Run dicts (users with relevant items only, as ranx requires)."""
    qrels, run = {}, {}
    indptr, indices, data = truth.indptr, truth.indices.tolist(), truth.data.astype(int).tolist()
    recs_l = recs.tolist()
    scores = [float(K - r) for r in range(K)]
    for u in range(recs.shape[0]):
        lo, hi = indptr[u], indptr[u + 1]
        if lo == hi:
            continue
        q = str(u)
        qrels[q] = {str(j): g for j, g in zip(indices[lo:hi], data[lo:hi])}
        docs = {}
        for r, j in enumerate(recs_l[u]):
            if j >= 0 and str(j) not in docs:
                docs[str(j)] = scores[r]
        run[q] = docs if docs else {"none": 0.0}  # ranx needs >= 1 doc; "none" never relevant
    return qrels, run


def time_ranx(recs, truth) -> tuple[float, float, float]:
    """(dict building s, Qrels/Run construction s, evaluate s)."""
    import ranx

    t0 = time.perf_counter()
    qrels_d, run_d = ranx_inputs(recs, truth)
    t1 = time.perf_counter()
    qrels, run = ranx.Qrels(qrels_d), ranx.Run(run_d)
    t2 = time.perf_counter()
    metrics = [f"{m}@{K}" for m in ("ndcg", "recall", "precision", "hit_rate", "mrr", "map")]
    ranx.evaluate(qrels, run, metrics, return_mean=False)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def machine_info() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [
        f"- command: `{' '.join([Path(sys.executable).name] + sys.argv)}`",
        f"- machine: nproc={len(os.sched_getaffinity(0))}, {cpu}, "
        f"{platform.system()} {platform.machine()}",
        f"- python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}",
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--loop-budget", type=float, default=180.0,
                    help="run the Python loop fully when projected under this many seconds")
    ap.add_argument("--no-ranx", action="store_true")
    ap.add_argument("--write", type=Path, help="write the markdown section to this file")
    args = ap.parse_args(argv)

    if not args.no_ranx:  # warm numba's compilation / cache outside the timings
        time_ranx(*make_data(50, seed=1))
    compute_user_metrics(*make_data(50, seed=1), K)

    rows = []
    loop_rate = None  # seconds per user, from the first size
    for n in sorted(args.sizes):
        recs, truth = make_data(n)
        t = time.perf_counter()
        ours = compute_user_metrics(recs, truth, K)
        t_ours = time.perf_counter() - t
        if loop_rate is None or loop_rate * n <= args.loop_budget:
            t = time.perf_counter()
            ref = loop_reference(recs, truth, K)
            t_loop, loop_note = time.perf_counter() - t, "measured"
            loop_rate = t_loop / n
            for name, col in ref.items():  # sanity: same numbers
                np.testing.assert_allclose(ours.values[f"{name}@{K}"], col, atol=1e-9)
        else:
            t_loop, loop_note = loop_rate * n, "extrapolated from smaller size"
        if args.no_ranx:
            r_dict = r_build = r_eval = float("nan")
        else:
            r_dict, r_build, r_eval = time_ranx(recs, truth)
        rows.append((n, t_ours, r_eval, r_dict + r_build, t_loop, loop_note,
                     ours.n_evaluated))
        print(f"n={n}: ours {t_ours:.2f}s, ranx evaluate {r_eval:.2f}s "
              f"(+{r_dict:.1f}s dicts, {r_build:.1f}s Qrels/Run), loop {t_loop:.1f}s "
              f"({loop_note})", flush=True)

    # AUC on one scoring batch
    rng = np.random.default_rng(2)
    b = 4096
    scores = rng.standard_normal((b, N_ITEMS)).astype(np.float32)
    scores[rng.random((b, N_ITEMS)) < 0.005] = -np.inf  # ~100 training items excluded
    auc_rows = []
    for mean_pos in (10, 50):
        positives = sp.random(b, N_ITEMS, density=mean_pos / N_ITEMS, format="csr",
                              random_state=3, data_rvs=lambda m: np.ones(m))
        auc_from_scores(scores[:2], positives[:2])  # compile the kernel outside the timing
        t = time.perf_counter()
        auc_from_scores(scores, positives)
        auc_rows.append((mean_pos, time.perf_counter() - t))
        print(f"auc_from_scores {b}x{N_ITEMS}, ~{mean_pos} positives/row: "
              f"{auc_rows[-1][1]:.2f}s", flush=True)

    lines = ["## Per-user metrics (analysis/metrics)", ""]
    lines += machine_info()
    lines += [
        f"- data: k={K}, n_items={N_ITEMS}, ~10 relevant held-out items per user (Poisson), "
        "~30 % of recommended slots relevant, 2 % of lists half padded; seeded",
        "- ours = `compute_user_metrics` (ndcg, ndcg_graded, recall, precision, hit, mrr, ap); "
        "ranx = `evaluate(..., return_mean=False)` for ndcg/recall/precision/hit_rate/mrr/map; "
        "loop = per-user Python loop computing our metrics",
        "",
        "| users | ours (s) | ranx evaluate (s) | ranx build dicts + Qrels/Run (s) "
        "| Python loop (s) | loop timing | evaluated users |",
        "|---:|---:|---:|---:|---:|---|---:|",
    ]
    for n, t_ours, r_eval, r_build, t_loop, note, n_eval in rows:
        lines.append(f"| {n:,} | {t_ours:.2f} | {r_eval:.2f} | {r_build:.1f} | {t_loop:.1f} "
                     f"| {note} | {n_eval:,} |")
    lines += ["", "| `auc_from_scores` batch | positives/row (mean) | time (s) |",
              "|---|---:|---:|"]
    for mean_pos, t_auc in auc_rows:
        lines.append(f"| {b} x {N_ITEMS:,} float32 | {mean_pos} | {t_auc:.2f} |")
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text)


if __name__ == "__main__":
    main()
