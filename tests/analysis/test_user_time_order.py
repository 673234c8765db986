"""Tests of analysis/_user_time_order.py: rows by (user, timestamp), seeded ties."""

from __future__ import annotations

import numpy as np
import pytest

from analysis._user_time_order import order_by_user_time


@pytest.mark.parametrize("seed", [0, 3])
def test_order_by_user_time_grouped_rows_equal_the_sort(seed):
    """The per-user kernel (rows grouped by user) gives the packed-key sort's order."""
    rng = np.random.default_rng(seed)
    n, n_users = 20000, 300
    user = np.sort(rng.integers(0, n_users, n))
    user[:100] = user[0]  # one user with a long history (the kernel's other branch)
    user = np.sort(user)
    ts = rng.integers(0, 30, n)  # many ties in time
    got = order_by_user_time(user, ts, n_users, seed)
    perm = np.random.default_rng(seed).permutation(n)
    tie = np.empty(n, dtype=np.int64)
    tie[perm] = np.arange(n)
    np.testing.assert_array_equal(got, np.lexsort((tie, ts, user)))
    shuffled = rng.permutation(n)  # not grouped: the sort itself
    u2, t2 = user[shuffled], ts[shuffled]
    got2 = order_by_user_time(u2, t2, n_users, seed)
    tie2 = np.empty(n, dtype=np.int64)
    tie2[np.random.default_rng(seed).permutation(n)] = np.arange(n)
    np.testing.assert_array_equal(got2, np.lexsort((tie2, t2, u2)))
