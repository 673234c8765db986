"""No-LLM controls on the same candidates: what any reranking of the top C is up against.

An LLM that reorders the candidates is worth its cost only if it beats reorderings that cost
nothing. For the same candidate list of each user, this module measures:

* ``baseline``: the candidates in the baseline's own order;
* ``shuffled``: the order the LLM was shown (a seeded shuffle of the baseline's);
* ``popularity``: by training-set popularity (interactions per item), most popular first,
  ties in baseline order;
* ``oracle``: the relevant candidates first (by gain, then baseline order), the rest in
  baseline order: the most any reordering of these candidates can reach, the **ceiling**.

Definitions (per user, test split; ``k`` the list length of the metrics):

* Top-k metrics (NDCG@k, recall@k, hit@k, MRR@k, AP@k) of each ordering, as in
  :func:`analysis.metrics.compute_user_metrics`.
* AUC of an ordering is that of the full ranking with the candidates on top in that order and
  every other item below in baseline score order, over all unseen items:
  ``AUC(o) = (W_in(o) + P_in * N_out + W_out) / (n_pos * n_neg)``, with ``W_in(o)`` the
  (relevant, non-relevant) pairs inside the candidates won by ``o``
  (:func:`analysis.gains.gain_report.in_set_wins`), ``P_in`` the relevant candidates, ``N_out``
  the negatives outside the candidates and ``W_out`` the pairs outside the candidates won by
  the baseline. ``P_in * N_out + W_out`` does not depend on the ordering; it is derived from
  one ordering whose AUC is known exactly (:func:`auc_offsets`).
* **Best control**: the control (``baseline``, ``shuffled``, ``popularity``) with the highest
  mean NDCG@k over the users measured; the LLM's **net gain** per user is its NDCG@k minus
  that control's, reported with a 95% t-interval of the mean and a paired Wilcoxon
  signed-rank test against the same control. Choosing the best control on the same users is
  the conservative choice: it can only lower the LLM's net gain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from analysis.gains.gain_report import in_set_wins
from analysis.metrics import compute_user_metrics, hits_matrix
from analysis.rerank.candidates import CandidateSet

if TYPE_CHECKING:
    from analysis.runs.baseline import BaselineRun

__all__ = [
    "CONTROLS",
    "PAPER_PROTOCOL_NOTE",
    "ControlReport",
    "NetGain",
    "auc_offsets",
    "bracket",
    "control_report",
    "control_orderings",
    "measure_controls",
    "measure_orderings",
    "net_gain",
    "paper_auc_offsets",
]

#: shown wherever a figure of the paper protocol is (dry run, CLI, page, report)
PAPER_PROTOCOL_NOTE = (
    "Paper protocol: an offline replication protocol (held-out items plus sampled unseen "
    "items as candidates). It hands the LLM the test items, so its gains are not deployment "
    "gains: read them against the no-LLM controls on the same candidates."
)

#: the no-LLM reorderings, in the order they are reported
CONTROLS = ("baseline", "shuffled", "popularity")
#: metrics measured for every ordering (``k`` filled in)
TOPK_METRICS = ("ndcg", "recall", "hit", "mrr", "ap")


def _order_by(items: np.ndarray, key: np.ndarray) -> np.ndarray:
    """``items`` rows reordered by ``key`` descending, ties by column (baseline position),
    padding (``-1``) kept last."""
    n, c = items.shape
    pos = np.broadcast_to(np.arange(c), (n, c))
    key = np.where(items >= 0, key, -np.inf)
    order = np.lexsort((pos, -key), axis=1) if n else np.zeros((0, c), dtype=np.int64)
    return np.take_along_axis(items, order, axis=1)


def control_orderings(
    cands: CandidateSet, popularity: np.ndarray, truth: sp.csr_matrix | None = None
) -> dict[str, np.ndarray]:
    """The candidate rows of each no-LLM ordering (and the oracle when ``truth`` is given).

    Args:
        cands: the candidate lists (``items`` in baseline order).
        popularity: float (n_items,) training interactions per item.
        truth: test relevance of ``cands.user_idx`` rows (n, n_items), gains > 0; needed
            for the oracle only.

    Returns:
        ``{"baseline", "shuffled", "popularity"[, "oracle"]}`` -> int32 (n, C) item rows,
        ``-1`` padded at the end.
    """
    items = cands.items
    out = {
        "baseline": items.astype(np.int32),
        "shuffled": cands.shown_items.astype(np.int32),
        "popularity": _order_by(items, np.asarray(popularity, np.float64)[np.maximum(items, 0)]),
    }
    if truth is not None:
        gain = _gains(items, truth)
        out["oracle"] = _order_by(items, gain)
    return {k: v.astype(np.int32) for k, v in out.items()}


def _gains(rows: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """float (n, C): the test gain of each candidate (0 when not relevant or padding)."""
    t = sp.csr_matrix(truth)
    r = np.repeat(np.arange(rows.shape[0]), rows.shape[1])
    c = np.maximum(rows.ravel(), 0)
    g = np.asarray(t[r, c]).ravel().reshape(rows.shape)
    return np.where(rows >= 0, g, 0.0)


def auc_offsets(
    anchor_rows: np.ndarray,
    anchor_auc: np.ndarray,
    truth: sp.csr_matrix,
    n_negatives: np.ndarray,
) -> np.ndarray:
    """``P_in * N_out + W_out`` per user, from one ordering of known exact AUC.

    ``offset = anchor_auc * n_pos * n_neg - W_in(anchor)``; NaN where the AUC is undefined.
    """
    n_pos = np.diff(sp.csr_matrix(truth).indptr).astype(np.float64)
    denom = n_pos * np.asarray(n_negatives, np.float64)
    return np.asarray(anchor_auc, np.float64) * denom - in_set_wins(anchor_rows, truth)


def paper_auc_offsets(
    cands: CandidateSet,
    truth: sp.csr_matrix,
    n_negatives: np.ndarray,
    excluded: sp.csr_matrix,
    scores_fn,
) -> np.ndarray:
    """``P_in * N_out + W_out`` per user when the candidates are not the baseline's top C
    (Kaur and Shah's protocol: held-out items plus sampled unseen ones).

    Every candidate is unseen, so ``N_in = valid candidates - P_in`` and
    ``N_out = n_neg - N_in``. When every relevant item is a candidate (the usual case),
    ``W_out = 0``; otherwise ``W_out`` is counted exactly from the baseline's scores of the
    items outside the candidates (excluded items and the candidates set to ``-inf``), with
    :func:`analysis.metrics.auc_from_scores` (ties count one half, as in the run's AUC).

    Args:
        excluded: (n, n_items) items that are never negatives (seen in training or
            validation), rows aligned with ``cands``.
        scores_fn: ``scores_fn(user_idx (n,), items (n, m)) -> (n, m)`` baseline scores.
    """
    from analysis.metrics import auc_from_scores

    t = sp.csr_matrix(truth)
    rows = cands.items
    p_in = relevant_in_candidates(rows, t).astype(np.float64)
    n_pos = np.diff(t.indptr).astype(np.float64)
    n_in = (rows >= 0).sum(axis=1) - p_in
    n_out = np.asarray(n_negatives, np.float64) - n_in
    w_out = np.zeros(len(rows))
    spill = np.flatnonzero(n_pos > p_in)
    if len(spill):
        n_items = t.shape[1]
        users = cands.user_idx[spill]
        scores = np.asarray(
            scores_fn(users, np.broadcast_to(np.arange(n_items), (len(spill), n_items))),
            np.float64,
        ).copy()
        ex = sp.csr_matrix(excluded)[spill].tocoo()
        scores[ex.row, ex.col] = -np.inf
        cand = rows[spill]
        r, c = np.nonzero(cand >= 0)
        scores[r, cand[r, c]] = -np.inf
        out_truth = sp.csr_matrix(t[spill], dtype=np.float64, copy=True)
        out_truth.data[:] = 1.0
        in_cands = sp.csr_matrix(
            (np.ones(len(r)), (r, cand[r, c])), shape=out_truth.shape, dtype=np.float64
        )
        out_truth = (out_truth - out_truth.multiply(in_cands > 0)).tocsr()
        out_truth.eliminate_zeros()
        auc_out = auc_from_scores(scores, out_truth)
        pairs = (n_pos[spill] - p_in[spill]) * n_out[spill]
        w_out[spill] = np.nan_to_num(auc_out) * pairs
    return p_in * n_out + w_out


def measure_orderings(
    orderings: dict[str, np.ndarray],
    truth: sp.csr_matrix,
    k: int,
    auc_offset: np.ndarray,
    n_negatives: np.ndarray,
) -> pd.DataFrame:
    """Every metric of every ordering of the same users.

    Returns:
        One row per user (the rows of ``truth``), columns ``<ordering>_<metric>`` for the
        top-k metrics (``ndcg@k``...) and ``<ordering>_auc``.
    """
    t = sp.csr_matrix(truth)
    n_pos = np.diff(t.indptr).astype(np.float64)
    denom = n_pos * np.asarray(n_negatives, np.float64)
    cols: dict[str, np.ndarray] = {}
    for name, rows in orderings.items():
        m = compute_user_metrics(rows, t, k).values
        for metric in TOPK_METRICS:
            cols[f"{name}_{metric}@{k}"] = np.asarray(m[f"{metric}@{k}"], np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = (in_set_wins(rows, t) + auc_offset) / denom
        cols[f"{name}_auc"] = np.where(denom > 0, auc, np.nan)
    return pd.DataFrame(cols)


@dataclass(frozen=True)
class NetGain:
    """The LLM's NDCG@k against the best no-LLM control on the same users.

    Attributes:
        control: the best control's name.
        n_users: users measured.
        mean: mean per-user net gain (LLM minus control).
        ci_low, ci_high: 95% t-interval of the mean (NaN with fewer than 2 users).
        wilcoxon_p: paired signed-rank test of LLM vs control (NaN when every pair ties).
        means: mean NDCG@k of the LLM, each control and the oracle (when measured).
    """

    control: str
    n_users: int
    mean: float
    ci_low: float
    ci_high: float
    wilcoxon_p: float
    means: dict

    @property
    def includes_zero(self) -> bool:
        """Whether the interval admits no gain at all (or cannot be computed)."""
        return not (self.ci_low > 0 or self.ci_high < 0)

    def to_dict(self) -> dict:
        return {
            "control": self.control,
            "n_users": self.n_users,
            "mean": self.mean,
            "ci95": [self.ci_low, self.ci_high],
            "ci_includes_zero": self.includes_zero,
            "wilcoxon_p": self.wilcoxon_p,
            "means": dict(self.means),
        }


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and its two-sided t-interval: ``mean -/+ t_{(1+level)/2, n-1} * sd / sqrt(n)``."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf((1 + level) / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, mean - half, mean + half


def net_gain(measured: pd.DataFrame, k: int, llm: str = "llm") -> NetGain:
    """The LLM's per-user NDCG@k net of the best control (see the module docstring)."""
    nd = f"ndcg@{k}"
    means = {
        name: float(measured[f"{name}_{nd}"].mean())
        for name in (llm, *CONTROLS, "oracle")
        if f"{name}_{nd}" in measured
    }
    best = max(CONTROLS, key=lambda c: (means.get(c, -np.inf), -CONTROLS.index(c)))
    diff = (measured[f"{llm}_{nd}"] - measured[f"{best}_{nd}"]).to_numpy(np.float64)
    mean, low, high = mean_ci(diff)
    p = float("nan")
    if (diff[np.isfinite(diff)] != 0).any():
        p = float(stats.wilcoxon(diff[np.isfinite(diff)], zero_method="wilcox").pvalue)
    return NetGain(best, int(np.isfinite(diff).sum()), mean, low, high, p, means)


@dataclass(frozen=True)
class ControlReport:
    """The controls (and the ceiling) measured on the users sent to the LLM.

    Attributes:
        per_user: ``user_idx`` plus :func:`measure_orderings`' columns (the users with test
            items; ``llm_*`` columns once an LLM has answered).
        net: the LLM's net gain (None before any answer: a dry run).
        k: list length.
    """

    per_user: pd.DataFrame
    net: NetGain | None
    k: int

    def summary(self) -> dict:
        """JSON-able means per ordering (every metric) and the net gain."""
        cols = [c for c in self.per_user.columns if c != "user_idx"]
        return {
            "n_users": len(self.per_user),
            "means": {c: float(self.per_user[c].mean()) for c in cols},
            "net_gain": None if self.net is None else self.net.to_dict(),
        }


def measure_controls(
    cands: CandidateSet,
    truth_rows: sp.csr_matrix,
    *,
    popularity: np.ndarray,
    k: int,
    auc_offset: np.ndarray,
    n_negatives: np.ndarray,
    llm_rows: np.ndarray | None = None,
) -> ControlReport:
    """Controls, oracle and (when given) the LLM's orderings of the same candidates.

    Args:
        cands: candidate lists of the users measured (rows of ``truth_rows``).
        truth_rows: their test relevance.
        popularity: training interactions per item.
        k: list length.
        auc_offset: :func:`auc_offsets` of these users.
        n_negatives: negatives per user (AUC denominator).
        llm_rows: the LLM pass's rows (the LLM's order, or the baseline's where it fell
            back); None in a dry run.
    """
    orderings = control_orderings(cands, popularity, truth_rows)
    if llm_rows is not None:
        orderings = {"llm": np.asarray(llm_rows, np.int32), **orderings}
    table = measure_orderings(orderings, truth_rows, k, auc_offset, n_negatives)
    table.insert(0, "user_idx", cands.user_idx.astype(np.int64))
    net = net_gain(table, k) if llm_rows is not None and len(table) else None
    return ControlReport(per_user=table, net=net, k=k)


def bracket(report: ControlReport) -> dict:
    """The free bracket of any reranking's mean NDCG@k on these candidates: the baseline
    order, the best no-LLM control (name and value) and the ceiling (the oracle)."""
    nd = f"ndcg@{report.k}"
    means = {c: float(report.per_user[f"{c}_{nd}"].mean()) for c in (*CONTROLS, "oracle")}
    best = max(CONTROLS, key=lambda c: (means[c], -CONTROLS.index(c)))
    return {
        "baseline": means["baseline"],
        "best": best,
        "best_value": means[best],
        "ceiling": means["oracle"],
    }


def relevant_in_candidates(rows: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """int (n,) relevant items among each row's candidates."""
    return hits_matrix(rows, truth, rows.shape[1]).sum(axis=1)


def control_report(
    run: BaselineRun, cands: CandidateSet, k: int, llm_rows: np.ndarray | None = None
) -> ControlReport:
    """The no-LLM controls and the oracle ceiling on ``cands`` (and the LLM's rows when
    given), measured on the test split with the run's exact AUC conventions
    (:mod:`analysis.gains.controls`)."""
    split = run.split
    truth = split.test[cands.user_idx]
    seen = (split.train + split.validation_seen).tocsr()
    seen.data[:] = 1
    n_seen = np.diff(seen.indptr)
    n_neg = (run.dataset.n_items - n_seen - np.diff(split.test.indptr))[cands.user_idx]
    popularity = np.diff(split.train.tocsc().indptr).astype(np.float64)
    if cands.protocol == "paper":
        offset = paper_auc_offsets(cands, truth, n_neg, seen[cands.user_idx], run.model.score)
    else:
        anchor = run.per_user["auc"].to_numpy(float)[cands.user_idx]
        offset = auc_offsets(cands.items, anchor, truth, n_neg)
    return measure_controls(cands, truth, popularity=popularity, k=k, auc_offset=offset,
                            n_negatives=n_neg.astype(np.float64), llm_rows=llm_rows)  # fmt: skip
