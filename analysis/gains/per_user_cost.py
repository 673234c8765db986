"""What reranking any subset of users would cost, from one dry run.

A dry run (:func:`~analysis.rerank.plan.plan_rerank`) builds and counts the prompt of every
user it would send. The prompt of a user does not depend on who else is sent, so one plan at
the widest rule (everyone with a validation value) prices every narrower rule: the cost of a
set of users is the sum of their per-user costs. The app's threshold slider relies on this to
show a projected cost on every move without building a single prompt.

Per user ``u`` with ``in_u`` counted input tokens, ``out`` the expected answer length and
``max`` the answer bound of the plan (the same for every call)::

    usd_u       = (in_u * p_in + out * p_out) / 1e6 * (batch_discount if batch else 1)
    upper_usd_u = (in_u * p_in + max * p_out) / 1e6 * (batch_discount if batch else 1)

Users whose answer is already in the workspace's call cache cost 0 (they are never paid for
twice); users outside the plan (no validation value, or no test item) cost 0 and are not
counted as sent. Summed over every uncached planned user, ``usd_u`` equals the plan's
``estimate.expected_usd`` when priced the same way (the estimate is linear in tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.errors import AnalysisError
from analysis.gains.cost import ModelPrice, gpu_cost

__all__ = ["CostProjection", "PerUserCost", "per_user_cost_estimate"]

BAD_MASK = (
    "The selection must be a boolean mask with one entry per user of the run ({n}); got {got}."
)
NEEDS_PRICE = (
    "An API backend needs a model price to project its cost; pick a model from the price table."
)


@dataclass(frozen=True)
class CostProjection:
    """The projected cost of reranking one set of users.

    Attributes:
        n_selected: users in the selection.
        n_sent: of them, users the job would send (planned: weak-eligible with test items).
        n_cached: of those, users whose answer is already cached (free).
        input_tokens: input tokens of the uncached calls.
        output_tokens: expected output tokens of the uncached calls.
        expected_usd: expected dollars (sum of ``usd_u``).
        upper_bound_usd: dollars if every answer ran to ``max_tokens``.
        n_not_planned: selected users the evaluation cannot send (no test item, no
            validation value) but a deployment would.
        deployment_usd: what a deployment would pay for every selected user: the expected
            dollars plus ``n_not_planned`` times the mean expected dollars of the planned,
            uncached users (their prompts could not be built offline).
    """

    n_selected: int
    n_sent: int
    n_cached: int
    input_tokens: int
    output_tokens: int
    expected_usd: float
    upper_bound_usd: float
    n_not_planned: int = 0
    deployment_usd: float = 0.0


@dataclass(frozen=True)
class PerUserCost:
    """Per-user cost of one dry run, as dense arrays indexed by the run's table rows.

    Attributes:
        planned: bool (n_users,), True for users the plan would send.
        cached: bool (n_users,), True for planned users already answered in the cache.
        input_tokens: int64 (n_users,), counted input tokens (0 unless planned and uncached).
        output_tokens: int64 (n_users,), expected output tokens (0 unless planned, uncached).
        usd: float64 (n_users,), expected dollars per user (formula in the module docstring).
        upper_usd: float64 (n_users,), dollars per user at ``max_tokens`` of output.
        model: the priced model.
        batch: batch pricing applied.
    """

    planned: np.ndarray
    cached: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    usd: np.ndarray
    upper_usd: np.ndarray
    model: str
    batch: bool

    @property
    def n_users(self) -> int:
        return len(self.planned)

    def project(self, mask: np.ndarray) -> CostProjection:
        """The cost of reranking the users where ``mask`` is True (e.g. ``WeakUsers.mask``).

        Args:
            mask: bool per table row of the run.

        Returns:
            A :class:`CostProjection` (all zeros for an empty selection).

        Raises:
            AnalysisError: ``mask`` is not a bool array of length ``n_users``.
        """
        m = np.asarray(mask)
        if m.dtype != bool or m.shape != (self.n_users,):
            raise AnalysisError(
                BAD_MASK.format(n=self.n_users, got=f"dtype {m.dtype}, shape {m.shape}")
            )
        sent = m & self.planned
        paid = self.planned & ~self.cached
        mean_usd = float(self.usd[paid].mean()) if paid.any() else 0.0
        not_planned = int((m & ~self.planned).sum())
        return CostProjection(
            n_selected=int(m.sum()),
            n_sent=int(sent.sum()),
            n_cached=int((sent & self.cached).sum()),
            input_tokens=int(self.input_tokens[m].sum()),
            output_tokens=int(self.output_tokens[m].sum()),
            expected_usd=float(self.usd[m].sum()),
            upper_bound_usd=float(self.upper_usd[m].sum()),
            n_not_planned=not_planned,
            deployment_usd=float(self.usd[m].sum()) + not_planned * mean_usd,
        )


def per_user_cost_estimate(plan, price: ModelPrice | None, *, batch: bool = False) -> PerUserCost:
    """Per-user expected and worst-case cost of a dry run's prompts.

    The expected answer length and the bound are the plan's own (``estimate``'s expected
    output per call and the config's ``max_tokens``). A local backend (``config.local``) is
    priced by GPU time instead: ``gpu_usd_per_hour * (in_u + out) / tokens_per_s / 3600``.

    Args:
        plan: a :class:`~analysis.rerank.plan.RerankPlan` (typically at the widest rule).
        price: the model's prices (None only for a local backend).
        batch: price through the batch API (``price.batch_discount`` on every call).

    Returns:
        A :class:`PerUserCost` over the run's table rows.

    Raises:
        AnalysisError: no price for an API backend.
    """
    config = plan.config
    if price is None and not config.local:
        raise AnalysisError(NEEDS_PRICE)
    n_users = len(plan.weak.mask)
    users = np.asarray(plan.users, dtype=np.int64)
    cached_req = np.asarray(plan.cached_rows, dtype=bool)  # one per request
    est = plan.estimate
    if est.n_calls:
        out_per_call = est.expected_output_tokens // est.n_calls
    else:
        out_per_call = min(5 * config.n_candidates + 10, config.resolved_max_tokens)
    if config.mode != "generate":
        out_per_call = 0
    max_per_call = config.resolved_max_tokens if config.mode == "generate" else 0

    planned = np.zeros(n_users, dtype=bool)
    planned[users] = True
    cached = np.zeros(n_users, dtype=bool)
    cached[users[cached_req]] = True
    tin = np.zeros(n_users, dtype=np.int64)
    tin[users] = np.where(cached_req, 0, np.asarray(plan.input_tokens, dtype=np.int64))
    tout = np.where(planned & ~cached, out_per_call, 0).astype(np.int64)
    tmax = np.where(planned & ~cached, max_per_call, 0).astype(np.int64)

    if config.local:
        tps = float(config.expected_tokens_per_s)
        usd = gpu_cost((tin + tout) / tps, config.gpu_usd_per_hour)
        upper = gpu_cost((tin + tmax) / tps, config.gpu_usd_per_hour)
    else:  # call_cost's formula, over the per-user token arrays at once
        factor = (price.batch_discount if batch else 1.0) / 1e6
        usd = (tin * price.input + tout * price.output) * factor
        upper = (tin * price.input + tmax * price.output) * factor
    return PerUserCost(
        planned=planned,
        cached=cached,
        input_tokens=tin,
        output_tokens=tout,
        usd=np.asarray(usd, dtype=np.float64),
        upper_usd=np.asarray(upper, dtype=np.float64),
        model=config.model,
        batch=bool(batch),
    )
