"""Compiled row scans of step 4: per-row AUC pair counts, and the evaluation block kernel that
ranks and measures both splits from one read of each score.

The evaluation pass runs these over every (user, item) score of a dataset, so each is a numba
kernel, parallel over rows, that reads each score once from memory: a row is cut into chunks
of :data:`~models.topk.CHUNK` scores (2 KB of float32, they stay in the L1 cache) and every
statistic is taken from a chunk while it is there, in loops the compiler vectorises (32-bit
counters, no branches).

* **AUC pair counts** (:func:`auc_kernel`): the row's positives that have a valid score are
  gathered first (they are few); for each chunk and each of them one vectorised pass counts
  the scores strictly below and equal, plus the valid and ``-inf`` scores. Integer counts, so
  the result does not depend on the order of the additions.
* **evaluation block** (:func:`eval_block_kernel`): both splits of ``evaluate`` from the same
  single pass, which also keeps the group maxima of the top-k (:mod:`models.topk`, whose
  compiled building blocks it inlines). The test split's extra exclusions (the validation
  items) are not written into the block: their pairs are subtracted from the counts, their
  groups do not vouch for the top-k bound and are scanned with a membership test, and the
  validation top-k is merged from the test top-C and the validation items (``k <= C``: any
  other validation top-k item is in the test top-k) under the total order (score
  descending, item ascending).

numba's on-disk cache (``cache=True``) checks only the file of the function it caches, and
these kernels inline code from ``models/_kernels.py``; so they are cached by
:func:`_cache_with_helpers`, whose entries also depend on the source of the files the
inlined helpers come from: a kernel never runs with a stale copy of a helper.

Public wrappers: :func:`analysis.metrics.auc_from_scores` and the evaluation pass
:func:`analysis.metrics.evaluate.evaluate_recommender`.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import numpy as np
from numba import njit, prange
from numba.core.caching import FunctionCache

from models.topk import CHUNK, group_max, is_member, offer, scan_top_k

#: the compiled helpers these kernels inline, from other files
HELPERS = (group_max, is_member, offer, scan_top_k)


class _HelperAwareCache(FunctionCache):
    """numba's on-disk cache of one kernel, whose entries are keyed also by the source of
    the files its inlined helpers come from (numba keys them by the kernel's own file)."""

    def __init__(self, py_func, helper_files: list[str]) -> None:
        digest = hashlib.sha256()
        for path in sorted(set(helper_files)):
            digest.update(Path(path).read_bytes())
        self.helper_stamp = digest.hexdigest()
        super().__init__(py_func)

    def _index_key(self, sig, codegen):
        return (*super()._index_key(sig, codegen), self.helper_stamp)


def _cache_with_helpers(kernel):
    """``cache=True`` for a kernel that inlines :data:`HELPERS` (and the constants of their
    files, such as :data:`~models.topk.CHUNK`): a change there compiles it afresh."""
    files = [inspect.getfile(helper.py_func) for helper in HELPERS]
    kernel._cache = _HelperAwareCache(kernel.py_func, files)
    return kernel


@njit(inline="always")
def _valid_counts(ch):  # pragma: no cover - compiled
    """(# scores > -inf, # scores == -inf) of the chunk; NaN is neither."""
    nv = np.int32(0)
    ni = np.int32(0)
    one = np.int32(1)
    zero = np.int32(0)
    for j in range(ch.size):
        v = ch[j]
        nv = np.int32(nv + (one if v > -np.inf else zero))
        ni = np.int32(ni + (one if v == -np.inf else zero))
    return nv, ni


@njit(inline="always")
def _below_equal(ch, t):  # pragma: no cover - compiled
    """(# scores < t, # scores == t) of the chunk (``-inf`` counts as below a valid ``t``)."""
    lo = np.int32(0)
    eq = np.int32(0)
    one = np.int32(1)
    zero = np.int32(0)
    for j in range(ch.size):
        v = ch[j]
        lo = np.int32(lo + (one if v < t else zero))
        eq = np.int32(eq + (one if v == t else zero))
    return lo, eq


@njit(inline="always")
def _gather(row, idx, excluded, out):  # pragma: no cover - compiled
    """The scores ``> -inf`` of the items ``idx`` not in the sorted ``excluded``, in order,
    into ``out``; returns how many (a positive scored -inf/NaN wins no pair)."""
    m = 0
    for a in range(idx.size):
        j = idx[a]
        x = row[j]
        if x > -np.inf and not is_member(excluded, j):
            out[m] = x
            m += 1
    return m


@njit(inline="always")
def _count_pass(row, width, tv, lv, ev, gmax):  # pragma: no cover - compiled
    """One read of ``row`` in chunks of ``width``: ``lv[p]``/``ev[p]`` = # scores below /
    equal to ``tv[p]``, and, when ``gmax`` is not empty, the group maxima of
    :func:`~models.topk.group_max`; returns (# scores > -inf, # scores == -inf)."""
    n = row.size
    lv[:] = 0
    ev[:] = 0
    n_valid = 0
    n_neginf = 0
    c0 = 0
    while c0 < n:
        c1 = min(c0 + width, n)
        ch = row[c0:c1]  # a view indexed from 0: the loops vectorise
        if gmax.size:
            group_max(ch, gmax)
        nv, ni = _valid_counts(ch)
        n_valid += nv
        n_neginf += ni
        for p in range(tv.size):
            lo, eq = _below_equal(ch, tv[p])
            lv[p] += lo
            ev[p] += eq
        c0 = c1
    return n_valid, n_neginf


@njit(inline="always")
def _wins2(tv, lv, ev, n_neginf, lo_p, hi_p):  # pragma: no cover - compiled
    """Twice the wins (a tie is one, a win is two) of the positives ``tv[lo_p:hi_p]`` from
    their full-row counts, less the pairs among those positives (self included in equal)."""
    wins2 = 0
    for p in range(lo_p, hi_p):
        t = tv[p]
        less = lv[p] - n_neginf
        equal = ev[p]
        for c in range(lo_p, hi_p):
            v = tv[c]
            less -= v < t
            equal -= v == t
        wins2 += 2 * less + equal
    return wins2


@njit(inline="always")
def _auc(wins2, n_pos, n_neg):  # pragma: no cover - compiled
    """AUC from twice the wins over ``n_pos * n_neg`` pairs; NaN without a negative."""
    return wins2 / (2.0 * n_pos * n_neg) if n_neg > 0 else np.nan


@njit(inline="always")
def _seen_pairs(row, seen, tv, lo_p, hi_p):  # pragma: no cover - compiled
    """(twice the wins of the positives ``tv[lo_p:hi_p]`` over the items ``seen``, # seen
    scored > -inf): what the test split removes, its validation-seen items being no
    negatives."""
    wins2 = 0
    n_valid = 0
    for a in range(seen.size):
        v = row[seen[a]]
        if v > -np.inf:
            n_valid += 1
            for p in range(lo_p, hi_p):
                t = tv[p]
                wins2 += 2 * (v < t) + (v == t)
    return wins2, n_valid


@_cache_with_helpers
@njit(parallel=True)
def auc_kernel(scores, indptr, indices, thr, lacc, eacc, out):  # pragma: no cover - compiled
    """Per row: AUC of the positives ``indices[indptr[r]:indptr[r+1]]`` against every other
    item scored > -inf, from integer pair counts. ``thr`` (row dtype), ``lacc``/``eacc``
    (int64) are work buffers of length ``indices.size``."""
    b, n = scores.shape
    width = min(CHUNK, n)
    none = np.empty(0, np.int64)
    no_groups = np.empty(0, scores.dtype)
    for r in prange(b):
        p0 = indptr[r]
        p1 = indptr[r + 1]
        if p1 == p0:
            out[r] = np.nan
            continue
        row = scores[r]
        m = _gather(row, indices[p0:p1], none, thr[p0:])
        tv = thr[p0 : p0 + m]
        lv = lacc[p0 : p0 + m]
        ev = eacc[p0 : p0 + m]
        n_valid, n_neginf = _count_pass(row, width, tv, lv, ev, no_groups)
        out[r] = _auc(_wins2(tv, lv, ev, n_neginf, 0, m), p1 - p0, n_valid - m)


@_cache_with_helpers
@njit(parallel=True)
def eval_block_kernel(
    scores, k, c,
    vp_ptr, vp_idx, vs_ptr, vs_idx, tp_ptr, tp_idx,
    thr, lacc, eacc,
    val_items, val_scores, test_items, test_scores, val_auc, test_auc,
):  # pragma: no cover - compiled
    """Both splits of the evaluation pass from one read of each score.

    ``scores``: the block with training items already ``-inf``. Validation: top-``k`` and
    AUC of the positives ``vp`` over that row. Test: top-``c`` (``c >= k``) and AUC of the
    positives ``tp`` over the row with the validation-seen items ``vs`` (sorted, unique per
    row) also excluded, as if they were ``-inf``. Same integers, hence the same floats, as
    masking ``vs`` and calling the two-pass kernels. ``thr``/``lacc``/``eacc``: work buffers
    of length ``vp_idx.size + tp_idx.size``; outputs pre-filled (-1, -inf, NaN).
    """
    b, n = scores.shape
    ng = min(CHUNK, n)
    none = np.empty(0, np.int64)
    for r in prange(b):
        row = scores[r]
        v0 = vp_ptr[r]
        v1 = vp_ptr[r + 1]
        seen = vs_idx[vs_ptr[r] : vs_ptr[r + 1]]
        t0 = tp_ptr[r]
        t1 = tp_ptr[r + 1]
        base = v0 + t0
        # valid positives: validation ones first, then test ones not seen in validation
        mv = _gather(row, vp_idx[v0:v1], none, thr[base:])
        mt = _gather(row, tp_idx[t0:t1], seen, thr[base + mv :])
        m = mv + mt
        tv = thr[base : base + m]
        lv = lacc[base : base + m]
        ev = eacc[base : base + m]
        # the one pass: valid / -inf counts, group maxima, pair counts of every positive
        gmax = np.empty(ng, scores.dtype)
        gmax[:] = -np.inf
        n_valid, n_neginf = _count_pass(row, ng, tv, lv, ev, gmax)

        # test top-c without the validation-seen items; validation top-k merged from it
        skip = np.zeros(ng, np.bool_)
        for a in range(seen.size):
            skip[seen[a] % ng] = True
        ti = test_items[r]
        tsc = test_scores[r]
        ct = scan_top_k(row, gmax, skip, seen, c, ti, tsc)
        vi = val_items[r]
        vsc = val_scores[r]
        cv = 0
        for a in range(ct):
            cv = offer(vi, vsc, cv, k, tsc[a], ti[a])
        for a in range(seen.size):
            cv = offer(vi, vsc, cv, k, row[seen[a]], seen[a])

        if v1 > v0:
            val_auc[r] = _auc(_wins2(tv, lv, ev, n_neginf, 0, mv), v1 - v0, n_valid - mv)
        if t1 > t0:
            seen_wins2, n_seen_valid = _seen_pairs(row, seen, tv, mv, m)
            wins2 = _wins2(tv, lv, ev, n_neginf, mv, m) - seen_wins2
            test_auc[r] = _auc(wins2, t1 - t0, n_valid - n_seen_valid - mt)
