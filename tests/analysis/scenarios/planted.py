"""A planted multi-scenario dataset for the scenario tests: the shared model serves one
scenario well and fails the other by construction."""

from __future__ import annotations

import numpy as np

from analysis.dataset import Dataset

#: scenario codes -> names
NAMES = ("feed", "search")


def planted_dataset(n_users: int = 240, n_items: int = 160, seed: int = 0,
                    n_cross: int | None = None) -> Dataset:
    """Users in 4 taste clusters; items ``0..n_items/2-1`` are ``feed``, the rest ``search``.

    In ``feed`` each user interacts with 14 feed items of their own cluster (predictable from
    training); in ``search`` each of the first ``n_cross`` users (default: two thirds) picks
    8 search items uniformly at random, unrelated to the taste, so a shared model cannot
    rank them: ``search`` is the badly served scenario. Implicit feedback, no timestamps.
    """
    rng = np.random.default_rng(seed)
    half = n_items // 2
    n_cross = (2 * n_users) // 3 if n_cross is None else n_cross
    cluster = np.arange(n_users) % 4
    per_cluster = half // 4
    users, items, scen = [], [], []
    for u in range(n_users):  # builds the fixture, not a computation under test
        own = cluster[u] * per_cluster + rng.choice(per_cluster, 14, replace=False)
        users += [u] * len(own)
        items += own.tolist()
        scen += [0] * len(own)
        if u < n_cross:
            other = half + rng.choice(n_items - half, 8, replace=False)
            users += [u] * len(other)
            items += other.tolist()
            scen += [1] * len(other)
    u = np.asarray(users, np.int32)
    i = np.asarray(items, np.int32)
    order = np.lexsort((i, u))
    return Dataset(
        name="planted", user_idx=u[order], item_idx=i[order], value=None, timestamp=None,
        gain=np.ones(len(u), np.float32),
        user_ids=np.arange(n_users, dtype=np.int64) + 100,
        item_ids=np.arange(n_items, dtype=np.int64) + 1000, kind="implicit",
        scenario=np.asarray(scen, np.int16)[order], scenario_names=NAMES,
    )
