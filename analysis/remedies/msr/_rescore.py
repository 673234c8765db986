"""The scenario-aware re-scorer as a remedy: fit on the validation period, judge on test.

Why the validation period: the baseline was fitted on the training items, so its scores of
them are inflated and say nothing about where it errs; its validation candidates are ranked
exactly as test candidates are (nothing of that period fitted), so a head fitted to the
validation held-out items learns where the baseline did not see. The epoch kept is chosen on a
seeded fifth of the validation users held aside (never fitted); test is looked at once.

Three heads, the same in all but their conditions (:mod:`models.rescorer.head`):

* ``knowledge``: the frozen encoder's scenario and user vectors (:mod:`._knowledge`);
* ``ids``: learned scenario and user id embeddings, no LLM: the control the knowledge head is
  netted against;
* ``random``: seeded Gaussian vectors of the knowledge's shape: the uninformative check.

Knowledge columns are standardised over their rows (scenarios, users) before the head.

Per-scenario figure (a simple helper until the per-scenario analysis lands): for scenario
``s``, the mean over users with a test item of ``s`` of NDCG@k of their list against their
test items of ``s`` only (the list itself is over the whole catalogue).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analysis.errors import AnalysisError
from analysis.metrics import compute_user_metrics
from analysis.remedies.msr._candidates import Candidates, build_candidates
from analysis.remedies.msr._knowledge import NO_SCENARIOS, Knowledge
from analysis.remedies.targets import select_targets
from analysis.runs.remedy import RemedyRun, RemedySummary
from analysis.scenarios import compute_pair_metrics
from models.rescorer import HeadConfig, fit_head, rerank_order

__all__ = ["HEADS", "MsrHead", "MsrRescore", "rescore_scenarios", "scenario_ndcg"]

HEADS = ("knowledge", "ids", "random")
NO_FIT_USERS = ("No user of the run has a validation item among the baseline's top {c} "
                "candidates: the re-scorer has nothing to learn from.")
BAD_KNOWLEDGE = ("The knowledge vectors have {got} rows for {want} {what}: build them for this "
                 "run's dataset.")


@dataclass(frozen=True)
class MsrHead:
    """One head's result.

    Attributes:
        head: ``knowledge``, ``ids`` or ``random``.
        per_user: one row per user with test items: ``user_idx``, ``before_<m>``,
            ``after_<m>``, ``gain_<m>`` for ``ndcg@k``, ``recall@k``, ``hit@k``.
        topk: int ``(len(per_user), k)`` item_idx after, best first.
        best_epoch: the epoch kept (0: the baseline's order).
        check_ndcg: the kept epoch's mean NDCG@k on the check users (validation).
        unproven_epoch: the epoch with the best check mean when its gain was not established
            and the baseline's order was kept instead (None otherwise).
    """

    head: str
    per_user: pd.DataFrame
    topk: np.ndarray
    best_epoch: int
    check_ndcg: float
    unproven_epoch: int | None = None


@dataclass(frozen=True)
class MsrRescore:
    """The re-scorer's three heads on the same candidates.

    Attributes:
        k, candidates: the list length and C.
        heads: :class:`MsrHead` by name.
        by_scenario: ``scenario``, ``name``, ``n_users``, then ``baseline``, and one column per
            head: the per-scenario NDCG@k (module docstring), every user with test items.
        knowledge: what made the knowledge vectors (vectors dropped).
        check_baseline_ndcg: the baseline's mean NDCG@k on the check users.
        n_fit, n_check: validation users fitted on and held aside.
        n_evaluated: users of the run with test items.
        config: the head's settings.
    """

    k: int
    candidates: int
    heads: dict
    by_scenario: pd.DataFrame
    knowledge: Knowledge
    check_baseline_ndcg: float
    n_fit: int
    n_check: int
    n_evaluated: int
    config: HeadConfig

    def _served(self, per_user: pd.DataFrame, run, target: str) -> tuple[pd.DataFrame, int]:
        users = (run.per_user.index.to_numpy(np.int64) if target == "all"
                 else select_targets(run.per_user, target))
        return per_user[per_user["user_idx"].isin(users)].reset_index(drop=True), len(users)

    def remedy_runs(self, run, target: str = "weak") -> tuple[RemedyRun, RemedyRun]:
        """``(knowledge head, ids head)`` as remedy runs for ``target``'s users (``all``, or
        one of :data:`analysis.remedies.targets.TARGETS`): the knowledge head is netted
        against the ids head (control ``msr_ids``) when its knowledge came from an LLM."""
        kn, ids, rnd = self.heads["knowledge"], self.heads["ids"], self.heads["random"]
        who, nd = target.replace("_", " "), f"ndcg@{self.k}"
        settings = {"candidates": self.candidates, **asdict(self.config)}
        runs = []
        for head, kind in ((kn, "msr_rescorer"), (ids, "msr_ids")):
            per, n_target = self._served(head.per_user, run, target)
            keep = head.per_user["user_idx"].isin(per["user_idx"]).to_numpy()
            llm = kind == "msr_rescorer" and self.knowledge.uses_llm
            extra = {}
            if kind == "msr_rescorer":
                rper, _ = self._served(rnd.per_user, run, target)
                extra = {"random_check_test_gain": float(rper[f"gain_{nd}"].mean()),
                         "random_check_val_ndcg": rnd.check_ndcg}
            label = (f"MSR re-scorer ({self.knowledge.label} knowledge, {who} users)"
                     if kind == "msr_rescorer" else f"MSR re-scorer (id embeddings, {who} users)")
            summary = RemedySummary(
                kind=kind, label=label, uses_llm=llm,
                control="msr_ids" if llm else None, target=target, k=self.k,
                n_target=n_target, n_evaluated=self.n_evaluated,
                one_off_usd=self.knowledge.one_off_usd if kind == "msr_rescorer" else 0.0,
                encoder=self.knowledge.encoder_id if kind == "msr_rescorer" else None,
                settings={**settings, "best_epoch": head.best_epoch, **extra},
                validation={f"check_{nd}": head.check_ndcg,
                            f"baseline_check_{nd}": self.check_baseline_ndcg,
                            "n_fit": self.n_fit, "n_check": self.n_check,
                            "unproven_epoch": head.unproven_epoch},
                seed=self.config.seed)
            runs.append(RemedyRun(summary=summary, per_user=per, topk=head.topk[keep]))
        return runs[0], runs[1]


def scenario_ndcg(topk: np.ndarray, users: np.ndarray, split, k: int) -> pd.DataFrame:
    """Per scenario, the mean NDCG@k of ``users``' lists against their test items of that
    scenario: the catalogue-mode pair metric of :func:`analysis.scenarios.
    compute_pair_metrics` over those users' pairs. Columns ``scenario``, ``name``,
    ``n_users`` (pairs with test items), ``ndcg@k`` (NaN: none)."""
    users = np.asarray(users, np.int64)
    ds = split.dataset
    lists = np.full((ds.n_users, topk.shape[1]), -1, dtype=np.int64)
    lists[users] = topk
    pairs = compute_pair_metrics(split, lists, None, k).table
    pairs = pairs[np.isin(pairs["user_idx"], users) & pairs[f"ndcg@{k}"].notna()]
    by = pairs.groupby("scenario_code")[f"ndcg@{k}"].agg(["size", "mean"])
    by = by.reindex(range(len(ds.scenario_names)))
    return pd.DataFrame({"scenario": np.arange(len(ds.scenario_names)),
                         "name": list(ds.scenario_names),
                         "n_users": by["size"].fillna(0).astype(np.int64).to_numpy(),
                         f"ndcg@{k}": by["mean"].to_numpy(dtype=np.float64)})


def _standardise_columns(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    sd = v.std(axis=0)
    return np.divide(v - v.mean(axis=0), sd, out=np.zeros_like(v), where=sd > 0)


def _sources(head: str, knowledge: Knowledge, n_scen: int, n_users: int, seed: int):
    """The head's scenario and user conditions (row ``n_scen``: no scenario, zeros)."""
    if head == "ids":
        return n_scen + 1, n_users
    if head == "random":
        rng = np.random.default_rng([seed, 14])
        scen = rng.normal(size=knowledge.scenario.shape)
        user = rng.normal(size=knowledge.user.shape)
    else:
        scen, user = knowledge.scenario, knowledge.user
    scen = np.vstack([_standardise_columns(scen), np.zeros((1, scen.shape[1]))])
    return scen.astype(np.float32), _standardise_columns(user).astype(np.float32)


