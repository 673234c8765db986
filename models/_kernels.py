"""Compiled row-scan kernels: top-k, per-row AUC pair counts, and both fused per block.

The evaluation pass runs these over every (user, item) score of a dataset, so each is a numba
kernel, parallel over rows, that reads each score once from memory: a row is cut into chunks
of :data:`CHUNK` scores (2 KB of float32, they stay in the L1 cache) and every statistic is
taken from a chunk while it is there, in loops the compiler vectorises (32-bit counters, no
branches).

* **top-k** (exact, ties broken by lower item index): the first pass keeps, for each of the
  :data:`CHUNK` residues ``g = j mod CHUNK``, the best valid score of the items ``j`` of that
  residue (an element-wise maximum of the chunks: no branch, no reduction). The k-th largest
  of these group maxima is a lower bound of the row's k-th best score (they are k distinct
  items), so only items scoring at least that bound can be in the top k, and they lie in the
  few groups whose maximum reaches it; only those groups are scanned again (from cache),
  chunk by chunk, so in item order: an item enters only if it beats the list's k-th score
  strictly, so among equal scores the lower item index (seen first) wins. ``-inf`` and NaN
  never enter. When most groups reach the bound (heavy ties, e.g. rows of zeros), the row is
  scanned plainly instead, skipping runs of :data:`RUN` scores none of which beats the k-th.
* **AUC pair counts**: the row's positives that have a valid score are gathered first (they
  are few); for each chunk and each of them one vectorised pass counts the scores strictly
  below and equal, plus the valid and ``-inf`` scores. Integer counts, so the result does not
  depend on the order of the additions.
* **evaluation block**: both splits of ``evaluate`` from the same single pass. The test
  split's extra exclusions (the validation items) are not written into the block: their
  pairs are subtracted from the counts, their groups do not vouch for the bound and are
  scanned with a membership test, and the validation top-k is merged from the test top-C and
  the validation items (``k <= C``: any other validation top-k item is in the test top-k)
  under the total order (score descending, item ascending).

Everything lives in this one file on purpose: numba's on-disk cache (``cache=True``) checks
only the file of the function it caches, so a kernel here never runs with a stale copy of a
helper from another file.

Public wrappers: :func:`models.topk.topk_rows`, :func:`analysis.metrics.auc_from_scores`, and
the evaluation pass :func:`analysis.metrics.evaluate.evaluate_recommender`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: scores per chunk of a row, and number of residue groups of the top-k bound
CHUNK = 512
#: scores per "does any beat the k-th?" test of a plain top-k scan
RUN = 32


@njit(inline="always")
def _offer(items, sc, cnt, k, s, j):  # pragma: no cover - compiled
    """Put item ``j`` scored ``s`` into the buffer sorted by (score desc, item asc) if it
    belongs to the top ``k`` so far; returns the new fill count. ``-inf``/NaN never enter."""
    if cnt < k:
        if not (s > -np.inf):
            return cnt
        pos = cnt
        cnt += 1
    else:
        t = sc[k - 1]
        if not (s > t or (j < items[k - 1] and s == t)):
            return cnt
        pos = k - 1
    while pos > 0 and (sc[pos - 1] < s or (sc[pos - 1] == s and items[pos - 1] > j)):
        sc[pos] = sc[pos - 1]
        items[pos] = items[pos - 1]
        pos -= 1
    sc[pos] = s
    items[pos] = j
    return cnt


@njit(inline="always")
def _insert(items, sc, cnt, k, s, j):  # pragma: no cover - compiled
    """Insert item ``j`` scored ``s``, which belongs to the top ``k``, visited in item order
    (it goes after every equal score already there); returns the new fill count."""
    if cnt < k:
        pos = cnt
        cnt += 1
    else:
        pos = k - 1
    while pos > 0 and sc[pos - 1] < s:
        sc[pos] = sc[pos - 1]
        items[pos] = items[pos - 1]
        pos -= 1
    sc[pos] = s
    items[pos] = j
    return cnt


@njit(inline="always")
def _any_above(ch, bar):  # pragma: no cover - compiled
    """Whether some score of the chunk is ``> bar`` (NaN never is)."""
    h = np.int32(0)
    one = np.int32(1)
    zero = np.int32(0)
    for j in range(ch.size):
        h = np.int32(h + (one if ch[j] > bar else zero))
    return h > 0


@njit(inline="always")
def _group_max(ch, gmax):  # pragma: no cover - compiled
    """``gmax[j] = max(gmax[j], ch[j])`` over valid scores (NaN never wins)."""
    for j in range(ch.size):
        v = ch[j]
        m = gmax[j]
        gmax[j] = v if v > m else m  # noqa: FURB136 - explicit select: NaN never wins


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
def _valid_counts_max(ch, gmax):  # pragma: no cover - compiled
    """:func:`_group_max` plus (# scores > -inf, # scores == -inf) of the chunk."""
    nv = np.int32(0)
    ni = np.int32(0)
    one = np.int32(1)
    zero = np.int32(0)
    for j in range(ch.size):
        v = ch[j]
        nv = np.int32(nv + (one if v > -np.inf else zero))
        ni = np.int32(ni + (one if v == -np.inf else zero))
        m = gmax[j]
        gmax[j] = v if v > m else m  # noqa: FURB136 - explicit select: NaN never wins
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
def _bound(gmax, skip, k):  # pragma: no cover - compiled
    """The k-th largest ``gmax[g]`` over groups not in ``skip`` (``-inf`` if fewer than k are
    valid): k distinct items score at least this, so the k-th best score is no lower."""
    buf = np.empty(k, gmax.dtype)
    buf[:] = -np.inf
    kth = buf[0]
    cnt = 0
    for g in range(gmax.size):
        v = gmax[g]
        if v > kth and not skip[g]:
            if cnt < k:
                pos = cnt
                cnt += 1
            else:
                pos = k - 1
            while pos > 0 and buf[pos - 1] < v:
                buf[pos] = buf[pos - 1]
                pos -= 1
            buf[pos] = v
            if cnt == k:
                kth = buf[k - 1]
    return kth


@njit(inline="always")
def _member(idx, j):  # pragma: no cover - compiled
    """Whether ``j`` is in the sorted ``idx`` (binary search)."""
    lo = 0
    hi = idx.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if idx[mid] < j:
            lo = mid + 1
        else:
            hi = mid
    return lo < idx.size and idx[lo] == j


@njit(inline="always")
def _scan_row(row, ng, bound, skip, excluded, k, items, sc):  # pragma: no cover - compiled
    """:func:`_scan_groups` for rows where most groups reach the bound (heavy ties): every
    item in order, runs of :data:`RUN` scores skipped when none beats the full list's k-th."""
    n = row.size
    cnt = 0
    kth = bound
    for c0 in range(0, n, RUN):
        ch = row[c0 : min(c0 + RUN, n)]
        if cnt == k and not _any_above(ch, kth):
            continue
        for i in range(ch.size):
            s = ch[i]
            j = c0 + i
            if cnt < k:
                if not (s >= bound and s > -np.inf):
                    continue
            elif not (s > kth):
                continue
            if skip[j % ng] and _member(excluded, j):
                continue
            cnt = _insert(items, sc, cnt, k, s, j)
            if cnt == k:
                kth = sc[k - 1]
    return cnt


@njit(inline="always")
def _scan_groups(row, gmax, skip, excluded, k, items, sc):  # pragma: no cover - compiled
    """Top-k of ``row`` minus the sorted ``excluded`` items, given the group maxima (over
    the row, excluded items included) and ``skip`` (groups holding an excluded item).

    The groups that reach the bound are visited chunk by chunk, so items come in index
    order: a tie with the k-th score never enters, and a row of ties (many groups at the
    bound) costs one plain scan."""
    n = row.size
    ng = gmax.size
    bound = _bound(gmax, skip, k)
    sel = np.empty(ng, np.int64)
    n_sel = 0
    for g in range(ng):
        mg = gmax[g]
        if mg >= bound and mg > -np.inf:
            sel[n_sel] = g
            n_sel += 1
    if 2 * n_sel > ng:  # the bound prunes little (ties): one plain scan is cheaper
        return _scan_row(row, ng, bound, skip, excluded, k, items, sc)
    cnt = 0
    kth = bound  # once the list is full: its k-th score, never below the bound
    for c0 in range(0, n, ng):
        for a in range(n_sel):
            g = sel[a]
            j = c0 + g
            if j >= n:
                break
            s = row[j]
            if cnt < k:
                if not (s >= bound and s > -np.inf):
                    continue
            elif not (s > kth):  # item order: a tie with the k-th score never enters
                continue
            if skip[g] and _member(excluded, j):
                continue
            cnt = _insert(items, sc, cnt, k, s, j)
            if cnt == k:
                kth = sc[k - 1]
    return cnt


@njit(parallel=True, cache=True)
def topk_kernel(scores, k, out_items, out_scores):  # pragma: no cover - compiled
    """Per row of ``scores``: the top ``k >= 1`` into ``out_items``/``out_scores``, which
    come pre-filled with -1 / -inf (the padding where fewer items are valid)."""
    b, n = scores.shape
    ng = min(CHUNK, n)
    none = np.empty(0, np.int64)
    for r in prange(b):
        row = scores[r]
        gmax = np.empty(ng, scores.dtype)
        gmax[:] = -np.inf
        c0 = 0
        while c0 < n:
            c1 = min(c0 + ng, n)
            _group_max(row[c0:c1], gmax)  # a view indexed from 0: the loop vectorises
            c0 = c1
        _scan_groups(row, gmax, np.zeros(ng, np.bool_), none, k, out_items[r], out_scores[r])


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


@njit(parallel=True, cache=True)
def auc_kernel(scores, indptr, indices, thr, lacc, eacc, out):  # pragma: no cover - compiled
    """Per row: AUC of the positives ``indices[indptr[r]:indptr[r+1]]`` against every other
    item scored > -inf, from integer pair counts. ``thr`` (row dtype), ``lacc``/``eacc``
    (int64) are work buffers of length ``indices.size``."""
    b, n = scores.shape
    for r in prange(b):
        p0 = indptr[r]
        p1 = indptr[r + 1]
        if p1 == p0:
            out[r] = np.nan
            continue
        row = scores[r]
        m = 0  # positives scored > -inf; a positive scored -inf/NaN wins no pair
        for a in range(p0, p1):
            t = row[indices[a]]
            if t > -np.inf:
                thr[p0 + m] = t
                m += 1
        tv = thr[p0 : p0 + m]
        lv = lacc[p0 : p0 + m]
        ev = eacc[p0 : p0 + m]
        lv[:] = 0
        ev[:] = 0
        n_valid = 0
        n_neginf = 0
        c0 = 0
        while c0 < n:
            c1 = min(c0 + CHUNK, n)
            ch = row[c0:c1]
            nv, ni = _valid_counts(ch)
            n_valid += nv
            n_neginf += ni
            for p in range(m):
                lo, eq = _below_equal(ch, tv[p])
                lv[p] += lo
                ev[p] += eq
            c0 = c1
        wins2 = _wins2(tv, lv, ev, n_neginf, 0, m)
        n_neg = n_valid - m
        out[r] = wins2 / (2.0 * (p1 - p0) * n_neg) if n_neg > 0 else np.nan


@njit(parallel=True, cache=True)
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
    for r in prange(b):
        row = scores[r]
        v0 = vp_ptr[r]
        v1 = vp_ptr[r + 1]
        seen = vs_idx[vs_ptr[r] : vs_ptr[r + 1]]
        t0 = tp_ptr[r]
        t1 = tp_ptr[r + 1]
        base = v0 + t0
        # valid positives: validation ones first, then test ones not seen in validation
        mv = 0
        for a in range(v0, v1):
            x = row[vp_idx[a]]
            if x > -np.inf:
                thr[base + mv] = x
                mv += 1
        mt = 0
        for a in range(t0, t1):
            j = tp_idx[a]
            x = row[j]
            if x > -np.inf and not _member(seen, j):
                thr[base + mv + mt] = x
                mt += 1
        m = mv + mt
        tv = thr[base : base + m]
        lv = lacc[base : base + m]
        ev = eacc[base : base + m]
        lv[:] = 0
        ev[:] = 0

        # the one pass: valid / -inf counts, group maxima, pair counts of every positive
        gmax = np.empty(ng, scores.dtype)
        gmax[:] = -np.inf
        n_valid = 0
        n_neginf = 0
        c0 = 0
        while c0 < n:
            c1 = min(c0 + ng, n)
            ch = row[c0:c1]
            nv, ni = _valid_counts_max(ch, gmax)
            n_valid += nv
            n_neginf += ni
            for p in range(m):
                lo, eq = _below_equal(ch, tv[p])
                lv[p] += lo
                ev[p] += eq
            c0 = c1

        # test top-c without the validation-seen items; validation top-k merged from it
        skip = np.zeros(ng, np.bool_)
        for a in range(seen.size):
            skip[seen[a] % ng] = True
        ti = test_items[r]
        tsc = test_scores[r]
        ct = _scan_groups(row, gmax, skip, seen, c, ti, tsc)
        vi = val_items[r]
        vsc = val_scores[r]
        cv = 0
        for a in range(ct):
            cv = _offer(vi, vsc, cv, k, tsc[a], ti[a])
        for a in range(seen.size):
            cv = _offer(vi, vsc, cv, k, row[seen[a]], seen[a])

        if v1 > v0:
            wins2 = _wins2(tv, lv, ev, n_neginf, 0, mv)
            n_neg = n_valid - mv
            val_auc[r] = wins2 / (2.0 * (v1 - v0) * n_neg) if n_neg > 0 else np.nan
        if t1 > t0:
            wins2 = _wins2(tv, lv, ev, n_neginf, mv, m)
            n_seen_valid = 0
            for a in range(seen.size):  # validation-seen items are no negatives of the test
                v = row[seen[a]]
                if v > -np.inf:
                    n_seen_valid += 1
                    for p in range(mv, m):
                        t = tv[p]
                        wins2 -= 2 * (v < t) + (v == t)
            n_neg = n_valid - n_seen_valid - mt
            test_auc[r] = wins2 / (2.0 * (t1 - t0) * n_neg) if n_neg > 0 else np.nan
