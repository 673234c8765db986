"""Bigger than memory (issue 13, point 2): stream an exported run, ingest a partitioned export.

Not a test; run by hand. Generates, seeded and with DuckDB SQL only (never pandas):

* ``rankings/bucket=B/*.parquet``: a top-``C`` run of ``N`` users (``N * C`` rows; user
  ``u``'s item at rank ``j`` is ``(u * 7919 + (j - 1) * 104729 + seed) % 100003``, distinct
  within the list), hive-partitioned into 16 buckets of several part files;
* ``heldout/bucket=B/*.parquet``: 5 held-out items per user, each at a seeded pseudo-random
  rank 1..200 of that sequence (so about half fall inside the top 100), gain 1..5;
* ``interactions/day=D/*.parquet``: ``M`` interactions (user, item, rating 1..5, timestamp)
  over 30 day partitions, written with two row-group sizes;

* ``heldout_val/``: the validation period's held-out items (the same lists judged on other
  items), ``users/`` (country, age), ``items/`` (a title per item);

then times, each in a child process with its own peak RSS (``os.wait4``'s ``ru_maxrss``):
:func:`analysis.metrics.streaming.evaluate_streaming` of the run (``eval``), the whole
analysis of the export (:func:`analysis.external.analyse_export`, ``export``: both periods'
metrics, the per-user table, weak users, every subgroup dimension and pair, the LLM bill; the
interactions are its history), and :func:`analysis.ingest.ingest` of the interactions folder
into a fresh workspace (``ingest``).

Usage::

    nice .venv/bin/python bench/bench_scale.py --users 1000000 --interactions 10000000 \\
        --dir /tmp/weakspot-scale [--k 10] [--memory-limit 4GB] [--block-users 100000]

Prints one JSON line per step; the generated data is kept (and reused) in ``--dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
N_ITEMS = 100_003  # prime: a user's list never repeats an item


def _copy(con: duckdb.DuckDBPyConnection, select: str, out: Path, by: str, rg: int) -> None:
    con.execute(
        f"COPY ({select}) TO '{out}' (FORMAT parquet, PARTITION_BY ({by}), "
        f"ROW_GROUP_SIZE {rg}, FILE_SIZE_BYTES '256MB', OVERWRITE_OR_IGNORE)"
    )


def generate(folder: Path, n_users: int, c: int, n_interactions: int, seed: int) -> dict:
    """Write the three datasets (skipping those already there); their sizes on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    exports = {  # name: (the rows, the partition column, the row-group size)
        "rankings": (
            f"SELECT u AS user_id, (u * 7919 + j * 104729 + {seed}) % {N_ITEMS} AS item_id, "
            f"CAST(j + 1 AS INTEGER) AS rank, u % 16 AS bucket "
            f"FROM range({n_users}) a(u), range({c}) b(j)", "bucket", 122_880),
        "heldout": (
            f"SELECT u AS user_id, (u * 7919 + (hash(u, h, {seed}) % 200) * 104729 + {seed})"
            f" % {N_ITEMS} AS item_id, CAST(1 + hash(h, u, {seed}) % 5 AS DOUBLE) AS gain, "
            f"u % 16 AS bucket FROM range({n_users}) a(u), range(5) b(h)", "bucket", 50_000),
        "heldout_val": (  # the validation period: the same lists, other held-out items
            f"SELECT u AS user_id, (u * 7919 + (hash(u, h, {seed} + 1) % 200) * 104729 + "
            f"{seed}) % {N_ITEMS} AS item_id, CAST(1 + hash(h, u, {seed} + 1) % 5 AS DOUBLE) "
            f"AS gain, u % 16 AS bucket FROM range({n_users}) a(u), range(5) b(h)",
            "bucket", 50_000),
        "users": (
            f"SELECT u AS user_id, ['de', 'fr', 'us', 'br', 'in', 'jp', 'ng'][1 + "
            f"CAST(hash(u, {seed} + 3) % 7 AS BIGINT)] AS country, CAST(18 + hash(u, {seed} + 4) % 60 AS "
            f"INTEGER) AS age, u % 16 AS bucket FROM range({n_users}) a(u)", "bucket", 100_000),
        "items": (
            f"SELECT i AS item_id, 'Item title number ' || i || ' (' || (1950 + i % 70) || ')' "
            f"AS title, i % 4 AS part FROM range({N_ITEMS}) t(i)", "part", 100_000),
        "interactions": (
            f"SELECT hash(i, {seed}) % {max(n_users, 1)} AS user_id, "
            f"hash(i, {seed} + 1) % 50000 AS item_id, "
            f"CAST(1 + hash(i, {seed} + 2) % 5 AS DOUBLE) AS rating, "
            f"1700000000 + i % 2592000 AS ts, CAST(i % 30 AS INTEGER) AS day "
            f"FROM range({n_interactions}) t(i)", "day", 100_000),
    }  # fmt: skip
    if not n_interactions:
        del exports["interactions"]
    timings = {}
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET preserve_insertion_order = false")
        for name, (select, by, row_group) in exports.items():
            if (folder / name).exists():
                continue
            t = time.perf_counter()
            _copy(con, select, folder / name, by, row_group)
            timings[f"gen_{name}_s"] = round(time.perf_counter() - t, 1)
    sizes = {
        f"{name}_mb": round(sum(p.stat().st_size for p in (folder / name).rglob("*")) / 2**20)
        for name in exports
        if (folder / name).exists()
    }
    return {**timings, **sizes}


