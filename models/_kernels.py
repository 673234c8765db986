"""Compiled top-k of dense score rows, and the building blocks other kernels reuse.

The top-k runs over every (user, item) score of a dataset, so it is a numba kernel, parallel
over rows, that reads each score once from memory: a row is cut into chunks of :data:`CHUNK`
scores (2 KB of float32, they stay in the L1 cache), in loops the compiler vectorises (32-bit
counters, no branches).

Exact, ties broken by lower item index: the first pass keeps, for each of the :data:`CHUNK`
residues ``g = j mod CHUNK``, the best valid score of the items ``j`` of that residue (an
element-wise maximum of the chunks: no branch, no reduction). The k-th largest of these group
maxima is a lower bound of the row's k-th best score (they are k distinct items), so only
items scoring at least that bound can be in the top k, and they lie in the few groups whose
maximum reaches it; only those groups are scanned again (from cache), chunk by chunk, so in
item order: an item enters only if it beats the list's k-th score strictly, so among equal
scores the lower item index (seen first) wins. ``-inf`` and NaN never enter. When most groups
reach the bound (heavy ties, e.g. rows of zeros), the row is scanned plainly instead, skipping
runs of :data:`RUN` scores none of which beats the k-th.

:func:`scan_top_k` also skips a sorted list of excluded items, and :func:`offer` merges
items into a sorted list under the same order, so the evaluation kernel
(``analysis/metrics/_kernels.py``) inlines them, through :mod:`models.topk`; its numba cache
also checks this file, so it never runs with a stale copy of them.

Public wrapper: :func:`models.topk.topk_rows`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: scores per chunk of a row, and number of residue groups of the top-k bound
CHUNK = 512
#: scores per "does any beat the k-th?" test of a plain top-k scan
RUN = 32


@njit(inline="always")
def _place(items, sc, cnt, k, s, j):  # pragma: no cover - compiled
    """Put item ``j`` scored ``s``, known to belong to the top ``k``, into the buffer sorted by
    (score desc, item asc), dropping its last entry when full; returns the new fill count."""
    if cnt < k:
        pos = cnt
        cnt += 1
    else:
        pos = k - 1
    while pos > 0 and (sc[pos - 1] < s or (sc[pos - 1] == s and items[pos - 1] > j)):
        sc[pos] = sc[pos - 1]
        items[pos] = items[pos - 1]
        pos -= 1
    sc[pos] = s
    items[pos] = j
    return cnt


@njit(inline="always")
def offer(items, sc, cnt, k, s, j):  # pragma: no cover - compiled
    """Put item ``j`` scored ``s`` into the buffer sorted by (score desc, item asc) if it
    belongs to the top ``k`` so far; returns the new fill count. ``-inf``/NaN never enter."""
    if cnt < k:
        if not (s > -np.inf):
            return cnt
    else:
        t = sc[k - 1]
        if not (s > t or (j < items[k - 1] and s == t)):
            return cnt
    return _place(items, sc, cnt, k, s, j)


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
def group_max(ch, gmax):  # pragma: no cover - compiled
    """``gmax[j] = max(gmax[j], ch[j])`` over valid scores (NaN never wins)."""
    for j in range(ch.size):
        v = ch[j]
        m = gmax[j]
        gmax[j] = v if v > m else m  # noqa: FURB136 - explicit select: NaN never wins


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
def is_member(idx, j):  # pragma: no cover - compiled
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
def _visit(s, j, skip, excluded, bound, kth, k, items, sc, cnt):  # pragma: no cover
    """Item ``j`` scored ``s`` of a scan in item order: it enters if it beats the list's k-th
    score (while the list fills: reaches the bound) and is not excluded (looked up only when
    its group ``j mod skip.size`` holds an excluded item); returns (fill count, k-th)."""
    if cnt < k:
        if not (s >= bound and s > -np.inf):
            return cnt, kth
    elif not (s > kth):  # item order: a tie with the k-th score never enters
        return cnt, kth
    if skip[j % skip.size] and is_member(excluded, j):
        return cnt, kth
    cnt = _place(items, sc, cnt, k, s, j)
    if cnt == k:
        kth = sc[k - 1]
    return cnt, kth


@njit(inline="always")
def _scan_row(row, bound, skip, excluded, k, items, sc):  # pragma: no cover - compiled
    """:func:`scan_top_k` for rows where most groups reach the bound (heavy ties): every
    item in order, runs of :data:`RUN` scores skipped when none beats the full list's k-th."""
    n = row.size
    cnt = 0
    kth = bound
    for c0 in range(0, n, RUN):
        ch = row[c0 : min(c0 + RUN, n)]
        if cnt == k and not _any_above(ch, kth):
            continue
        for i in range(ch.size):
            cnt, kth = _visit(ch[i], c0 + i, skip, excluded, bound, kth, k, items, sc, cnt)
    return cnt


@njit(inline="always")
def scan_top_k(row, gmax, skip, excluded, k, items, sc):  # pragma: no cover - compiled
    """Top-k of ``row`` minus the sorted ``excluded`` items, given the group maxima (over
    the row, excluded items included) and ``skip`` (groups holding an excluded item), into
    ``items``/``sc`` (pre-filled -1 / -inf); returns how many entered.

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
        return _scan_row(row, bound, skip, excluded, k, items, sc)
    cnt = 0
    kth = bound  # once the list is full: its k-th score, never below the bound
    for c0 in range(0, n, ng):
        for a in range(n_sel):
            g = sel[a]
            j = c0 + g
            if j >= n:
                break
            cnt, kth = _visit(row[j], j, skip, excluded, bound, kth, k, items, sc, cnt)
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
            group_max(row[c0:c1], gmax)  # a view indexed from 0: the loop vectorises
            c0 = c1
        scan_top_k(row, gmax, np.zeros(ng, np.bool_), none, k, out_items[r], out_scores[r])
