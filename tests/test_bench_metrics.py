"""Smoke test of bench/bench_metrics.py (issue 10, point 5): the benchmark runs end to end on
tiny data, untimed, and its ranx agreement check passes on every row, rows with a repeated
item included (the figures themselves are in docs/benchmarks.md)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.benches import load_bench

pytest.importorskip("ranx")


@pytest.fixture(scope="module")
def bench():
    return load_bench("bench_metrics")


def test_runs_on_tiny_data_and_ranx_agrees_on_every_row(bench, tmp_path):
    out = bench.main(["--sizes", "300", "1000", "--repeats", "1", "--auc-batch", "16",
                      "--write", str(tmp_path / "m.md")])
    rows = {r[0]: r for r in out["rows"]}
    assert set(rows) == {300, 1000}
    for n, row in rows.items():
        n_evaluated, n_repeat = row[6], row[7]
        assert out["checked"][n] == n_evaluated > 0.9 * n  # compared on every evaluated row
        assert n_repeat > 0.05 * n  # the data has repeats, so the check covers them
    assert "ours vs ranx kernels" in out["text"] and "ours vs ranx end to end" in out["text"]
    assert (tmp_path / "m.md").read_text() == out["text"]


def test_repeat_keeps_later_ranks_in_place(bench):
    """A repeated item becomes a never-relevant placeholder: later items keep their rank."""
    import scipy.sparse as sp

    from analysis.metrics import compute_user_metrics

    recs = np.array([[5, 5, 7, -1], [1, 2, 1, 3]])
    truth = sp.csr_matrix(([1.0, 2.0, 3.0], ([0, 1, 1], [7, 3, 1])), shape=(2, 10))
    qrels, run, users = bench.ranx_inputs(recs, truth)
    assert users.tolist() == [0, 1]
    assert run[0][:, 0].tolist() == [5, -2, 7]  # 7 stays at rank 3, padding dropped
    assert run[1][:, 0].tolist() == [1, 2, -3, 3]
    assert qrels[1][:, 1].tolist() == [3.0, 2.0]  # gains descending, for ranx's ideal DCG
    k = bench.K
    wide = np.full((2, k), -1)
    wide[:, :4] = recs
    ours = compute_user_metrics(wide, truth, k)
    assert bench.check_ranx_agrees(ours, bench.ranx_kernels(*bench.ranx_inputs(wide, truth)[:2]),
                                   users) == 2
    assert ours.values[f"mrr@{k}"][0] == pytest.approx(1 / 3)
