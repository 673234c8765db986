"""Streamed per-user metrics equal the in-memory metrics, in bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from analysis.errors import AnalysisError
from analysis.metrics import compute_user_metrics
from analysis.metrics.streaming import (
    MISSING_COLUMNS,
    NOT_EMPTY,
    DuckTable,
    evaluate_streaming,
)

ROOT = Path(__file__).resolve().parents[3]


def _read(folder: Path) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def _write(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, path: Path) -> Path:
    con.register("f", frame)
    con.execute(f"COPY f TO '{path}' (FORMAT parquet)")
    con.unregister("f")
    return path


def test_hand_computed(tmp_path):
    # user 1: list [10, 20, 30], relevant {20: gain 2}; user 2: list [30], relevant {10, 30}
    # user 3: a list but nothing relevant (not evaluated); user 4: relevant, no list (zeros)
    rankings = pd.DataFrame(
        {"user_id": [1, 1, 1, 2, 3], "item_id": [30, 10, 20, 30, 10], "rank": [3, 1, 2, 1, 1]}
    )
    heldout = pd.DataFrame(
        {"user_id": [1, 2, 2, 4, 1], "item_id": [20, 10, 30, 10, 40], "gain": [2, 1, 1, 1, 0]}
    )
    with duckdb.connect() as con:
        r = _write(con, rankings, tmp_path / "r.parquet")
        h = _write(con, heldout, tmp_path / "h.parquet")
    res = evaluate_streaming(r, h, tmp_path / "out", k=3, block_users=2, batch_rows=2)
    t = _read(tmp_path / "out")
    assert t["user_id"].tolist() == [1, 2, 3, 4]
    assert t["n_ranked"].tolist() == [3, 1, 1, 0]
    assert t["evaluated"].tolist() == [True, True, False, True]
    d2 = 1 / np.log2(3)
    np.testing.assert_allclose(t["ndcg@3"], [d2, 1 / (1 + d2), np.nan, 0.0])
    np.testing.assert_allclose(t["recall@3"], [1.0, 0.5, np.nan, 0.0])
    np.testing.assert_allclose(t["mrr@3"], [0.5, 1.0, np.nan, 0.0])
    assert (res.n_users, res.n_evaluated, res.n_excluded, res.n_blocks) == (4, 3, 1, 2)
    assert res.means["recall@3"] == pytest.approx(0.5)
    assert res.std_errors["recall@3"] == pytest.approx(0.5 / np.sqrt(3))


def test_text_ids_duplicates_and_nulls(tmp_path):
    # user "a": list [x, y]; held out y (gains 1 and 3: the largest is kept) and z (gain 2)
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * FROM (VALUES ('a', 'x', 1), ('a', 'y', 2), (NULL, 'x', 1)) "
            f"t(user_id, item_id, rank)) TO '{tmp_path / 'r.csv'}' (HEADER)"
        )
        con.execute(
            f"COPY (SELECT * FROM (VALUES ('a', 'y', 1.0), ('a', 'y', 3.0), ('a', 'z', 2.0), "
            f"('a', NULL, 5.0)) t(user_id, item_id, gain)) TO '{tmp_path / 'h.parquet'}'"
        )
    res = evaluate_streaming(tmp_path / "r.csv", tmp_path / "h.parquet", tmp_path / "out", k=2)
    t = _read(tmp_path / "out")
    d2 = 1 / np.log2(3)
    assert t["user_id"].tolist() == ["a"] and res.n_users == 1
    assert t["n_relevant"].tolist() == [2]
    assert t["ndcg_graded@2"][0] == pytest.approx(3 * d2 / (3 + 2 * d2))


def _random_run(rng: np.random.Generator, n_users: int, n_items: int, c: int):
    ranks = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :c]
    truth = sp.random(n_users, n_items, density=0.05, format="csr", random_state=rng)
    truth.data = np.ceil(truth.data * 5)  # gains 1..5
    return ranks, truth


def test_equals_compute_user_metrics(tmp_path):
    rng = np.random.default_rng(7)
    n_users, n_items, c, k = 300, 60, 15, 10
    recs, truth = _random_run(rng, n_users, n_items, c)
    ids = rng.permutation(np.arange(1000, 1000 + n_users))  # raw ids not in index order
    rank_rows = pd.DataFrame(
        {
            "user_id": np.repeat(ids, c),
            "item_id": recs.ravel() * 3 + 5,
            "rank": np.tile(np.arange(1, c + 1), n_users),
            "day": np.repeat(ids % 3, c),
        }
    ).sample(frac=1.0, random_state=1)  # rows in no order
    coo = truth.tocoo()
    held = pd.DataFrame({"user_id": ids[coo.row], "item_id": coo.col * 3 + 5, "gain": coo.data})
    # rankings: a hive-partitioned folder of part files; held-out: a table of a DuckDB file
    with duckdb.connect(str(tmp_path / "db.duckdb")) as con:
        con.register("r", rank_rows)
        con.execute(
            f"COPY r TO '{tmp_path / 'ranks'}' (FORMAT parquet, PARTITION_BY (day), "
            "ROW_GROUP_SIZE 100)"
        )
        con.register("h", held)
        con.execute("CREATE TABLE held AS SELECT * FROM h")
    res = evaluate_streaming(
        tmp_path / "ranks", DuckTable(tmp_path / "db.duckdb", "held"), tmp_path / "out",
        k=k, block_users=37, batch_rows=500, memory_limit="64MB",
    )  # fmt: skip
    got = _read(tmp_path / "out")
    order = np.argsort(ids)
    want = compute_user_metrics(recs[order], truth[order], k)
    assert got["user_id"].tolist() == sorted(ids.tolist())
    for name, values in want.values.items():
        np.testing.assert_array_equal(got[name].to_numpy(dtype=float), values, err_msg=name)
    assert res.n_blocks == 9  # ceil(300 / 37)
    ev = want.evaluated
    assert res.n_evaluated == int(ev.sum())
    for name in ("ndcg@10", "ap@10"):
        assert res.means[name] == pytest.approx(want.values[name][ev].mean(), rel=1e-12)


def test_refusals(tmp_path):
    with duckdb.connect() as con:
        r = _write(con, pd.DataFrame({"user": [1], "item_id": [2], "rank": [1]}), tmp_path / "r.pq")
        h = _write(
            con, pd.DataFrame({"user_id": [1], "item_id": [2], "gain": [1]}), tmp_path / "h.pq"
        )
    with pytest.raises(AnalysisError) as err:
        evaluate_streaming(r, h, tmp_path / "out")
    assert err.value.message == MISSING_COLUMNS.format(
        what="the rankings", source=r, missing="user_id", needed="user_id, item_id, rank"
    )
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(AnalysisError) as err:
        evaluate_streaming(h, h, tmp_path / "full")
    assert err.value.message == NOT_EMPTY.format(folder=tmp_path / "full")


_CHILD = """
import json, sys
sys.path.insert(0, {root!r})
from analysis.metrics.streaming import evaluate_streaming

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

