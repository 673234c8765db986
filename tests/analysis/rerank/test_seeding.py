"""Tests of analysis/rerank/seeding.py: batch-independent seeded keys."""

from __future__ import annotations

import numpy as np

from analysis.rerank.seeding import hash_keys


def test_hash_keys_depend_only_on_inputs():
    a = hash_keys(5, np.array([1, 2, 3]), 4)
    b = hash_keys(5, np.array([3, 2, 1]), 4)
    assert a.dtype == np.uint64
    assert a[0] == b[2] and a[2] == b[0] and a[0] != a[1]
    assert hash_keys(6, np.array([1]), 4)[0] != a[0]
    assert hash_keys(-1, 3).shape == ()