_EVAL = """
import json, sys
sys.path.insert(0, {root!r})
from analysis.metrics.streaming import evaluate_streaming
r = evaluate_streaming({r!r}, {h!r}, {out!r}, k={k}, block_users={block},
                       memory_limit={mem!r}, threads={threads})
print(json.dumps({{"n_users": r.n_users, "n_evaluated": r.n_evaluated, "n_blocks": r.n_blocks,
                  "means": {{m: round(v, 6) for m, v in r.means.items()}}}}))
"""

_EXPORT = """
import json, sys
sys.path.insert(0, {root!r})
from analysis.external import ExportFiles, ScaleConfig, analyse_export
f = {folder!r}
files = ExportFiles(test_run=f + "/rankings", test_heldout=f + "/heldout",
                    validation_run=f + "/rankings", validation_heldout=f + "/heldout_val",
                    history=f + "/interactions", users=f + "/users", items=f + "/items")
r = analyse_export(files, {out!r}, ScaleConfig(k={k}, block_users={block},
                   memory_limit={mem!r}, threads={threads}))
wr = r.weak_vs_rest.by_group.set_index("group")
print(json.dumps({{"n_users": r.test.n_users, "n_weak": r.n_weak, "n_judged": r.n_judged,
                  "threshold": r.threshold, "ndcg": round(r.test.means["ndcg@{k}"], 6),
                  "weak_test_ndcg": round(float(wr.loc["weak", "mean"]), 6),
                  "rest_test_ndcg": round(float(wr.loc["rest", "mean"]), 6),
                  "n_tests": len(r.tests), "prompts": r.bill.n_prompts,
                  "mean_input_tokens": round(r.bill.mean_input_tokens, 1),
                  "expected_usd": round(r.bill.estimate.expected_usd, 2),
                  "seconds": {{s: round(v, 1) for s, v in r.seconds.items()}}}}))
"""

_INGEST = """
import json, sys
sys.path.insert(0, {root!r})
from analysis.ingest import ingest
from analysis.workspace import Workspace
rep = ingest(Workspace({ws!r}), "scale", {src!r})
print(json.dumps({{"n_interactions": rep.n_interactions, "n_users": rep.n_users}}))
"""


def _child(code: str) -> dict:
    """Run ``code`` in a fresh interpreter: its JSON line, wall time and peak RSS (the
    child's own ``ru_maxrss``, from ``os.wait4``)."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=out_f, stderr=err_f)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        out_f.seek(0)
        err_f.seek(0)
        stdout, stderr = out_f.read(), err_f.read()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(stderr[-3000:])
    out = json.loads(stdout.strip().splitlines()[-1])
    out.update(wall_s=round(wall, 1), peak_rss_mb=round(usage.ru_maxrss / 1024))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--top", type=int, default=100)
    p.add_argument("--interactions", type=int, default=10_000_000)
    p.add_argument("--dir", type=Path, default=Path("/tmp/weakspot-scale"))
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--block-users", type=int, default=100_000)
    p.add_argument("--memory-limit", default="4GB")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip", choices=["eval", "export", "ingest"], action="append", default=[])
    a = p.parse_args()
    folder = a.dir / f"u{a.users}_c{a.top}_m{a.interactions}_s{a.seed}"
    print(json.dumps({"step": "generate", **generate(folder, a.users, a.top, a.interactions,
                                                     a.seed)}), flush=True)  # fmt: skip
    if "eval" not in a.skip:
        out = folder / f"metrics_k{a.k}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        code = _EVAL.format(
            root=str(ROOT), r=str(folder / "rankings"), h=str(folder / "heldout"),
            out=str(out), k=a.k, block=a.block_users, mem=a.memory_limit, threads=a.threads,
        )  # fmt: skip
        print(json.dumps({"step": "evaluate_streaming", **_child(code)}), flush=True)
    if "export" not in a.skip and a.interactions:
        out = folder / f"analysis_k{a.k}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        code = _EXPORT.format(root=str(ROOT), folder=str(folder), out=str(out), k=a.k,
                              block=a.block_users, mem=a.memory_limit, threads=a.threads)
        print(json.dumps({"step": "analyse_export", **_child(code)}), flush=True)
    if "ingest" not in a.skip and a.interactions:
        ws = folder / "ws.duckdb"
        ws.unlink(missing_ok=True)
        code = _INGEST.format(root=str(ROOT), ws=str(ws), src=str(folder / "interactions"))
        print(json.dumps({"step": "ingest", **_child(code)}), flush=True)


if __name__ == "__main__":
    main()
