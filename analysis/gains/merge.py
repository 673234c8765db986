"""Step 8, the merge: weak users whose answer was used take the LLM's order of their
candidates, everyone else keeps the baseline's ranking; the hybrid is measured against the
baseline (:func:`analysis.gains.gain_report.evaluate_gains`) and against the no-LLM controls
on the same candidates (:mod:`analysis.gains.controls`).

Under both protocols every user keeps their real baseline ranking outside the candidates the
LLM reordered, so the "all users" figures are the run's own before the merge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.gains.controls import ControlReport, control_report
from analysis.gains.gain_report import GainReport, evaluate_gains
from analysis.rerank.plan import RerankPlan
from analysis.runs.baseline import BaselineRun
from analysis.runs.files import item_lists

__all__ = ["MergedRerank", "merge_rerank"]

#: subgroup dimensions the gains are broken down by, when the run has them
GAIN_DIMENSIONS = ("activity", "inactive", "mainstream")


@dataclass(frozen=True)
class MergedRerank:
    """The job's per-user table with its gains and controls, and the reports behind them.

    Attributes:
        per_user: the answer table (:func:`analysis.rerank.answers.answer_table`) plus
            ``user_id``, ``before_<m>``/``after_<m>``/``gain_<m>``, each control's
            ``<control>_ndcg@k`` and ``net_gain_ndcg@k`` (after minus the best control).
        gains: before/after over every evaluated user.
        controls: the no-LLM orderings of the same candidates, and the net gain.
    """

    per_user: pd.DataFrame
    gains: GainReport
    controls: ControlReport


def merge_rerank(run: BaselineRun, plan: RerankPlan, answers: pd.DataFrame,
                 reranked_rows: np.ndarray) -> MergedRerank:
    """Merge the used answers into the baseline's rankings and measure the result."""
    cands = plan.candidates
    n_users, k = run.dataset.n_users, run.k
    baseline = run.rankings[:, : cands.n_candidates]
    hybrid = baseline.copy()
    used = answers["reranked"].to_numpy(bool)
    hybrid[cands.user_idx[used]] = reranked_rows[used]
    selected = np.zeros(n_users, dtype=bool)
    selected[cands.user_idx] = True
    reranked = np.zeros(n_users, dtype=bool)
    reranked[cands.user_idx[used]] = True
    cost_user = np.zeros(n_users)
    cost_user[cands.user_idx] = answers["paid_usd"].to_numpy()
    controls = control_report(run, cands, k, llm_rows=reranked_rows)
    auc_after = run.per_user["auc"].to_numpy(float).copy()
    auc_after[cands.user_idx] = controls.per_user["llm_auc"].to_numpy()  # exact, merged
    rule = plan.config.rule
    gains = evaluate_gains(
        run.per_user,
        run.split.test,
        baseline,
        hybrid,
        selected=selected,
        reranked=reranked,
        cost_usd=cost_user,
        k=k,
        auc_after=auc_after,
        rule_metric=rule.metric,
        rule_threshold=plan.weak.threshold_value,
        rule_validation=run.per_user[f"val_{rule.metric}"].to_numpy(float),
        dimensions=[d for d in GAIN_DIMENSIONS if d in run.per_user.columns],
    )
    per = answers.merge(gains.per_user.drop(columns=["selected", "reranked", "cost_usd"]),
                        on="user_idx", how="left")
    control_cols = controls.per_user.drop(columns=[c for c in controls.per_user if "_auc" in c
                                                   or c.startswith("llm_")])
    per = per.merge(control_cols, on="user_idx", how="left")
    nd = f"ndcg@{k}"
    per[f"net_gain_{nd}"] = per[f"after_{nd}"] - per[f"{controls.net.control}_{nd}"]
    per["topk"] = item_lists(hybrid[per["user_idx"].to_numpy(np.int64), :k], run.dataset.item_ids)
    per = per[
        ["user_idx", "user_id", *[c for c in per.columns if c not in ("user_idx", "user_id")]]
    ]
    return MergedRerank(per_user=per, gains=gains, controls=controls)
