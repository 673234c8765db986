"""Gains vs cost, part 2: merge the LLM's rankings into the baseline's and measure them.

Hybrid merge: weak users whose LLM answer was usable take the LLM's ranking of their
candidates; everyone else (and every weak user that fell back) keeps the baseline's.
Everything is measured on the **test** split, while the weak users were chosen on the
validation split.

Definitions (per user, test split, k = list length):

* ``gain = after - before`` for each metric (NDCG@k, recall@k, hit@k, MRR@k, AP@k, AUC).
* ``auc`` after reranking is exact: reordering the top C only changes the order of pairs
  inside the candidate set (all C still rank above every other item), so
  ``auc_after = auc_before + (W_after - W_before) / (n_pos * n_neg)`` where ``W`` counts
  (relevant, non-relevant) pairs inside the candidate set with the relevant one ranked
  higher, and ``n_neg`` is the number of items the user could be recommended that are not
  relevant.
* **Weak users remaining** (Kaur & Shah's headline): users whose test value of the rule's
  metric is at or below the rule's threshold, before vs after; reported for the selected
  users and for all evaluated users.
* **Paired test**: Wilcoxon signed-rank on the selected users' NDCG@k (after vs before).
* **Cost per +0.01 mean NDCG**: total dollars / (mean NDCG@k gain over all evaluated
  users / 0.01); infinite when the gain is not positive.
* **Cost-benefit curve**: for thresholds up to the one used, the users at or below each
  threshold are a subset of those reranked, so every point comes from the same answers:
  no extra calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from analysis.metrics import compute_user_metrics, hits_matrix
from analysis.subgroups import group_codes

__all__ = ["GainReport", "evaluate_gains", "in_set_wins"]

NOT_RECOMPUTED = (
    "{metric} after reranking is not computed (it needs the full order of every held-out "
    "item): weak users remaining are counted before reranking only"
)


@dataclass(frozen=True)
class GainReport:
    """Before/after figures of one rerank job.

    Attributes:
        per_user: one row per evaluated user: ``user_idx``, ``selected`` (weak on
            validation), ``reranked`` (LLM ranking used), ``cost_usd``, and
            ``before_<m>``, ``after_<m>``, ``gain_<m>`` for each metric.
        headline: headline figures (JSON-able; the ``gains`` block of
            ``rerank_summary.json``), see the module docstring.
        by_group: per subgroup dimension and group: ``n_users``, ``n_selected``,
            ``mean_before``, ``mean_after``, ``mean_gain`` (all users of the group) and
            ``mean_gain_selected`` (NDCG@k).
        curve: per threshold: ``threshold``, ``n_users``, ``share``, ``mean_ndcg``
            (hybrid, all evaluated users), ``gain``, ``cost_usd``, ``usd_per_0.01``.
    """

    per_user: pd.DataFrame
    headline: dict
    by_group: pd.DataFrame
    curve: pd.DataFrame

    @property
    def n_evaluated(self) -> int:
        return int(self.headline["n_evaluated"])

    @property
    def total_cost_usd(self) -> float:
        return float(self.headline["total_cost_usd"])


def in_set_wins(rankings: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """Per row: pairs (relevant, non-relevant) inside the ranked list, relevant ranked higher.

    ``W = sum over relevant ranks r of #(non-relevant, non-padding items at ranks > r)``.
    """
    c = rankings.shape[1]
    hit = hits_matrix(rankings, truth, c)
    neg = (rankings >= 0) & ~hit
    below = np.cumsum(neg[:, ::-1], axis=1)[:, ::-1]  # negatives at ranks >= r
    below = np.concatenate([below[:, 1:], np.zeros((len(below), 1), below.dtype)], axis=1)
    return (hit * below).sum(axis=1).astype(np.float64)


def _ndcg_col(k: int) -> str:
    return f"ndcg@{k}"


def evaluate_gains(
    per_user: pd.DataFrame,
    truth: sp.csr_matrix,
    baseline: np.ndarray,
    hybrid: np.ndarray,
    *,
    selected: np.ndarray,
    reranked: np.ndarray,
    cost_usd: np.ndarray,
    k: int,
    n_negatives: np.ndarray | None = None,
    auc_after: np.ndarray | None = None,
    rule_metric: str,
    rule_threshold: float,
    rule_validation: np.ndarray,
    dimensions: Sequence[str] = (),
) -> GainReport:
    """Measure the hybrid rankings against the baseline's on the test split.

    Args:
        per_user: the run's per-user table (index = user_idx, all users), with ``evaluated``,
            ``auc`` and the subgroup columns.
        truth: test relevance (n_users x n_items).
        baseline: int32 (n_users, C) baseline rankings.
        hybrid: int32 (n_users, C) rankings after the merge (baseline rows where not reranked).
        selected: bool (n_users) weak users sent to the LLM.
        reranked: bool (n_users) users whose LLM ranking was used.
        cost_usd: float (n_users) dollars spent per user (0 for the others).
        k: list length of the metrics.
        n_negatives: float (n_users) non-relevant items each user could be shown: with it,
            AUC after is ``auc + (W_after - W_before) / (n_pos * n_neg)`` (valid when the
            rows reorder the baseline's own top C).
        auc_after: float (n_users) exact AUC of the merged rankings, computed by the caller
            (:mod:`analysis.gains.controls`); wins over ``n_negatives``.
        rule_metric: the weak rule's metric (``auc`` or ``ndcg@k``).
        rule_threshold: the rule's resolved threshold.
        rule_validation: float (n_users) the rule's validation metric (for the curve).
        dimensions: subgroup columns of ``per_user`` for the per-group table.
    """
    ev = per_user["evaluated"].to_numpy(bool)
    users = np.flatnonzero(ev)
    t = truth[users]
    before = compute_user_metrics(baseline[users], t, k).values
    after = compute_user_metrics(hybrid[users], t, k).values
    names = [f"ndcg@{k}", f"recall@{k}", f"hit@{k}", f"mrr@{k}", f"ap@{k}"]
    out = {
        "user_idx": users.astype(np.int32),
        "user_id": per_user["user_id"].to_numpy()[users],
        "selected": selected[users],
        "reranked": reranked[users],
        "cost_usd": cost_usd[users],
    }
    for m in names:
        out[f"before_{m}"] = before[m]
        out[f"after_{m}"] = after[m]
        out[f"gain_{m}"] = after[m] - before[m]
    auc_before = per_user["auc"].to_numpy(float)[users]
    if auc_after is not None:
        delta_auc = np.asarray(auc_after, np.float64)[users] - auc_before
        delta_auc = np.where(np.isfinite(delta_auc), delta_auc, 0.0)  # undefined AUC: no gain
    else:
        n_pos = before["n_relevant"]
        denom = n_pos * np.asarray(n_negatives, np.float64)[users]
        with np.errstate(divide="ignore", invalid="ignore"):
            delta_auc = (in_set_wins(hybrid[users], t) - in_set_wins(baseline[users], t)) / denom
        delta_auc = np.where(denom > 0, delta_auc, 0.0)
    out["before_auc"] = auc_before
    out["after_auc"] = auc_before + delta_auc
    out["gain_auc"] = delta_auc
    table = pd.DataFrame(out)

    nd = _ndcg_col(k)
    sel = table["selected"].to_numpy()
    gain_all = float(table[f"gain_{nd}"].mean()) if len(table) else float("nan")
    total_cost = float(cost_usd.sum())
    diffs = table.loc[sel, f"gain_{nd}"].to_numpy()
    if (diffs != 0).sum() >= 1:
        w = stats.wilcoxon(diffs, zero_method="wilcox")
        w_stat, w_p = float(w.statistic), float(w.pvalue)
    else:
        w_stat, w_p = float("nan"), float("nan")

    metric_before = f"before_{rule_metric}"
    metric_after = f"after_{rule_metric}"
    if metric_after in table:
        weak_before = table[metric_before].to_numpy() <= rule_threshold
        weak_after = table[metric_after].to_numpy() <= rule_threshold
    else:  # a rule on a metric the merge does not recompute (auc@heldout): before only
        nan = pd.Series(np.nan, index=per_user.index)
        col = per_user[rule_metric] if rule_metric in per_user else nan
        weak_before = col.to_numpy(float)[users] <= rule_threshold
        weak_after = None
    n_sel = int(sel.sum())
    remaining = _weak_remaining(rule_metric, rule_threshold, sel, weak_before, weak_after)
    headline = {
        "k": int(k),
        "n_evaluated": len(table),
        "n_selected": n_sel,
        "n_reranked": int(table["reranked"].sum()),
        "n_fallback": int(n_sel - table.loc[sel, "reranked"].sum()),
        "mean_before": {m: float(table[f"before_{m}"].mean()) for m in [*names, "auc"]},
        "mean_after": {m: float(table[f"after_{m}"].mean()) for m in [*names, "auc"]},
        "mean_gain_all": {m: float(table[f"gain_{m}"].mean()) for m in [*names, "auc"]},
        "mean_gain_selected": {
            m: float(table.loc[sel, f"gain_{m}"].mean()) if n_sel else None for m in [*names, "auc"]
        },
        "wilcoxon_statistic": w_stat,
        "wilcoxon_p": w_p,
        "weak_remaining": remaining,
        "total_cost_usd": total_cost,
        "cost_per_selected_user_usd": total_cost / n_sel if n_sel else None,
        "cost_per_0.01_ndcg_usd": (total_cost / (gain_all / 0.01)) if gain_all > 0 else None,
    }

    by_group = _by_group(table, per_user, dimensions, nd)
    curve = _curve(table, rule_validation[users], rule_threshold, nd)
    return GainReport(per_user=table, headline=headline, by_group=by_group, curve=curve)


def _weak_remaining(metric: str, threshold: float, sel: np.ndarray, before: np.ndarray,
                    after: np.ndarray | None) -> dict:
    """Weak users (rule value <= threshold on test) before and after the merge, among the
    selected users and among all; ``after`` None: the rule's metric is not recomputed."""
    known = after is not None
    out = {
        "metric": metric,
        "threshold": float(threshold),
        "selected_before": int((before & sel).sum()),
        "selected_after": int((after & sel).sum()) if known else None,
        "all_before": int(before.sum()),
        "all_after": int(after.sum()) if known else None,
        "note": None if known else NOT_RECOMPUTED.format(metric=metric),
    }
    out["reduction_selected"] = (1 - out["selected_after"] / out["selected_before"]
                                 if known and out["selected_before"] else None)
    out["reduction_all"] = (1 - out["all_after"] / out["all_before"]
                            if known and out["all_before"] else None)
    return out


def _by_group(table: pd.DataFrame, per_user: pd.DataFrame, dims: Sequence[str], nd: str):
    frames = []
    users = table["user_idx"].to_numpy()
    sel = table["selected"].to_numpy()
    gain = table[f"gain_{nd}"].to_numpy()
    before = table[f"before_{nd}"].to_numpy()
    after = table[f"after_{nd}"].to_numpy()
    for dim in dims:
        codes, labels = group_codes(per_user[dim].iloc[users] if len(per_user) else per_user[dim])
        g = len(labels)
        n = np.bincount(codes, minlength=g)
        n_sel = np.bincount(codes, weights=sel, minlength=g)
        with np.errstate(invalid="ignore", divide="ignore"):
            frames.append(
                pd.DataFrame(
                    {
                        "dimension": dim,
                        "group": labels,
                        "n_users": n,
                        "n_selected": n_sel.astype(int),
                        "mean_before": np.bincount(codes, weights=before, minlength=g) / n,
                        "mean_after": np.bincount(codes, weights=after, minlength=g) / n,
                        "mean_gain": np.bincount(codes, weights=gain, minlength=g) / n,
                        "mean_gain_selected": np.bincount(codes, weights=gain * sel, minlength=g)
                        / n_sel,
                    }
                )
            )
    cols = [
        "dimension",
        "group",
        "n_users",
        "n_selected",
        "mean_before",
        "mean_after",
        "mean_gain",
        "mean_gain_selected",
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)


def _curve(table: pd.DataFrame, val: np.ndarray, threshold: float, nd: str) -> pd.DataFrame:
    sel = table["selected"].to_numpy()
    n_all = len(table)
    v = val[sel]
    order = np.argsort(v, kind="stable")
    v = v[order]
    gains = table[f"gain_{nd}"].to_numpy()[sel][order]
    costs = table["cost_usd"].to_numpy()[sel][order]
    cum_gain = np.concatenate([[0.0], np.cumsum(gains)])
    cum_cost = np.concatenate([[0.0], np.cumsum(costs)])
    base_mean = float(table[f"before_{nd}"].mean()) if n_all else float("nan")
    if len(v):
        thresholds = np.unique(np.concatenate([np.quantile(v, np.linspace(0, 1, 21)), [threshold]]))
    else:
        thresholds = np.array([threshold])
    thresholds = thresholds[thresholds <= threshold]
    counts = np.searchsorted(v, thresholds, side="right")
    gain = cum_gain[counts] / n_all if n_all else np.full(len(counts), np.nan)
    cost = cum_cost[counts]
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(gain > 0, cost / (gain / 0.01), np.inf)
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "n_users": counts,
            "share": counts / n_all if n_all else np.nan,
            "mean_ndcg": base_mean + gain,
            "gain": gain,
            "cost_usd": cost,
            "usd_per_0.01": per,
        }
    )
