"""Tests of analysis/metrics/_kernels.py's on-disk cache: the AUC and evaluation-block kernels
load from numba's cache in a fresh process, and their cache key covers the source of the
top-k helpers they inline from models/_kernels.py, so an edit there compiles them afresh.
Their values: test_auc.py (against the old kernel) and test_evaluate_fused.py."""

from __future__ import annotations

import hashlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from analysis.metrics import _kernels, auc_from_scores
from analysis.metrics.evaluate import _rank_block
from models import topk

ROOT = Path(__file__).resolve().parents[3]
KERNELS = {"auc_kernel": _kernels.auc_kernel, "eval_block_kernel": _kernels.eval_block_kernel}


def call_both() -> dict[str, int]:
    """Both kernels on a tiny block (float32 scores, as the evaluation pass); each one's
    cache hits so far."""
    scores = np.arange(24, dtype=np.float32).reshape(3, 8) % 5
    truth = sp.csr_matrix(np.eye(3, 8, dtype=np.float32))
    auc_from_scores(scores, truth)
    _rank_block(scores, 2, 3, truth, truth, truth)
    return {name: sum(kernel.stats.cache_hits.values()) for name, kernel in KERNELS.items()}


def _digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(set(paths)):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_helpers_come_from_models_topk_file():
    files = {Path(inspect.getfile(helper.py_func)) for helper in _kernels.HELPERS}
    assert files == {Path(inspect.getfile(topk.scan_top_k.py_func))}
    assert files.pop().name == "_kernels.py"


@pytest.mark.parametrize("name", list(KERNELS))
def test_cache_key_covers_the_helpers_source(name, tmp_path):
    kernel = KERNELS[name]
    call_both()  # compiled (or loaded), so there is a signature to key
    cache = kernel._cache
    helper_file = Path(inspect.getfile(topk.scan_top_k.py_func))
    assert cache.helper_stamp == _digest(helper_file)
    sig, codegen = kernel.signatures[0], kernel.targetctx.codegen()
    key = cache._index_key(sig, codegen)
    assert key[-1] == cache.helper_stamp
    edited = tmp_path / "_kernels.py"  # the same helpers file, one line changed
    edited.write_bytes(helper_file.read_bytes() + b"\n# edited\n")
    other = type(cache)(kernel.py_func, [str(edited)])
    assert other.cache_path == cache.cache_path
    assert other._index_key(sig, codegen)[:-1] == key[:-1]
    assert other._index_key(sig, codegen)[-1] != key[-1]


def test_kernels_load_from_the_cache_in_a_fresh_process():
    call_both()  # compiles and stores them if no cache holds them yet
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "from tests.analysis.metrics.test_kernels import call_both; print(call_both())"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str({"auc_kernel": 1, "eval_block_kernel": 1})