# warm up on a one-user run (DuckDB, numba and Arrow set up once), then reset the peak RSS
evaluate_streaming({wr!r}, {wh!r}, {out!r} + "-warm", k=10, memory_limit="64MB", threads=1)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = status("VmRSS")
res = evaluate_streaming({r!r}, {h!r}, {out!r}, k=10, block_users=2000,
                         memory_limit="64MB", threads=1, batch_rows=20000)
print(json.dumps({{"base_kb": base, "peak_kb": status("VmHWM"), "n_users": res.n_users}}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_memory_bounded(tmp_path):
    """A run larger than a memory bound is evaluated within it: the peak RSS grows by less
    than DuckDB's limit plus 64 MB (measured ~85 MB, about the same at 150K and 400K users),
    while the rankings alone take 183 MB as columns; measured after a warm-up run (Linux
    resets the peak, VmHWM, on ``clear_refs``)."""
    n_users, c = 400_000, 20  # 8M ranking rows (183 MB as int64 columns), 1.2M held-out
    with duckdb.connect() as con:
        con.execute("SET threads = 1")
        con.execute(
            f"COPY (SELECT u AS user_id, (u * 7919 + j * 104729) % 50000 AS item_id, "
            f"j + 1 AS rank FROM range({n_users}) a(u), range({c}) b(j)) "
            f"TO '{tmp_path / 'r.parquet'}' (FORMAT parquet)"
        )
        con.execute(
            f"COPY (SELECT u AS user_id, (u * 7919 + j * 3 * 104729) % 50000 AS item_id, "
            f"1 AS gain FROM range({n_users}) a(u), range(3) b(j)) "
            f"TO '{tmp_path / 'h.parquet'}' (FORMAT parquet)"
        )
        for name in ("r", "h"):  # a 100-row warm-up run
            con.execute(
                f"COPY (SELECT * FROM '{tmp_path / name}.parquet' LIMIT 100) "
                f"TO '{tmp_path / name}-warm.parquet' (FORMAT parquet)"
            )
    code = _CHILD.format(
        root=str(ROOT), r=str(tmp_path / "r.parquet"), h=str(tmp_path / "h.parquet"),
        out=str(tmp_path / "out"), wr=str(tmp_path / "r-warm.parquet"),
        wh=str(tmp_path / "h-warm.parquet"),
    )  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], check=False, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["n_users"] == n_users
    grew_mb = (got["peak_kb"] - got["base_kb"]) / 1024
    input_mb = n_users * c * 3 * 8 / 2**20  # the rankings as three int64 columns
    bound_mb = 64 + 64  # DuckDB's limit, plus Arrow batches, one block and its metrics
    assert input_mb > bound_mb  # the run does not fit the bound ...
    assert grew_mb < bound_mb, (grew_mb, input_mb)  # ... but its evaluation does