def _metrics(topk: np.ndarray, truth: sp.csr_matrix, k: int) -> pd.DataFrame:
    values = compute_user_metrics(topk, truth, k).values
    return pd.DataFrame({m: values[m] for m in (f"ndcg@{k}", f"recall@{k}", f"hit@{k}")})


def _apply(fit, cand: Candidates, k: int) -> np.ndarray:
    scores = fit.score(cand.x, cand.scen, cand.users)
    order = rerank_order(scores, cand.valid)[:, :k]
    return np.take_along_axis(cand.items, order, axis=1).astype(np.int32)


def rescore_scenarios(run, knowledge: Knowledge, *, config: HeadConfig | None = None,
                      heads=HEADS) -> MsrRescore:
    """Fit each head on the run's validation candidates and judge it on test (module
    docstring), every user with test items rescored.

    Raises:
        AnalysisError: no scenarios, knowledge of the wrong shape, or no validation user to
            fit on.
    """
    config = config or HeadConfig()
    ds, split, k = run.dataset, run.split, run.k
    if ds.scenario is None:
        raise AnalysisError(NO_SCENARIOS.format(name=ds.name))
    n_scen = len(ds.scenario_names)
    for got, want, what in ((len(knowledge.scenario), n_scen, "scenarios"),
                            (len(knowledge.user), ds.n_users, "users")):
        if got != want:
            raise AnalysisError(BAD_KNOWLEDGE.format(got=got, want=want, what=what))
    val_users = np.flatnonzero(np.diff(split.validation.indptr) > 0)
    val = build_candidates(run, val_users, split.train)
    val_labels = val.labels(split.validation)
    usable = np.flatnonzero(val_labels.sum(axis=1) > 0)
    if len(usable) == 0:
        raise AnalysisError(NO_FIT_USERS.format(c=run.n_candidates))
    perm = np.random.default_rng([config.seed, 7]).permutation(usable)
    n_check = max(1, round(0.2 * len(perm))) if len(perm) > 1 else 0
    check, fit_rows = np.sort(perm[:n_check]), np.sort(perm[n_check:])
    if n_check == 0:
        check = fit_rows
    test_users = np.flatnonzero(np.diff(split.test.indptr) > 0)
    test = build_candidates(run, test_users, (split.train + split.validation_seen).tocsr())
    truth = split.test[test_users]
    base_topk = test.items[:, :k]
    before = _metrics(base_topk, truth, k)
    results, by_scen = {}, scenario_ndcg(base_topk, test_users, split, k)
    by_scen = by_scen.rename(columns={f"ndcg@{k}": "baseline"})
    check_base = None
    for head in heads:
        scen_src, user_src = _sources(head, knowledge, n_scen, ds.n_users, config.seed)
        fit = fit_head(val.x, val.scen, val.users, val_labels, val.valid, fit_rows=fit_rows,
                       check_rows=check, scenario_source=scen_src, user_source=user_src, k=k,
                       cfg=config)
        check_base = fit.curve[0][1]
        topk = _apply(fit, test, k)
        after = _metrics(topk, truth, k)
        per = pd.DataFrame({"user_idx": test_users})
        for m in before.columns:
            per[f"before_{m}"] = before[m].to_numpy()
            per[f"after_{m}"] = after[m].to_numpy()
            per[f"gain_{m}"] = after[m].to_numpy() - before[m].to_numpy()
        check_ndcg = dict(fit.curve)[fit.best_epoch]
        unproven = fit.best_mean_epoch if fit.best_mean_epoch != fit.best_epoch else None
        results[head] = MsrHead(head, per, topk, fit.best_epoch, check_ndcg, unproven)
        by_scen[head] = scenario_ndcg(topk, test_users, split, k)[f"ndcg@{k}"].to_numpy()
    n_evaluated = int(run.per_user["evaluated"].to_numpy(bool).sum())
    return MsrRescore(k=k, candidates=run.n_candidates, heads=results, by_scenario=by_scen,
                      knowledge=knowledge, check_baseline_ndcg=float(check_base),
                      n_fit=len(fit_rows), n_check=n_check, n_evaluated=n_evaluated,
                      config=config)
