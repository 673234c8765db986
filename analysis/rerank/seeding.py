"""Seeded keys that depend only on their inputs, never on the batch.

Every random choice of the rerank step (the shown order of the candidates, the paper
protocol's test-item sample and negatives, the paper history's sample) is a sort by keys
``hash_keys(seed, *parts)``: a fixed 64-bit integer mix (splitmix64) of the seed and the
row's own identifiers (user, column, item). So a user's prompt is the same whichever other
users share the batch, and can be rebuilt from the recorded seed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["KEY_MAX", "hash_keys"]

_MASK64 = (1 << 64) - 1
#: the largest key: sorts after every key :func:`hash_keys` can give (used to push cells last)
KEY_MAX = np.uint64(_MASK64)
_G = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer over uint64 arrays (wrap-around arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _G
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def hash_keys(seed: int, *parts: np.ndarray | int) -> np.ndarray:
    """Pseudo-random uint64 keys that depend only on ``(seed, *parts)``, elementwise.

    ``h = mix(seed); h = mix(h ^ p)`` for each part ``p`` (broadcast together), where ``mix``
    is splitmix64. Equal inputs give equal keys whatever else is in the arrays, which is what
    makes shuffles and samples independent of the batch.

    Args:
        seed: any Python int (taken modulo 2**64).
        *parts: integer arrays (or ints), broadcast against each other.

    Returns:
        uint64 array of the broadcast shape.
    """
    h = _splitmix(np.asarray(int(seed) & _MASK64, dtype=np.uint64))
    for p in parts:
        h = _splitmix(h ^ np.asarray(p).astype(np.int64).astype(np.uint64))
    return np.asarray(h, dtype=np.uint64)
