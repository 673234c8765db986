"""Benchmark: per-user ranking metrics, ours vs ranx vs a plain per-user Python loop.

Run from the repository root (not collected by pytest; tests/test_bench_metrics.py runs it
untimed on tiny data)::

    .venv/bin/python bench/bench_metrics.py [--sizes 100000 1000000] [--repeats 3] \
        [--write docs/benchmarks_metrics.md]

Random data (seeded): n users, ``n_items`` = 20,000, ~10 held-out relevant items per user
(Poisson, graded gains 1..5), k = 10 recommendations per user of which ~30 % are drawn from
the user's relevant items (so hits, repeats and misses all occur), 5 % of rows repeat an
earlier item, a few rows ``-1`` padded.
Times (medians of ``--repeats`` runs): our :func:`compute_user_metrics` (all metrics); ranx,
split in two and reported both separately and summed ("end to end"): building ranx's inputs
(its numba typed lists, vectorised from the same arrays, see :func:`ranx_inputs`) and ranx's
metric kernels alone (``evaluate(..., return_mean=False)`` on those typed lists for
ndcg/recall/precision/hit_rate/mrr/map at k, numba compilation warmed up first). ranx's
per-user values are asserted equal to ours on every evaluated row, rows with a repeated item
included. A per-user Python loop computing the same metrics is run fully when its projected
time is under ``--loop-budget`` seconds, else extrapolated linearly from the smallest size.
Also times :func:`auc_from_scores` on a 4096 x 20k batch.
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

from analysis.metrics import auc_from_scores, compute_user_metrics

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
    rep = np.flatnonzero(rng.random(n_users) < 0.05)  # 5 % of rows repeat an item (any)
    a = rng.integers(0, K // 2 - 1, rep.size)
    b = rng.integers(a + 1, K // 2)  # both slots before any padding
    recs[rep, b] = recs[rep, a]
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
    """ranx's own input format, built with numpy (no per-user Python loop of ours).

    ranx's metric kernels take two numba typed lists, one ``(m, 2)`` float64 array per query:
    qrels rows ``(doc id, gain)`` sorted by gain descending (its ideal DCG reads them in
    order), run rows ``(doc id, score)`` sorted by score descending. ``Qrels``/``Run`` objects
    hash string ids into exactly this form inside ``evaluate``; integer item ids are used here
    directly. Only users with a relevant item are kept, as ranx requires.

    A ranx run maps each document to one score, so a repeated item would collapse and every
    later item would move up a rank. Our metrics count a repeat only at its first rank and
    keep later ranks in place, so each repeated occurrence after the first becomes a
    placeholder id ``-(rank)`` that is never relevant; ``-1`` padding (always at the end of a
    row) is dropped. Returns ``(qrels, run, users)`` with ``users`` the kept row indices.
    """
    from numba.typed import List as TypedList

    n, k = recs.shape
    n_rel = np.diff(truth.indptr)
    users = np.flatnonzero(n_rel > 0)
    # qrels: per user, gains descending (stable, so equal gains keep item order)
    row_of = np.repeat(np.arange(n), n_rel)
    order = np.lexsort((-truth.data, row_of))
    q = np.column_stack((truth.indices[order].astype(np.float64),
                         truth.data[order].astype(np.float64)))
    qrels = TypedList(np.split(q, truth.indptr[users[1:]]))
    # run: repeats after the first occurrence -> placeholders, padding dropped
    r = recs[users]
    srt = np.argsort(r, axis=1, kind="stable")  # stable: equal items stay in rank order
    vals = np.take_along_axis(r, srt, axis=1)
    repeat = np.zeros(r.shape, dtype=bool)
    np.put_along_axis(repeat, srt[:, 1:], vals[:, 1:] == vals[:, :-1], axis=1)
    keep = r >= 0
    ids = r.astype(np.float64)
    rank = np.broadcast_to(np.arange(1, k + 1, dtype=np.float64), r.shape)
    ids[repeat & keep] = -rank[repeat & keep]
    flat = np.column_stack((ids[keep], (k + 1 - rank)[keep]))  # row-major: score descending
    run = TypedList(np.split(flat, np.cumsum(keep.sum(axis=1))[:-1]))
    return qrels, run, users


RANX_METRICS = {  # ranx metric -> our column it must equal
    "ndcg": "ndcg_graded", "recall": "recall", "precision": "precision", "hit_rate": "hit",
    "mrr": "mrr", "map": "ap",
}


def ranx_kernels(qrels, run) -> dict[str, np.ndarray]:
    """ranx's metric kernels alone: ``evaluate`` on its typed lists (no conversion, no
    Run object to store per-query scores into)."""
    import ranx

    metrics = [f"{m}@{K}" for m in RANX_METRICS]
    return ranx.evaluate(qrels, run, metrics, return_mean=False)


def check_ranx_agrees(ours, ranx_out: dict[str, np.ndarray], users: np.ndarray) -> int:
    """Assert ranx equals ours on every evaluated row (rows with repeats included).

    ``map@k`` differs by definition (ranx divides by R, ours by min(k, R)) and is compared
    after that rescaling. Returns the number of rows compared.
    """
    assert np.array_equal(np.flatnonzero(ours.evaluated), users)
    n_rel = ours.values["n_relevant"][users]
    for m, col in RANX_METRICS.items():
        mine = ours.values[f"{col}@{K}"][users]
        if m == "map":
            mine = mine * np.minimum(K, n_rel) / n_rel
        np.testing.assert_allclose(ranx_out[f"{m}@{K}"], mine, rtol=1e-12, atol=1e-12,
                                   err_msg=f"ranx {m}@{K} vs ours {col}@{K}")
    return users.size


def rows_with_repeats(recs: np.ndarray) -> int:
    """Rows in which some (non-padding) item appears more than once."""
    s = np.sort(recs, axis=1)
    return int(np.count_nonzero(((s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)).any(axis=1)))


def median_time(fn, repeats: int):
    """(median seconds, last result) over ``repeats`` calls."""
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


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
        (f"- machine: nproc={len(os.sched_getaffinity(0))}, {cpu}, "
         f"{platform.system()} {platform.machine()}"),
        f"- python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}",
    ]


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per figure (median)")
    ap.add_argument("--loop-budget", type=float, default=180.0,
                    help="run the Python loop fully when projected under this many seconds")
    ap.add_argument("--no-ranx", action="store_true")
    ap.add_argument("--auc-batch", type=int, default=4096)
    ap.add_argument("--write", type=Path, help="write the markdown section to this file")
    args = ap.parse_args(argv)

    warm = make_data(50, seed=1)  # numba compilation / cache loading outside the timings
    if not args.no_ranx:
        ranx_kernels(*ranx_inputs(*warm)[:2])
    compute_user_metrics(*warm, K)

    load_before = load()
    rows, checked = [], {}
    loop_rate = None  # seconds per user, from the first size
    for n in sorted(args.sizes):
        recs, truth = make_data(n)
        t_ours, ours = median_time(lambda r=recs, t=truth: compute_user_metrics(r, t, K), args.repeats)
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
            r_in = r_kern = float("nan")
        else:
            r_in, (qrels, run, users) = median_time(lambda r=recs, t=truth: ranx_inputs(r, t),
                                                    args.repeats)
            r_kern, r_out = median_time(lambda q=qrels, r=run: ranx_kernels(q, r), args.repeats)
            checked[n] = check_ranx_agrees(ours, r_out, users)
            del qrels, run, r_out
        rows.append((n, t_ours, r_kern, r_in, t_loop, loop_note, ours.n_evaluated,
                     rows_with_repeats(recs)))
        print(f"n={n}: ours {t_ours:.2f}s, ranx kernels {r_kern:.2f}s, ranx inputs "
              f"{r_in:.2f}s, loop {t_loop:.1f}s ({loop_note}); ranx == ours on "
              f"{checked.get(n, 0):,} rows ({rows[-1][-1]:,} with a repeated item)", flush=True)

    # AUC on one scoring batch
    rng = np.random.default_rng(2)
    b = args.auc_batch
    scores = rng.standard_normal((b, N_ITEMS)).astype(np.float32)
    scores[rng.random((b, N_ITEMS)) < 0.005] = -np.inf  # ~100 training items excluded
    auc_rows = []
    for mean_pos in (10, 50):
        positives = sp.random(b, N_ITEMS, density=mean_pos / N_ITEMS, format="csr",
                              random_state=3, data_rvs=lambda m: np.ones(m))
        auc_from_scores(scores[:2], positives[:2])  # compile the kernel outside the timing
        t_auc, _ = median_time(lambda p=positives: auc_from_scores(scores, p), args.repeats)
        auc_rows.append((mean_pos, t_auc))
        print(f"auc_from_scores {b}x{N_ITEMS}, ~{mean_pos} positives/row: "
              f"{auc_rows[-1][1]:.2f}s", flush=True)
    load_after = load()

    lines = ["## Per-user metrics (analysis/metrics)", ""]
    lines += machine_info()
    lines += [
        f"- load average (1, 5, 15 min): {load_before} before, {load_after} after",
        (f"- data: k={K}, n_items={N_ITEMS}, ~10 relevant held-out items per user (Poisson), "
         "~30 % of recommended slots relevant, 5 % of lists repeat an item, 2 % of lists "
         "half padded; seeded"),
        f"- times are medians of {args.repeats} runs (the Python loop: one run)",
        ("- ours = `compute_user_metrics` (ndcg, ndcg_graded, recall, precision, hit, mrr, "
         "ap); ranx kernels = `ranx.evaluate(qrels, run, [ndcg, recall, precision, hit_rate, "
         "mrr, map]@k, return_mean=False)` on ranx's numba typed lists, already built and "
         "compiled; ranx inputs = building those typed lists from the same numpy arrays "
         "(vectorised); ranx end to end = inputs + kernels; loop = per-user Python loop "
         "computing our metrics"),
        ("- ranx's per-user values equal ours on every evaluated row, rows with a repeated "
         "item included (ndcg = our ndcg_graded; map rescaled by min(k, R) / R)"),
        "",
        ("| users | ours (s) | ranx kernels (s) | ranx inputs (s) | ranx end to end (s) "
         "| ours vs ranx kernels | ours vs ranx end to end | Python loop (s) | loop timing "
         "| evaluated users | rows with a repeat |"),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for n, t_ours, r_kern, r_in, t_loop, note, n_eval, n_rep in rows:
        lines.append(
            f"| {n:,} | {t_ours:.2f} | {r_kern:.2f} | {r_in:.2f} | {r_kern + r_in:.2f} "
            f"| {r_kern / t_ours:.1f}x faster | {(r_kern + r_in) / t_ours:.1f}x faster "
            f"| {t_loop:.1f} | {note} | {n_eval:,} | {n_rep:,} |")
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
    return {"rows": rows, "checked": checked, "auc": auc_rows, "text": text}


if __name__ == "__main__":
    main()
