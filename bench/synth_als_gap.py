"""Check that ALS serves the planted niche users clearly worse (not collected by pytest).

Usage: .venv/bin/python bench/synth_als_gap.py [n_users] [n_items] [seed]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.synth import generate_synthetic  # noqa: E402


def ndcg_gap(n_users: int = 3000, n_items: int = 1000, seed: int = 0, **kw) -> dict:
    from implicit.als import AlternatingLeastSquares

    d = generate_synthetic(n_users, n_items, seed=seed, **kw)
    it = d.interactions
    u = it.user_id.to_numpy() - 1
    i = it.item_id.to_numpy() - 1
    r = it.rating.to_numpy()
    rng = np.random.default_rng(seed)
    test = rng.random(len(u)) < 0.2
    train = sp.csr_matrix((np.ones((~test).sum(), np.float32), (u[~test], i[~test])),
                          shape=(n_users, n_items))
    with threadpool_limits(1, "blas"):
        m = AlternatingLeastSquares(factors=32, iterations=10, regularization=0.05,
                                    num_threads=2, random_state=seed)
        m.fit(train, show_progress=False)
        recs, _ = m.recommend(np.arange(n_users), train, N=10, filter_already_liked_items=True)
    rel = sp.csr_matrix((np.where(r[test] >= 4, 1.0, 0.0), (u[test], i[test])),
                        shape=(n_users, n_items))
    rel.eliminate_zeros()
    hits = np.asarray(rel[np.arange(n_users)[:, None], recs].todense())
    disc = 1 / np.log2(np.arange(2, 12))
    dcg = (hits * disc).sum(1)
    nrel = np.diff(rel.indptr)
    idcg = np.cumsum(disc)[np.minimum(nrel, 10) - 1]
    ok = nrel > 0
    ndcg = np.where(ok, dcg / np.where(ok, idcg, 1), np.nan)
    niche = np.isin(np.arange(n_users) + 1, d.niche_user_ids)
    return {
        "mainstream": float(np.nanmean(ndcg[~niche])),
        "niche": float(np.nanmean(ndcg[niche])),
        "share_ge4": float((r >= 4).mean()),
        "n": len(u),
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    t = time.perf_counter()
    print(ndcg_gap(*args), f"{time.perf_counter() - t:.1f}s")
