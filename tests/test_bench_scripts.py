"""Smoke tests of the benchmark scripts of ``bench/`` on CI-sized data, so they keep working
(issue 10): each runs as the README runs it, as its own process, on tiny sizes; untimed (the
figures themselves are in docs/benchmarks.md, measured by hand on a quiet machine).

``bench_metrics.py`` and ``bench_app_latency.py`` have tests of their own that also check
their results; ``bench_llm_gpu.py --tiny`` is run by ``tests/models/llm/test_transformers.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "weak users": (["bench/bench_weak_users.py", "--users", "2000", "--repeats", "2"],
                   "Command: python bench/bench_weak_users.py"),
    "pipeline": (["bench/bench_pipeline.py", "--users", "500", "--items", "200",
                  "--mean-interactions", "5"], "| evaluate, synthetic 500 users"),
    "ingest": (["bench/bench_ingest.py", "2000", "300"], "ingest: "),
    "sample": (["bench/bench_sample.py", "--users", "600", "--items", "100", "--fractions",
                "0.3", "--model", "pop", "--out", os.devnull], '"peak_rss_gb"'),
    "generator": (["bench/synth_scale.py", "300", "100", "5"], "300 users x 100 items"),
    "decision": (["bench/bench_decision.py", "--users", "600", "--items", "200",
                  "--mean-interactions", "6"], "| **file to costed decision** | "),
    "eval stage": (["bench/bench_eval_stage.py", "--users", "400", "--items", "300",
                    "--factors", "4", "--repeats", "1"], "| new | "),
    # both paths on this tree (the "before" tree is this one): identical scores
    "likelihood": (["bench/bench_likelihood.py", "--users", "3", "--candidates", "4",
                    "--history", "2", "--repeats", "1", "--old-tree", "."],
                   "max |score difference|: 0.00e+00"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bench_script_runs_on_tiny_data(name):
    args, marker = CASES[name]
    env = {k: v for k, v in os.environ.items() if k != "WEAKSPOT_DATASETS"}  # no real data
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert marker in proc.stdout, proc.stdout[-2000:]
