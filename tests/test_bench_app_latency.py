"""Smoke test of bench/bench_app_latency.py (issue 9, point 17): first start and page switches
run end to end on the demo, untimed (the figures themselves are in docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from tests.benches import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("bench_app_latency")


def test_first_start_and_page_switches_run_on_the_demo(bench, monkeypatch, tmp_path):
    monkeypatch.setenv("WEAKSPOT_WORKSPACE", str(tmp_path / "unused.duckdb"))
    starts = bench.time_first_start(1)
    assert len(starts) == 1 and starts[0] > 0
    monkeypatch.setenv("WEAKSPOT_WORKSPACE", str(tmp_path / "ws.duckdb"))
    bench._clear_caches()
    first, warm = bench.time_page_switches(None, 1)
    assert set(first) == set(warm) == set(bench.PAGES)
    assert all(len(v) == 1 and v[0] > 0 for v in warm.values())
    table = bench._switch_table("demo", first, warm)
    assert len(table) == 2 + len(bench.PAGES) + 1
    assert table[2].startswith("| 0_overview | ")


def test_interactions_run_on_a_small_synthetic_run(bench, monkeypatch, tmp_path, capsys):
    """The interaction table on a synthetic run (the 1M-user figures use the same path)."""
    monkeypatch.setenv("WEAKSPOT_WORKSPACE", str(tmp_path / "unused.duckdb"))
    bench._clear_caches()
    bench.interactions(1, synthetic=1500, data=tmp_path / "data")
    out = capsys.readouterr().out
    assert "| interaction (synthetic 1,500 users, ALS) | median ms |" in out
    assert "| weak users: model change | " in out and "| subgroups: box | " in out
    assert "first loads: 0_overview" in out
