"""A remedy without any per-request LLM call: a content-aware score blended into the baseline,
for the target users only (the weak users of the run's rule, or the inactive ones), with the
blend weight chosen on validation and judged once on test.

Definitions, for a target user ``u`` with training items ``I_u`` and item vectors ``e_i`` (any
encoder of :mod:`analysis.embeddings`; rows L2-normalised here, a zero vector stays zero):

* profile ``p_u = mean_{i in I_u} e_i``; content score ``c_ui = cos(p_u, e_i)`` (0 when ``p_u``
  or ``e_i`` is the zero vector);
* both score rows are standardised over the items the ranking may return (the masked ones
  excluded): ``z(x)_i = (x_i - mean) / std`` (``std = 0``: every ``z`` is 0);
* blended score ``s_ui(w) = (1 - w) z(b_u)_i + w z(c_u)_i`` with ``b_u`` the baseline's scores;
  ``w = 0`` is the baseline's own ranking (same order, ties to the lower item index).

The weight is the grid value with the best mean validation NDCG@k over the target users that
have validation items (training items masked, as the run's validation pass does); ties go to
the smaller weight, so a blend that does not help stays the baseline. A non-zero weight is
kept only when its validation gain over ``w = 0`` is established: the lower end of the 95%
t-interval of the paired per-user differences is above 0; otherwise the blend is ``w = 0``
(the baseline's lists), and the weight that scored best is recorded as unproven. A remedy
does not reorder anyone's list on a gain it cannot show on validation. Test rankings mask the
training and validation items (the run's test convention), so "before" equals the run's own
per-user test NDCG@k. Every other user keeps the baseline ranking: gain 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analysis.embeddings.embed import encoder_label
from analysis.errors import AnalysisError
from analysis.gains.controls import mean_ci
from analysis.metrics import auc_from_scores, compute_user_metrics
from analysis.remedies.targets import select_targets
from analysis.runs.baseline import BaselineRun
from analysis.runs.remedy import RemedyRun, RemedySummary
from models.topk import batch_size_for, mask_rows, topk_rows

__all__ = ["DEFAULT_WEIGHTS", "ContentBlend", "blend_content", "content_scores"]

#: the weights tried on validation (0 = the baseline)
DEFAULT_WEIGHTS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))

BAD_VECTORS = (
    "The item vectors have {rows:,} rows for a dataset of {n_items:,} items: embed this "
    "dataset's items (one vector per item)."
)
BAD_WEIGHTS = "Blend weights must lie in [0, 1] and include at least one value, got {weights!r}."
NO_TARGET_USERS = "No {target} user with validation items to choose the blend weight on."


@dataclass(frozen=True)
class ContentBlend:
    """The blend chosen on validation and judged on test.

    Attributes:
        target: which users got the blend (:data:`analysis.remedies.targets.TARGETS`).
        weight: the weight chosen on validation.
        grid: ``weight``, ``val_ndcg@k`` (mean over target users with validation items),
            ``n_users``.
        per_user: one row per target user with test items: ``user_idx``, then
            ``before_<m>``, ``after_<m>``, ``gain_<m>`` for ``ndcg@k``, ``recall@k``,
            ``hit@k`` and ``auc`` (over the items the list may show; before: the run's).
        k: the list length.
        n_evaluated: users of the run with test items (the "everyone" denominator).
        topk: int ``(len(per_user), k)``: each target user's test list after the blend.
        n_target: target users, with or without test items.
        unproven_weight: the weight with the best validation mean when its gain over ``w = 0``
            was not established (the blend then keeps ``w = 0``); None otherwise.
    """

    target: str
    weight: float
    grid: pd.DataFrame
    per_user: pd.DataFrame
    k: int
    n_evaluated: int
    topk: np.ndarray | None = None
    n_target: int = 0
    unproven_weight: float | None = None

    @property
    def mean_gain_target(self) -> float:
        """Mean test NDCG@k gain over the target users with test items."""
        return float(self.per_user[f"gain_ndcg@{self.k}"].mean())

    @property
    def gain_ci95(self) -> tuple[float, float]:
        """95% t-interval of the target users' mean test gain (paired: after minus before of
        each user, :func:`analysis.gains.controls.mean_ci`)."""
        _, low, high = mean_ci(self.per_user[f"gain_ndcg@{self.k}"].to_numpy())
        return low, high

    @property
    def mean_gain_all(self) -> float:
        """Mean test NDCG@k gain over every evaluated user (the others gain 0)."""
        return float(self.per_user[f"gain_ndcg@{self.k}"].sum() / max(self.n_evaluated, 1))

    def remedy_run(self, *, encoder: str, uses_llm: bool, one_off_usd: float,
                   seed: int = 0, wall_s: float | None = None) -> RemedyRun:
        """This blend as a :class:`~analysis.runs.remedy.RemedyRun` (what the comparison of
        remedies reads). A blend over an LLM encoder's vectors is measured against the blend
        over a no-LLM encoder's (TF-IDF): its ``control`` is ``content_blend`` with
        ``uses_llm`` false."""
        chosen = self.grid.set_index("weight")[f"val_ndcg@{self.k}"]
        who = self.target.replace("_", " ")
        summary = RemedySummary(
            kind="content_blend", label=f"content blend ({encoder_label(encoder)}, {who} users)",
            uses_llm=uses_llm, control="content_blend" if uses_llm else None,
            target=self.target, k=self.k, n_target=self.n_target,
            n_evaluated=self.n_evaluated, one_off_usd=one_off_usd, per_user_usd=0.0,
            encoder=encoder, settings={"weight": self.weight},
            validation={"weight": self.weight, f"val_ndcg@{self.k}": float(chosen[self.weight]),
                        f"baseline_val_ndcg@{self.k}": float(chosen.get(0.0, np.nan)),
                        "n_users": int(self.grid["n_users"].iloc[0]),
                        "unproven_weight": self.unproven_weight},
            seed=seed, wall_s=wall_s)
        return RemedyRun(summary=summary, per_user=self.per_user, topk=self.topk)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def content_scores(train: sp.csr_matrix, vectors: np.ndarray, users: np.ndarray) -> np.ndarray:
    """float32 ``(len(users), n_items)``: cosine of each user's profile (mean of the unit
    vectors of their training items) with every item's unit vector."""
    unit = _unit_rows(np.asarray(vectors, dtype=np.float32))
    rows = train[users].copy()
    rows.data[:] = 1.0
    counts = np.maximum(np.asarray(rows.sum(axis=1)).ravel(), 1.0)
    profiles = _unit_rows((rows @ unit) / counts[:, None].astype(np.float32))
    return (profiles @ unit.T).astype(np.float32)


