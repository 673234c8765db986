"""Planted scenarios for the synthetic log: who is active where, and one hard scenario.

Private helper of :mod:`analysis.ingest.synthetic`. Scenarios are surfaces (``home``,
``search``, ``email``, ...) over one shared catalogue: any item can be met in any scenario.
The draws come from their own generator, seeded by ``(seed, SCENARIO_STREAM)``, after the log
is drawn, so a log without scenarios is byte-identical to one drawn before scenarios existed.

* **Activity.** A share ``cross_share`` of users is active in several scenarios (a number
  drawn uniformly in ``2..S``), the others in one; which ones is a random order of the ``S``
  scenarios per user. Each interaction falls in one of its user's scenarios, uniformly.
* **The hard scenario.** Interactions in ``hard_scenario`` do not follow the user's taste in
  the other scenarios: their item is replaced by a popularity-free pick, uniformly random over
  the catalogue with probability ``hard_noise``, otherwise uniform within the user's *hard
  cluster* (one of ``n_clusters`` random, equal blocks of a shuffled catalogue, drawn per
  user independently of their genres). A shared model, fitted mostly on the taste-driven
  scenarios, ranks these items poorly. A replacement that repeats one of the user's pairs is
  dropped (the first of the user's interactions in time order is kept).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: second seed word of the scenarios' generator (independent of the log's stream)
SCENARIO_STREAM = 14
#: scenario names, in this order: ``n_scenarios`` takes the first ones
SCENARIO_NAMES = ("home", "search", "email", "cart", "video", "news", "push", "ads")


@dataclass(frozen=True)
class PlantedScenarios:
    """Scenarios planted on a log (ground truth).

    Attributes:
        names: the scenarios' names, indexed by code (in :data:`SCENARIO_NAMES` order).
        hard: code of the hard scenario.
        scenario: int16 code per kept interaction.
        item_idx: int64 item per kept interaction (hard interactions replaced).
        keep: boolean mask over the input interactions (False: a dropped repeat).
        active: ``(n_users, S)`` bool, whether each user is active in each scenario.
        hard_cluster: int64 hard-cluster id per user.
        cluster_items: ``(n_clusters, size)`` items of each hard cluster.
    """

    names: tuple[str, ...]
    hard: int
    scenario: np.ndarray
    item_idx: np.ndarray
    keep: np.ndarray
    active: np.ndarray
    hard_cluster: np.ndarray
    cluster_items: np.ndarray


def plant_scenarios(
    seed: int,
    u_idx: np.ndarray,
    i_idx: np.ndarray,
    n_users: int,
    n_items: int,
    n_scenarios: int,
    hard: int,
    cross_share: float,
    hard_noise: float,
    n_clusters: int,
) -> PlantedScenarios:
    """Plant scenarios on interactions sorted by user then time (see module docstring).

    Args:
        seed: the generator's seed (combined with :data:`SCENARIO_STREAM`).
        u_idx, i_idx: user and item index per interaction, sorted by user then time.
        n_users, n_items: sizes.
        n_scenarios: ``S`` >= 1 (at most ``len(SCENARIO_NAMES)``).
        hard: code of the hard scenario, ``0..S-1``.
        cross_share: share of users active in several scenarios (ignored when ``S == 1``).
        hard_noise: share of hard-scenario picks uniform over the catalogue.
        n_clusters: number of hard clusters (>= 1, at most ``n_items``).
    """
    rng = np.random.default_rng([int(seed), SCENARIO_STREAM])
    s = n_scenarios
    cross = rng.random(n_users) < (cross_share if s > 1 else 0.0)
    k = np.where(cross, rng.integers(2, s + 1, n_users), 1) if s > 1 else np.ones(n_users, int)
    order = np.argsort(rng.random((n_users, s)), axis=1)  # each user's scenarios, in order
    active = np.zeros((n_users, s), dtype=bool)
    rows = np.repeat(np.arange(n_users), s)
    active[rows, order.ravel()] = (np.arange(s)[None, :] < k[:, None]).ravel()
    pick = (rng.random(len(u_idx)) * k[u_idx]).astype(np.int64)
    scenario = order[u_idx, pick].astype(np.int16)
    size = n_items // n_clusters
    cluster_items = rng.permutation(n_items)[: n_clusters * size].reshape(n_clusters, size)
    hard_cluster = rng.integers(0, n_clusters, n_users)
    h = np.nonzero(scenario == hard)[0]
    noise = rng.random(len(h)) < hard_noise
    uniform = rng.integers(0, n_items, len(h))
    in_cluster = cluster_items[hard_cluster[u_idx[h]], rng.integers(0, size, len(h))]
    items = np.asarray(i_idx, dtype=np.int64).copy()
    items[h] = np.where(noise, uniform, in_cluster)
    _, first = np.unique(u_idx.astype(np.int64) * n_items + items, return_index=True)
    keep = np.zeros(len(items), dtype=bool)
    keep[first] = True
    return PlantedScenarios(
        names=SCENARIO_NAMES[:s],
        hard=int(hard),
        scenario=scenario[keep],
        item_idx=items[keep],
        keep=keep,
        active=active,
        hard_cluster=hard_cluster,
        cluster_items=cluster_items,
    )
