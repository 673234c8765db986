"""A rerank's bill for a run over a stratified sample of users, projected to every user.

A sampled run (:mod:`analysis.subgroups.sampling`) selects weak users among its sampled users
only; a deployment pays for every weak user of the population. With ``c`` the plan's mean
expected dollars per prompt (its uncached prompts' mean, as :attr:`analysis.rerank.plan.
RerankPlan.deployment_usd` takes it) and ``se`` that mean's standard error over the planned
prompts, the projection is ``c * W`` for the projected weak users ``W`` (the stratified total
of the weak flags), with the variance of a product of independent estimates
(:func:`analysis.subgroups.sampling.project_llm_cost`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.gains.cost import ModelPrice
from analysis.gains.per_user_cost import per_user_cost_estimate
from analysis.runs.baseline import BaselineRun
from analysis.subgroups.sampling import (
    Estimate,
    SampleConfig,
    UserSample,
    project_llm_cost,
    project_weak_users,
)

__all__ = ["PopulationBill", "population_bill"]


@dataclass(frozen=True)
class PopulationBill:
    """The weak users of the whole population and what reranking them would cost.

    Attributes:
        n_sampled: users in the sample.
        n_frame: users the sample stands for.
        weak: projected weak users, with the interval.
        usd: projected expected dollars, with the interval.
    """

    n_sampled: int
    n_frame: int
    weak: Estimate
    usd: Estimate


def population_bill(run: BaselineRun, plan, price: ModelPrice | None, *,
                    batch: bool = False) -> PopulationBill | None:
    """The rerank's bill projected to every user of a sampled run (None: not sampled)."""
    per = run.per_user
    if run.summary.sample is None or "sample_stratum" not in per:
        return None
    sample = UserSample.from_columns(per["sample_stratum"], per["sampled"].to_numpy(bool),
                                     SampleConfig())
    weak = per["weak"].to_numpy(bool)
    cost = per_user_cost_estimate(plan, price, batch=batch)
    paid = cost.usd[cost.planned & ~cost.cached]
    mean = float(paid.mean()) if len(paid) else 0.0
    se = float(paid.std(ddof=1) / np.sqrt(len(paid))) if len(paid) > 1 else 0.0
    return PopulationBill(n_sampled=int(sample.n_sampled), n_frame=int(sample.n_frame),
                          weak=project_weak_users(sample, weak),
                          usd=project_llm_cost(sample, weak, mean, usd_se=se))
