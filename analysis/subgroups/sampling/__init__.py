"""A stratified sample of users when even streaming is too slow, with its sampling error stated.

Only users the evaluation would score (the *frame*: a relevant validation or test interaction)
are sampled; the model is still fitted on every user's training data. The frame is split into
strata by the subgroup dimensions the analyst picks (their levels crossed), the sample size is
allocated to strata proportionally with at least ``m`` users each, and each stratum is a seeded
simple random sample without replacement. A sampled user of stratum ``h`` carries the weight
``w_h = N_h / n_h`` (``N_h`` frame users, ``n_h`` sampled).

Estimators (stratified SRSWOR, ``f_h = n_h / N_h``, ``s^2`` with ``ddof = 1``, normal interval
``value +- z_{(1+ci)/2} * se``):

* total of ``y``: ``T = sum_h N_h ybar_h``, ``V(T) = sum_h N_h^2 (1 - f_h) s_h^2(y) / n_h``;
* mean of ``y`` over a domain ``d`` (a subgroup's evaluated users, whose membership is random
  in each stratum): the ratio ``ybar_d = sum_i w_i d_i y_i / N_d`` with ``N_d = sum_i w_i d_i``
  and the linearised variance ``V = sum_h N_h^2 (1 - f_h) s_h^2(z) / n_h`` of
  ``z_i = d_i (y_i - ybar_d) / N_d`` over all sampled users of ``h`` (zero outside ``d``).

A census stratum (``n_h = N_h``) adds no variance (the finite population correction is 0).
"""

from analysis.subgroups.sampling._design import (
    SampleSummary,
    design_report,
    report_of_table,
    sample_of_table,
    summarise_sample,
)
from analysis.subgroups.sampling._draw import (
    DEFAULT_MIN_PER_STRATUM,
    DEFAULT_SAMPLE_BY,
    UNSAMPLED,
    SampleConfig,
    UserSample,
    allocate,
    evaluation_frame,
    sample_users,
    sampled_split,
)
from analysis.subgroups.sampling._estimate import (
    DomainMeans,
    Estimate,
    domain_means,
    estimate_total,
    project_llm_cost,
    project_weak_users,
)

__all__ = [
    "DEFAULT_MIN_PER_STRATUM",
    "DEFAULT_SAMPLE_BY",
    "UNSAMPLED",
    "DomainMeans",
    "Estimate",
    "SampleConfig",
    "SampleSummary",
    "UserSample",
    "allocate",
    "design_report",
    "domain_means",
    "estimate_total",
    "evaluation_frame",
    "project_llm_cost",
    "project_weak_users",
    "report_of_table",
    "sample_of_table",
    "sample_users",
    "sampled_split",
    "summarise_sample",
]
