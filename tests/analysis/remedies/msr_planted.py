"""A planted multi-scenario dataset and its pop baseline run, for the re-scorer's tests.

Scenarios feed (items 0-5), search (6-11) and shop (12-35: head 12-23, tail 24-35). Every user
has seen every feed and search item and trains on 3 shop items, each drawn with weight 0.7 / 12
from the head and 0.3 / 12 from the tail: the history says nothing of a user's type. Each
held-out period (validation, then test) has one shop item among those not yet seen: 30% of
users (type 1) pick it from the tail, the others from the head (uniformly). The held-out
items follow the training popularity the pop baseline ranks by (head first), so no
type-agnostic reordering beats it, and it fails type-1 users. Planted knowledge: coordinate 0
of a user's vector is +1 for type 1 and -1 otherwise (plus noise); scenarios are one-hot.
"""

from __future__ import annotations

import numpy as np

from analysis.dataset import Dataset
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.remedies.msr import Knowledge

NAMES = ("feed", "search", "shop")
ITEM_SCENARIO = np.repeat([0, 1, 2], [6, 6, 24]).astype(np.int16)


def planted_dataset(n_users: int = 800, seed: int = 0) -> tuple[Dataset, np.ndarray]:
    rng = np.random.default_rng(seed)
    kind = (rng.random(n_users) < 0.3).astype(np.int64)
    shop, train_w = np.arange(12, 36), np.repeat([0.7, 0.3], 12)
    users, items = [], []
    for u in range(n_users):
        seen = list(rng.permutation(12))
        seen += list(rng.choice(shop, size=3, replace=False, p=train_w / train_w.sum()))
        group = np.arange(24, 36) if kind[u] else np.arange(12, 24)
        for _ in range(2):  # validation, then test
            left = np.setdiff1d(group, seen)
            seen.append(int(rng.choice(left)))
        users += [u] * len(seen)
        items += seen
    u, i = np.array(users, np.int32), np.array(items, np.int32)
    times = np.tile(np.arange(len(seen), dtype=np.int64), n_users)
    ds = Dataset(
        name="planted", user_idx=u, item_idx=i, value=None, timestamp=times,
        gain=np.ones(len(u), np.float32),
        user_ids=np.array([f"u{x}" for x in range(n_users)], dtype=object),
        item_ids=np.array([f"i{x}" for x in range(36)], dtype=object),
        kind="implicit", scenario=ITEM_SCENARIO[i], scenario_names=NAMES)
    return ds, kind


def planted_run(n_users: int = 800, seed: int = 0):
    ds, kind = planted_dataset(n_users, seed)
    config = EvaluateConfig(model="pop", seed=seed,
                            n_candidates=30, split_params={"n_validation": 1, "n_test": 1})
    return run_pipeline(ds, config).run, kind


def planted_knowledge(kind: np.ndarray, seed: int = 0, dim: int = 8) -> Knowledge:
    rng = np.random.default_rng([seed, 99])
    user = rng.normal(scale=0.3, size=(len(kind), dim)).astype(np.float32)
    user[:, 0] = np.where(kind == 1, 1.0, -1.0) + rng.normal(scale=0.1, size=len(kind))
    scen = np.eye(3, dim, dtype=np.float32)
    return Knowledge(scenario=scen, user=user, encoder_id="planted", uses_llm=True,
                     one_off_usd=0.5)