def _standardise(scores: np.ndarray) -> np.ndarray:
    """Each row to zero mean and unit spread over its finite cells (masked cells stay -inf)."""
    finite = np.isfinite(scores)
    n = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    values = np.where(finite, scores, 0.0).astype(np.float64)
    mean = values.sum(axis=1, keepdims=True) / n
    spread = np.sqrt((np.where(finite, values - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / n)
    z = np.divide(values - mean, spread, out=np.zeros_like(values), where=spread > 0)
    return np.where(finite, z, -np.inf)


def _mix(base: np.ndarray, content: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - w) z(b) + w z(c)`` on the cells both rows may return; -inf on the masked ones."""
    finite = np.isfinite(base) & np.isfinite(content)
    mixed = (1.0 - weight) * np.where(finite, base, 0.0) + weight * np.where(finite, content, 0.0)
    return np.where(finite, mixed, -np.inf)


def _rank(blocks, weight: float, k: int) -> np.ndarray:
    """int ``(n_users, k)``: the top k of the blended scores at ``weight``."""
    ranked = [topk_rows(_mix(base, content, weight), k)[0] for base, content in blocks]
    return np.vstack(ranked) if ranked else np.zeros((0, k), np.int64)


def _auc(blocks, weight: float, truth: sp.csr_matrix) -> np.ndarray:
    """float64 ``(n_users,)``: each user's AUC of the blended scores at ``weight`` over the
    items the list may show (:func:`analysis.metrics.auc_from_scores`, the run's ``auc``)."""
    out, start = [], 0
    for base, content in blocks:
        stop = start + len(base)
        out.append(auc_from_scores(_mix(base, content, weight), truth[start:stop]))
        start = stop
    return np.concatenate(out) if out else np.zeros(0)


def _ndcg(blocks, weights, truth: sp.csr_matrix, k: int) -> np.ndarray:
    """``(len(weights), n_users)`` NDCG@k of each weight's blended ranking."""
    return np.vstack([compute_user_metrics(_rank(blocks, w, k), truth, k).values[f"ndcg@{k}"]
                      for w in weights])


def _blocks(run: BaselineRun, users: np.ndarray, vectors: np.ndarray, seen: sp.csr_matrix):
    """Standardised (baseline, content) score rows of ``users``, ``seen`` items masked."""
    size = batch_size_for(run.dataset.n_items)
    for start in range(0, len(users), size):
        batch = users[start:start + size]
        base = np.asarray(run.model.score_users(batch), dtype=np.float64)
        content = content_scores(run.split.train, vectors, batch).astype(np.float64)
        mask_rows(base, seen[batch])
        mask_rows(content, seen[batch])
        yield _standardise(base), _standardise(content)


def blend_content(run: BaselineRun, vectors: np.ndarray, *, target: str = "weak",
                  weights=DEFAULT_WEIGHTS) -> ContentBlend:
    """Choose the blend weight on validation for the target users, then judge it on test.

    Raises:
        AnalysisError: unknown target, vectors not one per item, weights outside [0, 1], or
            no target user with validation items.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != run.dataset.n_items:
        raise AnalysisError(BAD_VECTORS.format(rows=len(vectors), n_items=run.dataset.n_items))
    weights = tuple(float(w) for w in weights)
    if not weights or any(not 0.0 <= w <= 1.0 for w in weights):
        raise AnalysisError(BAD_WEIGHTS.format(weights=weights))
    k, split = run.k, run.split
    users = select_targets(run.per_user, target)
    val_users = users[np.diff(split.validation.indptr)[users] > 0]
    if len(val_users) == 0:
        raise AnalysisError(NO_TARGET_USERS.format(target=target.replace("_", " ")))
    val = _ndcg(list(_blocks(run, val_users, vectors, split.train)), weights,
                split.validation[val_users], k)
    means = val.mean(axis=1)
    best = int(np.flatnonzero(means == means.max())[0])  # ties: the smaller weight
    unproven = None
    if weights[best] != 0.0 and 0.0 in weights:  # keep it only on an established gain
        zero = weights.index(0.0)
        _, low, _ = mean_ci(val[best] - val[zero])
        if not low > 0:
            unproven, best = weights[best], zero
    grid = pd.DataFrame({"weight": weights, f"val_ndcg@{k}": means, "n_users": len(val_users)})

    test_users = users[np.diff(split.test.indptr)[users] > 0]
    seen = (split.train + split.validation_seen).tocsr()
    blocks = list(_blocks(run, test_users, vectors, seen))
    truth = split.test[test_users]
    before = compute_user_metrics(_rank(blocks, 0.0, k), truth, k).values
    topk = _rank(blocks, weights[best], k)
    after = compute_user_metrics(topk, truth, k).values
    per_user = pd.DataFrame({"user_idx": test_users})
    before["auc"] = run.per_user["auc"].to_numpy(np.float64)[test_users]  # the run's own
    after["auc"] = _auc(blocks, weights[best], truth)
    for m in (f"ndcg@{k}", f"recall@{k}", f"hit@{k}", "auc"):
        per_user[f"before_{m}"] = before[m]
        per_user[f"after_{m}"] = after[m]
        per_user[f"gain_{m}"] = after[m] - before[m]
    n_evaluated = int(run.per_user["evaluated"].to_numpy(bool).sum())
    return ContentBlend(target=target, weight=weights[best], grid=grid, per_user=per_user, k=k,
                        n_evaluated=n_evaluated, topk=topk, n_target=len(users),
                        unproven_weight=unproven)
